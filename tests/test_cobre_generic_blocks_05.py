"""0.5.x generic constraints on stages of two load blocks, with stage rows and block rows.

Each case is d13 (0.5.x, ``tests/data/cobre/deterministic``) with two load
blocks of 400 and 330 hours, the load 1.5 and 0.5 times its mean (30 and 10
MW against the 30 MW thermal the constraint caps), and the bound rows, sense
and slack penalty below. The constants are Cobre 0.5.1's lower bounds on the
same folders (cobre-python 0.5.1, ``cobre.run.run(..., skip_simulation=True)``).
They show Cobre 0.5.1's rule: a row without ``block_id`` binds each block, a
block row binds its block on top of the stage's row (g7: a looser block row
does not relax the stage's), and the slack costs its penalty per unit and hour
of its block (g2, g3, g6). Each case also checks SDDP's bound against the
deterministic equivalent.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, assert_fails_naming, assert_reaches, edit

from caudal.hydro import cobre

D13 = DATA / "deterministic" / "d13-generic-constraint"
CONSTRAINTS = "constraints/generic_constraints.json"
BOUNDS = "constraints/generic_constraint_bounds.parquet"

STAGE_ROWS = [(0, None, 10.0), (1, None, 10.0)]
CASES = {
    # name: (rows (stage, block, bound), sense, slack penalty, Cobre 0.5.1's cost)
    "g1": (STAGE_ROWS, "<=", 5000.0, 16_730_000.0),
    "g2": (STAGE_ROWS, "<=", 500.0, 9_530_000.0),
    "g3": ([(0, None, 15.0), (1, None, 15.0)], ">=", 300.0, 1_695_033.0),
    "g4": ([(0, 0, 10.0), (1, 0, 10.0)], "<=", 5000.0, 16_730_000.0),
    "g5": ([(0, 1, 10.0), (1, 1, 10.0)], "<=", 500.0, 1_530_000.0),
    "g6": ([(0, None, 12.0), (1, None, 12.0)], "==", 200.0, 4_476_013.2),
    "g7": ([(0, None, 10.0), (0, 0, 20.0), (1, None, 10.0)], "<=", 5000.0, 16_730_000.0),
    "g8": ([(0, None, 10.0), (0, 1, 5.0), (1, None, 10.0)], "<=", 5000.0, 18_297_500.0),
    "g9": ([(0, 0, 20.0), (0, None, 10.0), (1, 1, 5.0)], "<=", 5000.0, 10_697_500.0),
}


def write_bounds(case: Path, rows: list[tuple]) -> None:
    stage, block, bound = (list(c) for c in zip(*rows, strict=True))
    pq.write_table(pa.table({"constraint_id": pa.array([1] * len(rows), pa.int32()),
                             "stage_id": pa.array(stage, pa.int32()), "block_id": pa.array(block, pa.int32()),
                             "bound": pa.array(bound, pa.float64())}), case / BOUNDS, compression="zstd")


def two_block_d13(root: Path, rows: list[tuple], sense: str, penalty: float) -> Path:
    case = root / "d13-two-blocks"
    shutil.copytree(D13, case)

    def blocks(d: dict) -> None:
        for stage in d["stages"]:
            stage["blocks"] = [{"id": 0, "name": "P", "hours": 400}, {"id": 1, "name": "O", "hours": 330}]

    edit(case, "stages.json", blocks)
    (case / "scenarios" / "load_factors.json").write_text(json.dumps({"load_factors": [
        {"bus_id": 0, "stage_id": s, "block_factors": [{"block_id": 0, "factor": 1.5}, {"block_id": 1, "factor": 0.5}]}
        for s in (0, 1)]}))
    edit(case, CONSTRAINTS, lambda d: d["constraints"][0].update(sense=sense, slack={"enabled": True,
                                                                                      "penalty": penalty}))
    write_bounds(case, rows)
    return case


@pytest.mark.parametrize("name", sorted(CASES))
def test_two_block_generic_constraints_give_cobre_051s_costs(tmp_path: Path, name: str) -> None:
    rows, sense, penalty, expected = CASES[name]
    study = cobre.load_case(two_block_d13(tmp_path, rows, sense, penalty))
    assert_reaches(study, expected)


@pytest.mark.parametrize(
    ("rows", "entity", "field", "words"),
    [
        ([(0, 2, 10.0)], "constraint 1, stage 0, block 2", "block_id", "not a block of stage 0"),
        ([(0, 1, 10.0), (0, 1, 5.0)], "constraint 1, stage 0, block 1", "stage_id", "appears twice for block 1"),
        ([(4, None, 10.0)], "constraint 1, stage 4", "stage_id", "not in stages.json"),
    ],
)
def test_bad_block_rows_fail_naming_file_entity_and_field(
    tmp_path: Path, capsys, rows: list, entity: str, field: str, words: str
) -> None:
    assert_fails_naming(two_block_d13(tmp_path, rows, "<=", 5000.0), capsys, BOUNDS, entity, field, words)


def test_a_float_block_column_is_named(tmp_path: Path, capsys) -> None:
    case = two_block_d13(tmp_path, STAGE_ROWS, "<=", 5000.0)
    pq.write_table(pa.table({"constraint_id": pa.array([1], pa.int32()), "stage_id": pa.array([0], pa.int32()),
                             "block_id": pa.array([0.5]), "bound": [10.0]}), case / BOUNDS)
    assert_fails_naming(case, capsys, BOUNDS, None, "block_id", "integer column")
