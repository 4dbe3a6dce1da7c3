"""``system/hydro_energy_productivity.parquet`` (0.18): a plant's productivity, stage by stage.

The first level of 0.18's productivity cascade: a constant-productivity (or
linearized-head) range or season of ``system/hydro_production_models.json``
that leaves out ``productivity_mw_per_m3s`` takes each stage's value from
this file, the row naming the stage first, else the plant's row with a null
``stage_id`` (all stages). Giving a stage's productivity in both files is an
error, and so is giving it in neither (production.py), as in Cobre 0.18.0.

The columns are the ones Cobre 0.18.0 requires, all five of them (it refuses a
file without ``reference_outflow_m3s``): ``hydro_id``, ``stage_id`` (null: all
stages), ``equivalent_productivity_mw_per_m3s`` (MW per m3/s: the value
read), ``reference_outflow_m3s`` and ``specific_productivity_mw_per_m3s_per_m``.
The last two feed Cobre's energy conversion (stored and inflow energy in its
reports), not the LP: d02 with both set costs what it costs without them in
Cobre 0.18.0, so they are checked (finite, >= 0) and set aside. On an FPHA
stage the planes bound the generation and the row changes nothing (d07 with
1.0, 2.5 or only a specific productivity: the same Cobre 0.18.0 cost); it is
checked and set aside too.

Stricter than Cobre 0.18.0, which skips them silently: a row for a plant or a
stage the case does not define is an error (a typo would otherwise leave the
intended stage on the other file's value, or on none), and so is a column it
does not know.

A productivity of 0 (here or in the JSON) is Cobre's mark of a plant out of
service for the stage. Measured with Cobre 0.18.0
(``tests/test_cobre_018_productivity_cascade.py``): the plant generates
nothing, but its turbines still pass water (up to their limit, without the
spillage penalty), its minimum turbined flow and generation still bind (their
violations are paid), and so does its outflow range. That is caudal's LP
with a productivity of 0: only the turbined-flow limit from the power limit
(``max_generation / productivity``) is left out.

The plant's own ``specific_productivity_mw_per_m3s_per_m`` (``hydros.json``,
the cascade's second level after this file's column) is likewise checked and
set aside: Cobre 0.18.0 multiplies it by the head from the plant's geometry
only to give an FPHA plant without a row here the equivalent productivity of
its energy reports; it never supplies a constant-productivity stage (Cobre
0.18.0 refuses such a stage without a productivity) and never moves the cost
(measured on d02 and d07 with and without it, same test file).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.files import INT, CaseFiles, nullable_numbers
from caudal.hydro.cobre.production import ENERGY_PRODUCTIVITY_FILE as FILE
from caudal.hydro.cobre.system import HYDROS

EQUIVALENT = "equivalent_productivity_mw_per_m3s"
SET_ASIDE = ("reference_outflow_m3s", "specific_productivity_mw_per_m3s_per_m")
_NULLABLE = ("stage_id", EQUIVALENT, *SET_ASIDE)


@dataclass(frozen=True)
class EnergyProductivity:
    """The file's productivity by (hydro id, stage index), and by plant for its rows valid in every stage."""

    by_stage: dict[tuple[int, int], float]
    by_plant: dict[int, float]

    def productivity(self, hydro_id: int, stage: int) -> float | None:
        value = self.by_stage.get((hydro_id, stage))
        return value if value is not None else self.by_plant.get(hydro_id)


NONE = EnergyProductivity({}, {})


def read_energy_productivity(files: CaseFiles, hydro_ids: set[int], n_stages: int) -> EnergyProductivity:
    """The file's productivity values (none when the file is absent); one-line errors name the row's plant and stage."""
    if not files.exists(FILE):
        return NONE
    keys = files.table(FILE, {"hydro_id": INT}, read_apart=_NULLABLE)
    columns = {name: _nullable(files, name) for name in _NULLABLE}
    by_stage: dict[tuple[int, int], float] = {}
    by_plant: dict[int, float] = {}
    seen: set[tuple[int, int | None]] = set()
    for row, hydro in enumerate(int(h) for h in keys["hydro_id"]):
        stage = columns["stage_id"][row]
        where = f"hydro {hydro}, " + ("all stages" if stage is None else f"stage {stage}")
        if hydro not in hydro_ids:
            raise CaseError(FILE, where, "hydro_id", f"refers to hydro {hydro}, which is not defined in {HYDROS}")
        if stage is not None and not 0 <= stage < n_stages:
            raise CaseError(FILE, where, "stage_id", f"refers to stage {stage}, not a stage of stages.json "
                            f"(0..{n_stages - 1})")
        if (hydro, stage) in seen:
            raise CaseError(FILE, where, "stage_id", "has two rows for this plant and stage")
        seen.add((hydro, stage))
        for name in SET_ASIDE:
            value = columns[name][row]
            if value is not None and not (math.isfinite(value) and value >= 0.0):
                raise CaseError(FILE, where, name, f"must be finite and >= 0, got {value:g}")
        value = columns[EQUIVALENT][row]
        if value is None:
            continue
        if not (math.isfinite(value) and value >= 0.0):
            raise CaseError(FILE, where, EQUIVALENT, f"must be finite and >= 0, got {value:g}")
        if stage is None:
            by_plant[hydro] = value
        else:
            by_stage[(hydro, stage)] = value
    return EnergyProductivity(by_stage, by_plant)


def _nullable(files: CaseFiles, column: str) -> list[Any]:
    """A nullable numeric column as a list (None for null); a missing column is an error naming it."""
    table = files.parquet(FILE)
    if column not in table.column_names:
        raise CaseError(FILE, None, column, f"column is missing (Cobre 0.18 requires it; columns: "
                        f"{', '.join(table.column_names)})")
    kind = int if column == "stage_id" else float
    return [None if value is None else kind(value)
            for value in nullable_numbers(FILE, table, column, integer=kind is int)]
