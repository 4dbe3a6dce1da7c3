"""Stage-varying thermal, line and outflow bounds (0.18's *_bounds files), entry and exit stages.

Each case is d04 in the 0.18 format with two load blocks (400 and 330 hours,
load 1.5 and 0.5 times its mean), a second, dearer thermal on the other bus,
and the rows or service windows below. The constants are Cobre 0.18.0's lower
bounds on the same folders (cobre-python 0.18.0, ``cobre.run.run``), written by
this file's ``d04_variant``. b5 and b5x differ only in block rows looser than
their stage rows: a block's row replaces the stage's (it does not intersect).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, SAME, assert_fails_naming, edit

import caudal
from caudal.hydro import cobre

D04_018 = DATA / "cases-0.18" / "deterministic" / "d04-transmission"
THERMAL_BOUNDS = "constraints/thermal_bounds.parquet"
LINE_BOUNDS = "constraints/line_bounds.parquet"
THERMAL_COLUMNS = ("thermal_id", "stage_id", "block_id", "min_generation_mw", "max_generation_mw", "cost_per_mwh")
LINE_COLUMNS = ("line_id", "stage_id", "block_id", "direct_mw", "reverse_mw")

CASES = {
    # name: (thermal rows, line rows, the second thermal's window, the line's exit stage, Cobre 0.18.0's cost)
    "b0": ([], [], {}, None, 4_400_127.111111113),
    "b1": ([(0, 0, None, None, 30.0, None), (0, 1, None, None, None, 80.0)], [(0, 0, None, 5.0, None)], {}, None,
           5_120_087.111111112),
    "b2": ([(0, 0, None, None, 10.0, None), (0, 0, 1, None, 50.0, None)],
           [(0, 1, 0, 2.0, None), (0, 1, None, 20.0, 1.0)], {}, None, 5_240_075.111111112),
    "b3": ([(1, 1, None, 20.0, None, None)], [], {"entry_stage_id": 1}, None, 13_720_120.000000006),
    "b4": ([], [], {"exit_stage_id": 1}, 1, 18_200_067.111111112),
    "b5": ([(0, 0, None, None, 10.0, None), (0, 0, 0, None, 50.0, None)],
           [(0, 1, None, 2.0, None), (0, 1, 0, 20.0, None)], {}, None, 4_100_147.111111112),
    "b5x": ([(0, 0, None, None, 10.0, None)], [(0, 1, None, 2.0, None)], {}, None, 5_240_075.111111112),
}


def write_rows(path: Path, columns: tuple[str, ...], rows: list[tuple]) -> None:
    types = [pa.int32()] * 3 + [pa.float64()] * (len(columns) - 3)
    data = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    pq.write_table(pa.table({c: pa.array(list(d), t) for c, d, t in zip(columns, data, types, strict=True)}), path,
                   compression="zstd")  # Cobre 0.18.0 reads Zstandard, not Snappy


def d04_variant(root: Path, thermal_rows: list[tuple], line_rows: list[tuple], window: dict,
                line_exit: int | None) -> Path:
    case = root / "d04-bounds"
    shutil.copytree(D04_018, case)

    def blocks(d: dict) -> None:
        for stage in d["stages"]:
            stage["blocks"] = [{"id": 0, "name": "P", "hours": 400}, {"id": 1, "name": "O", "hours": 330}]

    def second_thermal(d: dict) -> None:
        d["thermals"].append({**d["thermals"][0], "id": 1, "name": "T1", "bus_id": 1, "cost_per_mwh": 200.0,
                              **window})

    edit(case, "stages.json", blocks)
    edit(case, "system/thermals.json", second_thermal)
    if line_exit is not None:
        edit(case, "system/lines.json", lambda d: d["lines"][0].update(exit_stage_id=line_exit))
    (case / "scenarios" / "load_factors.json").write_text(json.dumps({"load_factors": [
        {"bus_id": b, "stage_id": s, "block_factors": [{"block_id": 0, "factor": 1.5}, {"block_id": 1, "factor": 0.5}]}
        for s in (0, 1) for b in (0, 1)]}))
    (case / "constraints").mkdir()
    if thermal_rows:
        write_rows(case / THERMAL_BOUNDS, THERMAL_COLUMNS, thermal_rows)
    if line_rows:
        write_rows(case / LINE_BOUNDS, LINE_COLUMNS, line_rows)
    return case


@pytest.mark.parametrize("name", sorted(CASES))
def test_bounds_and_service_windows_give_cobres_costs(tmp_path: Path, name: str) -> None:
    *spec, expected = CASES[name]
    study = cobre.load_case(d04_variant(tmp_path, *spec))
    assert caudal.deterministic_equivalent(study.problem).objective == pytest.approx(expected, rel=SAME)
    settings = study.training
    bound = caudal.train(study.problem, iterations=settings.iterations, forward_passes=settings.forward_passes,
                         seed=settings.seed).lower_bound
    assert bound == pytest.approx(expected, rel=SAME)


def thermal_rows(*rows: tuple) -> tuple[list, list, dict, None]:
    return list(rows), [], {}, None


@pytest.mark.parametrize(
    ("spec", "file", "entity", "field", "words"),
    [
        (thermal_rows((5, 0, None, None, 10.0, None)), THERMAL_BOUNDS, "thermal 5, stage 0", "thermal_id",
         "not defined"),
        (thermal_rows((0, 9, None, None, 10.0, None)), THERMAL_BOUNDS, "thermal 0, stage 9", "stage_id",
         "not in stages.json"),
        (thermal_rows((0, 0, 4, None, 10.0, None)), THERMAL_BOUNDS, "thermal 0, stage 0, block 4", "block_id",
         "not a block of stage 0"),
        (thermal_rows((0, 0, None, None, -1.0, None)), THERMAL_BOUNDS, "thermal 0, stage 0", "max_generation_mw",
         ">= 0"),
        (thermal_rows((0, 0, None, 20.0, 10.0, None)), THERMAL_BOUNDS, "thermal 0, stage 0, block 0",
         "min_generation_mw", "above the maximum"),
        (thermal_rows((0, 0, 1, None, None, 60.0)), THERMAL_BOUNDS, "thermal 0, stage 0, block 1", "cost_per_mwh",
         "not supported"),
        (([], [(3, 0, None, 1.0, None)], {}, None), LINE_BOUNDS, "line 3, stage 0", "line_id", "not defined"),
        (([], [], {"entry_stage_id": 1, "exit_stage_id": 1}, None), "system/thermals.json", "thermal 1",
         "exit_stage_id", "not after entry_stage_id"),
        (([], [], {"entry_stage_id": -1}, None), "system/thermals.json", "thermal 1", "entry_stage_id",
         "at least 0"),
    ],
)
def test_bad_bounds_fail_naming_file_entity_and_field(
    tmp_path: Path, capsys, spec: tuple, file: str, entity: str, field: str, words: str
) -> None:
    assert_fails_naming(d04_variant(tmp_path, *spec), capsys, file, entity, field, words)


def test_a_missing_key_column_is_named(tmp_path: Path, capsys) -> None:
    case = d04_variant(tmp_path, *thermal_rows((0, 0, None, None, 10.0, None)))
    pq.write_table(pa.table({"stage_id": pa.array([0], pa.int32()), "max_generation_mw": [10.0]}),
                   case / THERMAL_BOUNDS)
    assert_fails_naming(case, capsys, THERMAL_BOUNDS, None, "thermal_id", "missing")


# -- hydro outflow limits (0.18's hydro_bounds, beside the withdrawals) ---------------------------

HYDRO_BOUNDS = "constraints/hydro_bounds.parquet"
HYDRO_COLUMNS = ("hydro_id", "stage_id", "block_id", "min_storage_hm3", "max_storage_hm3", "min_outflow_m3s",
                 "max_outflow_m3s")
HYDRO_CASES = {  # rows (hydro, stage, block, min storage, max storage, min outflow, max outflow): Cobre 0.18.0's cost
    "h2": ([(0, 0, None, None, None, 40.0, None), (0, 1, 1, None, None, None, 5.0),
            (1, 0, None, None, None, None, 3.0)], 6_057_202.500000001),
    "h8": ([(0, 0, None, None, None, None, 20.0), (0, 0, 0, None, None, None, 45.0),
            (0, 1, None, None, None, 10.0, None)], 4_500_127.111111113),
    "h9": ([(0, 0, None, None, None, None, 20.0), (0, 1, None, None, None, 10.0, None)], 5_000_127.111111113),
}


def with_hydro_rows(tmp_path: Path, rows: list[tuple]) -> Path:
    case = d04_variant(tmp_path, [], [], {}, None)
    write_rows(case / HYDRO_BOUNDS, HYDRO_COLUMNS, rows)
    return case


@pytest.mark.parametrize("name", sorted(HYDRO_CASES))
def test_outflow_bounds_give_cobres_costs(tmp_path: Path, name: str) -> None:
    rows, expected = HYDRO_CASES[name]
    study = cobre.load_case(with_hydro_rows(tmp_path, rows))
    assert caudal.deterministic_equivalent(study.problem).objective == pytest.approx(expected, rel=SAME)


@pytest.mark.parametrize(
    ("rows", "entity", "field", "words"),
    [
        ([(4, 0, None, None, None, 1.0, None)], "hydro 4, stage 0", "hydro_id", "not defined"),
        ([(0, 0, 3, None, None, 1.0, None)], "hydro 0, stage 0, block 3", "block_id", "not a block"),
        ([(0, 0, None, None, None, -1.0, None)], "hydro 0, stage 0", "min_outflow_m3s", ">= 0"),
        ([(0, 0, None, None, 80.0, None, None)], "hydro 0, stage 0", "max_storage_hm3", "not supported"),
    ],
)
def test_bad_hydro_bounds_fail_naming_file_entity_and_field(
    tmp_path: Path, capsys, rows: list, entity: str | None, field: str, words: str
) -> None:
    assert_fails_naming(with_hydro_rows(tmp_path, rows), capsys, HYDRO_BOUNDS, entity, field, words)


def test_a_per_block_withdrawal_is_refused(tmp_path: Path, capsys) -> None:
    case = d04_variant(tmp_path, [], [], {}, None)
    pq.write_table(pa.table({"hydro_id": pa.array([0], pa.int32()), "stage_id": pa.array([0], pa.int32()),
                             "block_id": pa.array([1], pa.int32()), "water_withdrawal_m3s": [1.0]}),
                   case / HYDRO_BOUNDS)
    assert_fails_naming(case, capsys, HYDRO_BOUNDS, "hydro 0, stage 0", "block_id", "not supported")


# -- non-controllable sources entering or leaving service ----------------------------------------

COBRE_018_SOURCE_WINDOWS = {  # d15 in 0.18 with the source's window: Cobre 0.18.0's cost (d15 itself: 437,927)
    "exit_stage_id": 802_963.4999999999,
    "entry_stage_id": 802_963.4999999999,
}


@pytest.mark.parametrize("key", sorted(COBRE_018_SOURCE_WINDOWS))
def test_a_source_out_of_service_for_a_stage_gives_cobres_cost(tmp_path: Path, key: str) -> None:
    from test_cobre_sources import SOURCES, d15_in_018

    case = d15_in_018(tmp_path)
    edit(case, SOURCES, lambda d: d["non_controllable_sources"][0].update({key: 1}))
    study = cobre.load_case(case)
    out = 1 if key == "exit_stage_id" else 0
    assert study.case.source_availability[(0, out)] == 0.0 and study.case.source_availability[(0, 1 - out)] > 0
    assert caudal.deterministic_equivalent(study.problem).objective == pytest.approx(
        COBRE_018_SOURCE_WINDOWS[key], rel=SAME)
