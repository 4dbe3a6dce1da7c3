"""``initial_conditions.json`` and the ``scenarios/`` files: the stochastic data.

Seasonal statistics (inflow in m3/s, load in MW) and AR coefficients are kept
keyed by the ids in the files; which stage needs which row, and whether rows
are missing, is decided by :mod:`caudal.hydro.cobre.inflows` and
:mod:`caudal.hydro.cobre.validation`, which know the stages and entities.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from caudal.hydro.cobre.case import ArModel, SeriesStats
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.fields import MAX_MAGNITUDE, Record
from caudal.hydro.cobre.files import FLOAT, INT, CaseFiles

INITIAL = "initial_conditions.json"
INFLOW_STATS = "scenarios/inflow_seasonal_stats.parquet"
AR_COEFFICIENTS = "scenarios/inflow_ar_coefficients.parquet"
LOAD_STATS = "scenarios/load_seasonal_stats.parquet"
LOAD_FACTORS = "scenarios/load_factors.json"
NOISE_OPENINGS = "scenarios/noise_openings.parquet"


@dataclass(frozen=True)
class InitialConditions:
    storage: dict[int, float]
    past_inflows: dict[int, tuple[float, ...]]
    # hydro id -> (sum of inflow x days, days) over the month's days, of the study month before its start (0.18)
    month_so_far: dict[int, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class NoiseTable:
    """The rows of ``noise_openings.parquet`` as read, before they are checked against the case."""

    stage: np.ndarray
    opening: np.ndarray
    entity: np.ndarray
    value: np.ndarray


LAG_HISTORY = "scenarios/inflow_history.parquet"


def read_initial_conditions(files: CaseFiles) -> InitialConditions:
    doc = files.json(INITIAL)
    storage = initial_storage(doc)
    if doc.array("filling_storage"):
        raise doc.refuse("filling_storage", "reservoir filling")
    past: dict[int, tuple[float, ...]] = {}
    for record in doc.records("past_inflows", lambda i, item: hydro_entity_name(i, item), []):
        hydro_id = record.integer("hydro_id")
        if hydro_id in past:
            raise record.error("hydro_id", "appears twice in 'past_inflows'")
        values = record.array("values_m3s")
        if not all(_plain_number(v) for v in values):
            raise record.error("values_m3s", f"must be an array of finite numbers, none beyond {MAX_MAGNITUDE:g}")
        seasons = record.array("season_ids", None)
        if seasons is not None and len(seasons) != len(values):
            raise record.error("season_ids", f"has {len(seasons)} entries but values_m3s has {len(values)}")
        past[hydro_id] = tuple(float(v) for v in values)
        record.finish()
    # Observations only seed inflow lags: without an AR model (coefficients or history) there are none.
    if doc.array("recent_observations", []) and any(files.exists(f) for f in (AR_COEFFICIENTS, LAG_HISTORY)):
        raise doc.refuse("recent_observations", "recent inflow observations (mid-season starts)")
    doc.finish()
    return InitialConditions(storage, past)


def initial_storage(doc: Record) -> dict[int, float]:
    """The ``storage`` list of initial_conditions.json (same in every format version), by hydro id."""
    storage: dict[int, float] = {}
    for record in doc.records("storage", lambda i, item: hydro_entity_name(i, item)):
        hydro_id = record.integer("hydro_id")
        if hydro_id in storage:
            raise record.error("hydro_id", "appears twice in 'storage'")
        storage[hydro_id] = record.number("value_hm3", minimum=0.0)
        record.finish()
    return storage


def _plain_number(value: object) -> bool:
    """A JSON number that is finite and of a magnitude a case can hold (see ``MAX_MAGNITUDE``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return abs(float(value)) <= MAX_MAGNITUDE
    except OverflowError:
        return False


def hydro_entity_name(index: int, item: object) -> str:
    if isinstance(item, dict) and isinstance(item.get("hydro_id"), int):
        return f"hydro {item['hydro_id']}"
    return f"entry #{index}"


def read_series_stats(files: CaseFiles, name: str, entity: str, mean: str, std: str) -> SeriesStats | None:
    """Seasonal statistics keyed by (entity id, stage id); ``None`` if the file is absent."""
    if not files.exists(name):
        return None
    table = files.table(name, {entity: INT, "stage_id": INT, mean: FLOAT, std: FLOAT})
    means: dict[tuple[int, int], float] = {}
    stds: dict[tuple[int, int], float] = {}
    kind = entity.removesuffix("_id")
    for e, s, m, d in zip(table[entity], table["stage_id"], table[mean], table[std], strict=True):
        key = (int(e), int(s))
        if key in means:
            raise CaseError(name, f"{kind} {key[0]}", "stage_id", f"stage {key[1]} appears twice")
        if d < 0:
            raise CaseError(name, f"{kind} {key[0]}, stage {key[1]}", std, f"must be non-negative, got {d:g}")
        means[key], stds[key] = float(m), float(d)
    return SeriesStats(means, stds)


def read_ar_models(files: CaseFiles) -> dict[tuple[int, int], ArModel]:
    """Standardised AR coefficients per (hydro, stage); empty when the file is absent (white noise)."""
    if not files.exists(AR_COEFFICIENTS):
        return {}
    table = files.table(
        AR_COEFFICIENTS,
        {"hydro_id": INT, "stage_id": INT, "lag": INT, "coefficient": FLOAT, "residual_std_ratio": FLOAT},
        optional=("residual_std_ratio",),
    )
    ratios = table.get("residual_std_ratio", np.ones(table["lag"].shape))
    groups: dict[tuple[int, int], dict[int, tuple[float, float]]] = {}
    for h, s, lag, coef, ratio in zip(
        table["hydro_id"], table["stage_id"], table["lag"], table["coefficient"], ratios, strict=True
    ):
        key = (int(h), int(s))
        where = f"hydro {key[0]}, stage {key[1]}"
        lags = groups.setdefault(key, {})
        if lag < 1 or int(lag) in lags:
            raise CaseError(AR_COEFFICIENTS, where, "lag", f"lag {int(lag)} is not a new lag index (1-based)")
        if not 0 < ratio <= 1:
            raise CaseError(AR_COEFFICIENTS, where, "residual_std_ratio", f"must be in (0, 1], got {ratio:g}")
        lags[int(lag)] = (float(coef), float(ratio))
    models = {}
    for key, lags in groups.items():
        where = f"hydro {key[0]}, stage {key[1]}"
        order = max(lags)
        # distinct lags >= 1 whose largest is ``order`` leave no gap exactly when there are ``order`` of them;
        # counting, not listing 1..order, keeps an absurd lag (2**31 - 1) from allocating gigabytes
        if len(lags) != order:
            raise CaseError(AR_COEFFICIENTS, where, "lag", f"lags must be 1..{order} without gaps, got {sorted(lags)}")
        stage_ratios = {ratio for _, ratio in lags.values()}
        if len(stage_ratios) != 1:
            raise CaseError(AR_COEFFICIENTS, where, "residual_std_ratio", "differs between lags of one stage")
        models[key] = ArModel(tuple(lags[lag][0] for lag in range(1, order + 1)), stage_ratios.pop())
    return models


def read_load_factors(files: CaseFiles) -> dict[tuple[int, int], dict[int, float]]:
    """Block factors per (bus, stage), as {block id: factor}; empty when the file is absent."""
    if not files.exists(LOAD_FACTORS):
        return {}
    doc = files.json(LOAD_FACTORS)
    factors: dict[tuple[int, int], dict[int, float]] = {}
    for record in doc.records("load_factors", lambda i, _: f"entry #{i}"):
        key = (record.integer("bus_id"), record.integer("stage_id"))
        record.entity = f"bus {key[0]}, stage {key[1]}"
        if key in factors:
            raise record.error(None, "appears twice")
        blocks: dict[int, float] = {}
        for item in record.array("block_factors"):
            block = Record(record.file, record.entity, item, "block_factors[].")
            block_id = block.integer("block_id", minimum=0)
            if block_id in blocks:
                raise block.error("block_id", f"block {block_id} appears twice")
            blocks[block_id] = block.number("factor", positive=True)
            block.finish()
        factors[key] = blocks
        record.finish()
    doc.finish()
    return factors


def read_noise_table(files: CaseFiles) -> NoiseTable | None:
    if not files.exists(NOISE_OPENINGS):
        return None
    table = files.table(
        NOISE_OPENINGS, {"stage_id": INT, "opening_index": INT, "entity_index": INT, "value": FLOAT}
    )
    return NoiseTable(table["stage_id"], table["opening_index"], table["entity_index"], table["value"])
