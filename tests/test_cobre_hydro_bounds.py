"""Stage-varying hydro limits from ``constraints/hydro_bounds.parquet``, in both formats.

0.5.x cases are d04 (one block) with a hydro_bounds file; 0.18 cases are
``test_cobre_bounds.d04_variant`` (two blocks) with one. The costs are Cobre's
lower bounds on the very folders these functions write, measured by running
cobre-python 0.5.1 and 0.18.0 (``cobre.run.run``, one thread) on them; each test
also checks that caudal's trained bound equals its deterministic equivalent.
The columns whose Cobre behaviour caudal does not reproduce are refused by
name (``hydro_limits.py`` says what was measured).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, SAME, assert_fails_naming, assert_reaches, edit
from test_cobre_bounds import d04_variant

import caudal
from caudal.hydro import cobre

HYDRO_BOUNDS = "constraints/hydro_bounds.parquet"
D04 = DATA / "deterministic" / "d04-transmission"


def write_rows(path: Path, rows: list[dict]) -> None:
    """hydro_bounds rows as dicts: the keys present in any row become (nullable) columns."""
    names = sorted({key for row in rows for key in row} - {"hydro_id", "stage_id", "block_id"})
    table = {"hydro_id": pa.array([r["hydro_id"] for r in rows], pa.int32()),
             "stage_id": pa.array([r["stage_id"] for r in rows], pa.int32())}
    if any("block_id" in r for r in rows):
        table["block_id"] = pa.array([r.get("block_id") for r in rows], pa.int32())
    table.update({name: pa.array([r.get(name) for r in rows], pa.float64()) for name in names})
    path.parent.mkdir(exist_ok=True)
    pq.write_table(pa.table(table), path, compression="zstd")  # Cobre reads Zstandard, not Snappy


def case_05(root: Path, rows: list[dict]) -> Path:
    case = root / "d04-hydro-bounds"
    shutil.copytree(D04, case)
    write_rows(case / HYDRO_BOUNDS, rows)
    return case


def case_018(root: Path, rows: list[dict]) -> Path:
    case = d04_variant(root, [], [], {}, None)
    write_rows(case / HYDRO_BOUNDS, rows)
    return case


def row(hydro: int, stage: int, **values: float) -> dict:
    return {"hydro_id": hydro, "stage_id": stage, **values}


CASES_05 = {  # rows: Cobre 0.5.1's cost (d04 itself: 8,011,330.11)
    "max_generation": ([row(0, 0, max_generation_mw=10.0)], 9_288_830.111111114),
    "max_turbined": ([row(0, 0, max_turbined_m3s=20.0)], 8_923_830.111111114),
    "max_outflow": ([row(0, 0, max_outflow_m3s=20.0)], 8_923_830.111111114),
    "max_storage": ([row(0, 0, max_storage_hm3=10.0)], 149_285_118.22222218),  # binds: outflow above its maximum
    "minima": ([row(0, 1, min_turbined_m3s=45.0), row(1, 0, min_turbined_m3s=18.0),
                row(1, 1, min_generation_mw=19.0), row(1, 1, min_outflow_m3s=15.0)], 8_011_330.111111116),
    "min_turbined": ([row(0, 0, min_turbined_m3s=50.0), row(0, 1, min_turbined_m3s=50.0),
                      row(1, 0, min_turbined_m3s=20.0)], 58_733_574.61111124),  # binds: the shortfall is priced
    "min_generation": ([row(0, 0, min_generation_mw=50.0), row(0, 1, min_generation_mw=50.0),
                        row(1, 0, min_generation_mw=20.0)], 58_733_574.61111124),
    "mix": ([row(0, 0, max_storage_hm3=150.0, max_turbined_m3s=30.0, min_turbined_m3s=25.0),
             row(1, 1, min_generation_mw=12.0, max_generation_mw=18.0, max_outflow_m3s=19.0)], 9_307_719.000000006),
}

CASES_018 = {  # rows: Cobre 0.18.0's cost (d04_variant itself: 4,400,127.11)
    "max_generation": ([row(0, 0, max_generation_mw=10.0)], 5_282_627.111111112),
    "max_turbined": ([row(0, 0, max_turbined_m3s=20.0)], 5_000_127.111111113),
    # the peak block's looser row replaces the stage's (block 1, the off-peak one, gains nothing from it)
    "block_replaces_stage": ([row(0, 0, max_turbined_m3s=20.0), row(0, 0, block_id=0, max_turbined_m3s=40.0)],
                             4_600_127.111111113),
    "off_peak_block": ([row(0, 0, max_turbined_m3s=20.0), row(0, 0, block_id=1, max_turbined_m3s=40.0)],
                       5_000_127.111111113),
    "mix": ([row(0, 0, block_id=0, max_generation_mw=30.0, min_outflow_m3s=35.0), row(0, 1, max_turbined_m3s=25.0),
             row(1, 1, block_id=1, max_turbined_m3s=5.0, max_outflow_m3s=12.0), row(1, 0, water_withdrawal_m3s=2.0)],
            5_382_689.500000001),
}


def assert_cobres_cost(case: Path, expected: float) -> None:
    assert_reaches(cobre.load_case(case), expected)


@pytest.mark.parametrize("name", sorted(CASES_05))
def test_hydro_limits_give_cobre_051s_cost(tmp_path: Path, name: str) -> None:
    rows, expected = CASES_05[name]
    assert_cobres_cost(case_05(tmp_path, rows), expected)


@pytest.mark.parametrize("name", sorted(CASES_018))
def test_hydro_limits_give_cobre_018s_cost(tmp_path: Path, name: str) -> None:
    rows, expected = CASES_018[name]
    assert_cobres_cost(case_018(tmp_path, rows), expected)


BAD_05 = [  # rows, entity, field, words
    ([row(4, 0, max_turbined_m3s=1.0)], "hydro 4, stage 0", "hydro_id", "not defined"),
    ([row(0, 9, max_turbined_m3s=1.0)], "hydro 0, stage 9", "stage_id", "not in stages.json"),
    ([row(0, 0, max_generation_mw=-1.0)], "hydro 0, stage 0", "max_generation_mw", ">= 0"),
    ([row(0, 0, max_turbined_m3s=80.0)], "hydro 0, stage 0", "max_turbined_m3s", "above the plant's own"),
    ([row(0, 0, max_storage_hm3=300.0)], "hydro 0, stage 0", "max_storage_hm3", "above the plant's own"),
    ([row(0, 0, min_turbined_m3s=30.0, max_turbined_m3s=20.0)], "hydro 0, stage 0", "min_turbined_m3s",
     "above the maximum"),
    ([row(0, 0, min_storage_hm3=20.0)], "hydro 0, stage 0", "min_storage_hm3", "not supported"),
    ([row(0, 0, max_diversion_m3s=5.0)], None, "max_diversion_m3s", "not supported"),
    ([row(0, 0, max_turbined_m3s=20.0), row(0, 0, max_turbined_m3s=10.0)], "hydro 0, stage 0", "max_turbined_m3s",
     "twice"),
]


@pytest.mark.parametrize(("rows", "entity", "field", "words"), BAD_05)
def test_bad_05_hydro_limits_fail_naming_file_entity_and_field(
    tmp_path: Path, capsys, rows: list, entity: str | None, field: str, words: str
) -> None:
    assert_fails_naming(case_05(tmp_path, rows), capsys, HYDRO_BOUNDS, entity, field, words)


BAD_018 = [
    ([row(4, 0, max_turbined_m3s=1.0)], "hydro 4, stage 0", "hydro_id", "not defined"),
    ([row(0, 9, max_turbined_m3s=1.0)], "hydro 0, stage 9", "stage_id", "not in stages.json"),
    ([row(0, 0, block_id=1, max_generation_mw=-1.0)], "hydro 0, stage 0, block 1", "max_generation_mw", ">= 0"),
    ([row(0, 0, block_id=1, max_generation_mw=80.0)], "hydro 0, stage 0, block 1", "max_generation_mw",
     "above the plant's own"),
    ([row(0, 0, block_id=0, max_storage_hm3=100.0)], "hydro 0, stage 0, block 0", "max_storage_hm3",
     "not supported"),
    ([row(0, 0, min_storage_hm3=20.0)], "hydro 0, stage 0", "min_storage_hm3", "not supported"),
    ([row(0, 1, max_storage_hm3=100.0)], "hydro 0, stage 1", "max_storage_hm3", "not supported"),
    ([row(0, 0, min_turbined_m3s=20.0)], "hydro 0, stage 0", "min_turbined_m3s", "changes nothing"),
    ([row(0, 0, min_generation_mw=20.0)], "hydro 0, stage 0", "min_generation_mw", "changes nothing"),
]


@pytest.mark.parametrize(("rows", "entity", "field", "words"), BAD_018)
def test_bad_018_hydro_limits_fail_naming_file_entity_and_field(
    tmp_path: Path, capsys, rows: list, entity: str | None, field: str, words: str
) -> None:
    assert_fails_naming(case_018(tmp_path, rows), capsys, HYDRO_BOUNDS, entity, field, words)


@pytest.mark.parametrize("make", [case_05, case_018])
def test_a_missing_key_column_is_named(tmp_path: Path, capsys, make) -> None:
    case = make(tmp_path, [row(0, 0, max_turbined_m3s=20.0)])
    pq.write_table(pa.table({"stage_id": pa.array([0], pa.int32()), "max_turbined_m3s": [20.0]}),
                   case / HYDRO_BOUNDS)
    assert_fails_naming(case, capsys, HYDRO_BOUNDS, None, "hydro_id", "missing")


def test_the_hydro_table_reports_the_slacks(tmp_path: Path) -> None:
    """Cobre's hydro output columns: a maximum storage forcing water out beyond the maximum outflow (50 m3/s)."""
    case = case_05(tmp_path, [row(0, 0, max_storage_hm3=10.0)])
    edit(case, "system/hydros.json", lambda d: d["hydros"][1]["reservoir"].update(min_storage_hm3=60.0))
    study = cobre.load_case(case)
    policy = caudal.train(study.problem, iterations=5, seed=0).policy
    hydros = cobre.simulate(study, policy, scenarios=1)["hydros"].to_pydict()
    rows = {(h, s): i for i, (h, s) in enumerate(zip(hydros["hydro_id"], hydros["stage_id"], strict=True))}
    first = rows[(0, 0)]
    above = hydros["outflow_slack_above_m3s"][first]
    assert above > 0 and hydros["outflow_m3s"][first] - above == pytest.approx(50.0)
    assert hydros["storage_final_hm3"][first] == pytest.approx(10.0)
    for stage in (0, 1):  # hydro 1 starts at 50 hm3 and must fill up to its (hard) minimum of 60, as in Cobre
        i = rows[(1, stage)]
        assert hydros["storage_final_hm3"][i] >= 60.0 - 1e-9
        assert hydros["storage_violation_below_hm3"][i] == 0.0
    for name in ("turbined_slack_m3s", "generation_slack_mw", "outflow_slack_below_m3s"):
        assert all(v == 0.0 for v in hydros[name])


def test_a_stochastic_05_case_gives_cobre_051s_converged_bound(tmp_path: Path) -> None:
    """1dtoy (0.5.x) with limits in stages 1 and 2, on caudal's opening tree written for Cobre to read.

    Cobre 0.5.1 run on this folder converges to 17,860,648.087816335 (4,000 iterations; 1,000 give
    17,860,647.95, still converging).
    """
    case = tmp_path / "1dtoy"
    shutil.copytree(DATA / "1dtoy", case)
    write_rows(case / HYDRO_BOUNDS, [row(0, 1, max_turbined_m3s=20.0, min_outflow_m3s=15.0),
                                     row(0, 2, max_storage_hm3=300.0, min_generation_mw=10.0)])
    cobre.write_noise_openings(case / "scenarios" / "noise_openings.parquet", cobre.load_case(case).noise)
    study = cobre.load_case(case)
    equivalent = caudal.deterministic_equivalent(study.problem).objective
    assert equivalent == pytest.approx(17_860_648.087816335, rel=SAME)
    # 128 iterations (the case's own) are not converged here: the bound is below the optimum and near it
    bound = caudal.train(study.problem, iterations=128, forward_passes=1, seed=study.training.seed).lower_bound
    assert equivalent * (1 - 1e-3) < bound <= equivalent * (1 + 1e-12)
