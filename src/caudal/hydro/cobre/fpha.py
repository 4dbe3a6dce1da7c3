"""FPHA production functions: a plant's generation bounded by hyperplanes, stage by stage.

Where ``system/hydro_production_models.json`` gives a plant the ``fpha`` model
for a stage, its generation is no longer ``productivity * q`` but a variable
``g`` (MW, within ``[0, max_generation_mw]``) bounded in each block by every
plane of the stage:

    g <= gamma_0 * kappa + gamma_v * (v_in + v_out) / 2 + gamma_q * q + gamma_s * s

with the storage averaged over the stage (hm3), turbined flow ``q`` and
spillage ``s`` (m3/s). Turbining on such a stage costs ``fpha_turbined_cost``
per m3/s and hour (``penalties.json``'s ``hydro`` section, overridden by the
plant's ``penalties``), which keeps the LP from turbining water the planes do
not turn into power. This is how Cobre 0.5.1 builds its stage LP (its
``lp_builder``), and d05 reproduces Cobre's cost with it.

Computed planes are fitted from the plant's geometry (fpha_fitting.py).
Precomputed planes come from ``system/fpha_hyperplanes.parquet``: rows whose
``stage_id`` names the stage replace, for that stage, the plant's rows with a
null ``stage_id`` (valid for every stage). The ``valid_*`` columns describe
where a plane was fitted and do not enter the LP.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from caudal.hydro.cobre.case import FphaPlanes, Hydro, StageSpec
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.files import FLOAT, INT, CaseFiles, nullable_numbers
from caudal.hydro.cobre.fpha_fitting import FittingOptions, PlantHead, fit_planes, read_plant_head
from caudal.hydro.cobre.geometry import Curve
from caudal.hydro.cobre.production import FILE as MODELS_FILE
from caudal.hydro.cobre.production import ProductionModel
from caudal.hydro.cobre.system import HYDROS, PENALTIES
from caudal.model.problem import Stage, Variable

PLANES_FILE = "system/fpha_hyperplanes.parquet"
PlaneFitter = Callable[[Hydro, "PlantHead | None", "Curve | None", FittingOptions, Record], FphaPlanes]
"""fit_planes's signature: a plant's planes from its head, its curve and its range's options."""
TURBINED_COST = "fpha_turbined_cost"
_COEFFICIENTS = ("gamma_0", "gamma_v", "gamma_q", "gamma_s")
_NULLABLE = ("stage_id", "kappa", "valid_v_min_hm3", "valid_v_max_hm3", "valid_q_max_m3s")


def read_fpha(
    files: CaseFiles, models: dict[int, ProductionModel], stages: tuple[StageSpec, ...], hydros: tuple[Hydro, ...],
    curves: dict[int, Curve], fit_planes: PlaneFitter = fit_planes,
) -> tuple[dict[tuple[int, int], FphaPlanes], dict[int, float]]:
    """The planes of every (hydro id, stage id) on the ``fpha`` model, and those plants' turbined cost.

    ``fit_planes`` computes a plant's planes from its geometry (its format's rule: fpha_fitting.py for 0.5.x,
    fpha_fitting_018.py for 0.18).
    """
    heads = _plant_heads(files)
    planes: dict[tuple[int, int], FphaPlanes] = {}
    for hydro in hydros:
        model = models.get(hydro.id)
        if model is None or model.fitting is None:
            continue
        fitted = fit_planes(hydro, heads.get(hydro.id), curves.get(hydro.id), model.fitting, model.record)
        for t, spec in enumerate(stages):
            if model.fpha_source(t) == "computed":
                planes[(hydro.id, spec.id)] = fitted
    wanted = {
        (hydro_id, spec.id): hydro_id
        for hydro_id, model in models.items()
        for t, spec in enumerate(stages)
        if model.fpha_source(t) == "precomputed"
    }
    costs = _turbined_costs(files, {hydro for hydro, _ in [*wanted, *planes]})
    if not wanted:
        return planes, costs
    if not files.exists(PLANES_FILE):
        hydro_id = min(h for h, _ in wanted)
        raise CaseError(MODELS_FILE, f"hydro {hydro_id}", "fpha_config.source",
                        f"is 'precomputed' but {PLANES_FILE} is missing")
    rows = _read_planes(files)
    for hydro_id, stage_id in wanted:
        group = rows.get((hydro_id, stage_id)) or rows.get((hydro_id, None))
        if not group:
            raise CaseError(PLANES_FILE, f"hydro {hydro_id}", "stage_id",
                            f"has no plane for stage {stage_id} (nor any valid for all stages), "
                            f"but {MODELS_FILE} gives the plant the fpha model there")
        planes[(hydro_id, stage_id)] = FphaPlanes(
            intercept=tuple(row[0] * row[4] for row in group),
            gamma_v=tuple(row[1] for row in group),
            gamma_q=tuple(row[2] for row in group),
            gamma_s=tuple(row[3] for row in group),
        )
    return planes, costs


def _plant_heads(files: CaseFiles) -> dict[int, PlantHead]:
    """Each plant's tailrace, losses and efficiency, checked on every plant that gives them."""
    heads: dict[int, PlantHead] = {}
    items = files.json(HYDROS).data.get("hydros")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("id"), int):
            head = read_plant_head(Record(HYDROS, f"hydro {item['id']}", item))
            if head is not None:
                heads[item["id"]] = head
    return heads


def _read_planes(files: CaseFiles) -> dict[tuple[int, int | None], list[tuple[float, ...]]]:
    """The file's planes grouped by (hydro id, stage id or None), each (gamma_0, _v, _q, _s, kappa), by plane_id."""
    columns = files.table(PLANES_FILE, {"hydro_id": INT, "plane_id": INT, **dict.fromkeys(_COEFFICIENTS, FLOAT)},
                          read_apart=_NULLABLE)
    stage_ids, kappas = _nullable(files, "stage_id", INT), _nullable(files, "kappa", FLOAT)
    grouped: dict[tuple[int, int | None], list[tuple[int, tuple[float, ...]]]] = defaultdict(list)
    for i, hydro_id in enumerate(columns["hydro_id"]):
        stage = None if stage_ids is None or stage_ids[i] is None else int(stage_ids[i])
        kappa = 1.0 if kappas is None or kappas[i] is None else float(kappas[i])
        where = f"hydro {int(hydro_id)}, plane {int(columns['plane_id'][i])}"
        gamma_0, gamma_v, gamma_q, gamma_s = (float(columns[name][i]) for name in _COEFFICIENTS)
        if gamma_v < 0:
            raise CaseError(PLANES_FILE, where, "gamma_v", f"must be >= 0 (more storage never lowers generation), "
                            f"got {gamma_v:g}")
        if not gamma_q > 0:
            raise CaseError(PLANES_FILE, where, "gamma_q", f"must be positive, got {gamma_q:g}")
        if gamma_s > 0:
            raise CaseError(PLANES_FILE, where, "gamma_s", f"must be <= 0 (spilling never raises generation), "
                            f"got {gamma_s:g}")
        if not (math.isfinite(kappa) and 0 < kappa <= 1):
            raise CaseError(PLANES_FILE, where, "kappa", f"must be in (0, 1], got {kappa:g}")
        key = (int(hydro_id), stage)
        plane_id = int(columns["plane_id"][i])
        if any(existing == plane_id for existing, _ in grouped[key]):
            raise CaseError(PLANES_FILE, where, "plane_id", f"appears twice for stage {stage}")
        grouped[key].append((plane_id, (gamma_0, gamma_v, gamma_q, gamma_s, kappa)))
    return {key: [row for _, row in sorted(group)] for key, group in grouped.items()}


def _nullable(files: CaseFiles, column: str, kind: str) -> list[float | int | None] | None:
    """A column that may hold nulls (or be absent: ``None``), as a Python list."""
    table = files.parquet(PLANES_FILE)
    if column not in table.column_names:
        return None
    values = [None if v is None else int(v) if kind == INT else v
              for v in nullable_numbers(PLANES_FILE, table, column, integer=kind == INT)]
    if kind == FLOAT and any(v is not None and not np.isfinite(v) for v in values):
        raise CaseError(PLANES_FILE, None, column, "has non-finite values")
    return values


def _turbined_costs(files: CaseFiles, hydro_ids: set[int]) -> dict[int, float]:
    """Each FPHA plant's ``fpha_turbined_cost``: its own penalties' value, else penalties.json's (else 0).

    0.18 has no such cost (its ``turbined_cost``, refused unless 0, is another one): its FPHA plants get 0.
    """
    penalties = files.json(PENALTIES).data
    section = penalties.get("hydro", {}) if isinstance(penalties, dict) else {}
    default = Record(PENALTIES, None, section if isinstance(section, dict) else {}, "hydro.").number(
        TURBINED_COST, 0.0, minimum=0.0)
    costs = dict.fromkeys(hydro_ids, default)
    hydros = files.json(HYDROS).data.get("hydros")
    for item in hydros if isinstance(hydros, list) else []:
        if isinstance(item, dict) and item.get("id") in hydro_ids and isinstance(item.get("penalties"), dict):
            plant = Record(HYDROS, f"hydro {item['id']}", item["penalties"], "penalties.")
            costs[item["id"]] = plant.number(TURBINED_COST, default, minimum=0.0)
    return costs


def check_fpha_plants(models: dict[int, ProductionModel], hydros: tuple[Hydro, ...], n_stages: int) -> None:
    """A plant whose hydros.json model is ``fpha`` needs its planes: an fpha range in every stage."""
    for hydro in hydros:
        if not math.isnan(hydro.productivity):
            continue
        model = models.get(hydro.id)
        uncovered = [
            t for t in range(n_stages)
            if model is None or (model.fpha_source(t) is None and math.isnan(model.productivity[t]))
        ]
        if uncovered:
            raise CaseError(MODELS_FILE, f"hydro {hydro.id}", "production_models",
                            f"must give the fpha plant (generation.model 'fpha' in {HYDROS}) an fpha range, or a "
                            f"productivity_override, for stage {uncovered[0]}: it has no productivity of its own")


def add_fpha_generation(
    stage: Stage, hydro: Hydro, k: int, planes: FphaPlanes, release: tuple[Variable, Variable],
    storage: tuple[Variable, Variable],
) -> Variable:
    """The plant's generation variable of block ``k``, bounded by each plane; ``storage`` is (v_in, v_out)."""
    turbined, spilled = release
    generation = stage.add_variable(f"generation[{hydro.id},{k}]", lower=0.0, upper=hydro.max_generation)
    for i, intercept in enumerate(planes.intercept):
        half = 0.5 * planes.gamma_v[i]
        terms: dict[Variable, float] = {generation: 1.0, turbined: -planes.gamma_q[i]}
        if planes.gamma_s[i] != 0.0:
            terms[spilled] = -planes.gamma_s[i]
        if half != 0.0:
            terms[storage[0]] = -half
            terms[storage[1]] = terms.get(storage[1], 0.0) - half
        stage.add_constraint(terms, "<=", intercept, name=f"fpha[{hydro.id},{k},{i}]")
    return generation

