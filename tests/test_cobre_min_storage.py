"""A plant's own minimum storage, in both formats: a hard bound on the end-of-stage storage.

Cobre prices no shortfall under ``reservoir.min_storage_hm3`` (its
``storage_violation_below_cost``, global or the plant's, changes nothing):
0.5.1 keeps every end-of-stage storage at or above the minimum, so a plant
starting below it must fill up; 0.18.0 does the same but starts such a plant at
its minimum. The costs are Cobre's lower bounds on the very folders these
functions write, measured by running cobre-python 0.5.1 (0.5.x cases) and
0.18.0 (0.18 cases) with ``cobre.run.run`` on one thread; each test also checks
that caudal's trained bound equals its deterministic equivalent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, assert_fails_naming, assert_reaches, edit
from test_cobre_bounds import d04_variant

from caudal.cli import main
from caudal.hydro import cobre

FORMATS = {"0.5": DATA / "deterministic", "0.18": DATA / "cases-0.18" / "deterministic"}
INFLOWS = "scenarios/inflow_seasonal_stats.parquet"


def variant(root: Path, fmt: str, base: str, hydro: int, minimum: float, initial: float | None = None,
            penalty: float | None = None, inflows: list[float] | None = None) -> Path:
    """A copy of ``base`` whose plant ``hydro`` has ``minimum`` (and optionally a new initial storage,
    a storage_violation_below_cost for every plant and its own, new mean inflows per stage)."""
    case = root / f"{base}-min-storage"
    shutil.copytree(FORMATS[fmt] / base, case)
    return with_minimum(case, hydro, minimum, initial, penalty, inflows)


def with_minimum(case: Path, hydro: int, minimum: float, initial: float | None = None,
                 penalty: float | None = None, inflows: list[float] | None = None) -> Path:
    def plant(d: dict) -> None:
        d["hydros"][hydro]["reservoir"]["min_storage_hm3"] = minimum
        if penalty is not None:
            d["hydros"][hydro]["penalties"] = {"storage_violation_below_cost": penalty}

    edit(case, "system/hydros.json", plant)
    if initial is not None:
        edit(case, "initial_conditions.json", lambda d: d["storage"][hydro].update(value_hm3=initial))
    if penalty is not None:
        edit(case, "penalties.json", lambda d: d["hydro"].update(storage_violation_below_cost=penalty))
    if inflows is not None:
        path = case / INFLOWS
        rows = pq.read_table(path).to_pylist()
        for row in rows:
            row["mean_m3s"] = inflows[row["stage_id"]]
        pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(path)), path, compression="zstd")
    return case


D02 = "d02-single-hydro"
D04 = "d04-transmission"
# (format, base, hydro, minimum, initial, penalty, inflows): Cobre's cost (0.5 cases: 0.5.1; 0.18 cases: 0.18.0).
# d02 starts at 100 hm3 with 40 then 10 m3/s; d04's hydro 1 starts at 50 hm3.
CASES = {
    "05_below_initial": (("0.5", D02, 0, 60.0), 3_459_444.4444444454),
    "05_above_initial_fills_up": (("0.5", D02, 0, 150.0), 4_709_444.444444444),
    "05_starts_below_and_fills_up": (("0.5", D02, 0, 30.0, 0.0, None, [80.0, 10.0]), 2_971_666.666666668),
    "05_penalty_changes_nothing": (("0.5", D02, 0, 60.0, None, 1.0), 3_459_444.4444444454),
    "05_d04": (("0.5", D04, 1, 60.0), 24_677_996.777777787),
    "05_d04_above_initial": (("0.5", D04, 1, 60.0, 80.0), 16_344_663.444444453),
    "018_below_initial": (("0.18", D02, 0, 60.0), 3_459_444.444444445),
    "018_above_initial_starts_at_minimum": (("0.18", D02, 0, 150.0), 4_014_999.9999999986),
    "018_starts_at_minimum": (("0.18", D02, 0, 30.0, 0.0, None, [80.0, 10.0]), 2_555_000.0),
    "018_penalty_changes_nothing": (("0.18", D02, 0, 60.0, None, 1.0), 3_459_444.444444445),
    "018_d04": (("0.18", D04, 1, 60.0), 21_900_219.000000004),
}


def assert_cobres_cost(case: Path, expected: float) -> None:
    assert_reaches(cobre.load_case(case), expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_minimum_storage_gives_cobres_cost(tmp_path: Path, name: str) -> None:
    spec, expected = CASES[name]
    assert_cobres_cost(variant(tmp_path, *spec), expected)


D04_VARIANT_COST = 5_340_219.000000001  # Cobre 0.18.0 (caudal's old priced shortfall gave 4,722,619)


def test_minimum_storage_in_two_block_d04_gives_cobre_018s_cost(tmp_path: Path) -> None:
    """``test_cobre_bounds.d04_variant`` (two blocks, a second thermal) with hydro 1's minimum at 60 hm3."""
    assert_cobres_cost(with_minimum(d04_variant(tmp_path, [], [], {}, None), 1, 60.0), D04_VARIANT_COST)


D03 = "d03-two-hydro-cascade"


def cascade(root: Path, changes: dict[int, tuple[float, float]]) -> Path:
    """d03 (0.5.x; hydro 0 flows into hydro 1; stage 0: 730 h, inflows 25 and 10 m3/s, initial storage 80 and
    50 hm3) with ``changes``: plant -> (its minimum storage, its initial storage)."""
    case = root / f"{D03}-fill"
    shutil.copytree(FORMATS["0.5"] / D03, case)
    for hydro, (minimum, initial) in changes.items():
        with_minimum(case, hydro, minimum, initial)
    return case


# Plants starting below their minimum that cannot fill up to it in the first stage (Cobre 0.5.1 fails on each:
# "infeasible subproblem at stage 0", measured), with the most water they could hold by its end.
CANNOT_FILL = {
    "d02": (lambda root: variant(root, "0.5", D02, 0, 150.0, 0.0), 0, "at most 105.12 hm3"),  # 40 m3/s
    # hydro 0 must keep 140 of its 80 + 65.7 hm3, so at most 5.7 hm3 reach hydro 1 (0 + 26.28 of its own)
    "d03_upstream_too_short": (lambda root: cascade(root, {0: (140.0, None), 1: (40.0, 0.0)}), 1,
                               "at most 31.98 hm3"),
}


@pytest.mark.parametrize("name", sorted(CANNOT_FILL))
def test_a_plant_that_cannot_fill_to_its_minimum_is_refused_before_training(tmp_path: Path, capsys,
                                                                            name: str) -> None:
    build, hydro, words = CANNOT_FILL[name]
    case = build(tmp_path)
    assert_fails_naming(case, capsys, "initial_conditions.json", f"hydro {hydro}", "storage.value_hm3", words)


# Plants starting below their minimum that can fill up to it (just, or with upstream water): Cobre 0.5.1's costs.
CAN_FILL = {
    "d02_just": (lambda root: variant(root, "0.5", D02, 0, 105.0, 0.0), 5_473_333.333333333),
    "d03_with_upstream_water": (lambda root: cascade(root, {1: (100.0, 0.0)}), 3_473_666.666666667),
}


@pytest.mark.parametrize("name", sorted(CAN_FILL))
def test_a_plant_that_can_fill_to_its_minimum_trains_to_cobres_cost(tmp_path: Path, name: str) -> None:
    build, expected = CAN_FILL[name]
    assert_cobres_cost(build(tmp_path), expected)


def test_the_penalty_method_can_always_fill(tmp_path: Path) -> None:
    """With the ``penalty`` non-negativity method the LP may buy water without limit: never refused."""
    case = variant(tmp_path, "0.5", D02, 0, 150.0, 0.0)
    edit(case, "config.json", lambda d: d["modeling"]["inflow_non_negativity"].update(method="penalty"))
    study = cobre.load_case(case)
    assert study.case.settings.inflow_method == "penalty"


def test_a_first_stage_that_cannot_fill_names_the_plants_below_their_minimum(tmp_path: Path, capsys) -> None:
    """d08 starting empty with a minimum of 190 hm3 cannot fill (Cobre 0.5.1 fails on it: "infeasible subproblem
    at stage 0", measured), but its evaporation keeps the check from deciding it: the solve failure says why."""
    case = variant(tmp_path, "0.5", "d08-evaporation", 0, 190.0, 0.0)
    cobre.load_case(case)  # not refused: the water evaporation may add or take is not bounded from the data
    assert main(["train", str(case), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Infeasible" in err
    assert "hydro 0 starts at 0 hm3, below its minimum storage of 190 hm3 (initial_conditions.json" in err
