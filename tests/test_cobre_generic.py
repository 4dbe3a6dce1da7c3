"""Generic linear constraints: d13 and a variant where the slack pays (0.5.x), intervals per block (0.18).

d13 caps a thermal plant at 10 MW with a slack at 5,000 per MW and hour, more
than the deficit (1,000), so its known cost has a deficit. With a slack at
500 the cap is violated instead: Cobre 0.18.0 gave 8,760,000 on that case
written in its format (cobre-python 0.18.0, ``cobre.run.run``, simulation
off), which pins the slack's price per MW and hour.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, KNOWN_COSTS, assert_fails_naming

import caudal
from caudal.hydro import cobre

D13 = "d13-generic-constraint"
CONSTRAINTS = "constraints/generic_constraints.json"
BOUNDS = "constraints/generic_constraint_bounds.parquet"
SAME = 1e-9
COBRE_018_CHEAP_SLACK = 8_760_000.0


def costs(study: cobre.CobreStudy) -> tuple[float, float]:
    settings = study.training
    bound = caudal.train(
        study.problem, iterations=settings.iterations, forward_passes=settings.forward_passes, seed=settings.seed
    ).lower_bound
    return caudal.deterministic_equivalent(study.problem).objective, bound


def copy_d13(tmp_path: Path) -> Path:
    case = tmp_path / D13
    shutil.copytree(DATA / "deterministic" / D13, case)
    return case


def edit_constraint(case: Path, change) -> None:
    data = json.loads((case / CONSTRAINTS).read_text())
    change(data["constraints"][0])
    (case / CONSTRAINTS).write_text(json.dumps(data))


def test_d13_reproduces_its_known_cost() -> None:
    for value in costs(cobre.load_case(DATA / "deterministic" / D13)):
        assert value == pytest.approx(KNOWN_COSTS[D13], rel=SAME)


def test_a_cheap_slack_gives_cobres_cost(tmp_path: Path) -> None:
    case = copy_d13(tmp_path)
    edit_constraint(case, lambda c: c["slack"].update(penalty=500.0))
    for value in costs(cobre.load_case(case)):
        assert value == pytest.approx(COBRE_018_CHEAP_SLACK, rel=SAME)


def test_the_expression_grammar(tmp_path: Path) -> None:
    case = copy_d13(tmp_path)
    # 2 * g - g <= 10 is the same cap as g <= 10
    edit_constraint(case, lambda c: c.update(expression="2 * thermal_generation(0) - 1.0*thermal_generation(0)"))
    assert costs(cobre.load_case(case))[0] == pytest.approx(KNOWN_COSTS[D13], rel=SAME)


def write_bounds(case: Path, columns: dict) -> None:
    pq.write_table(pa.table(columns), case / BOUNDS)


def rows(constraint=(1, 1), stage=(0, 1), block=(None, None), bound=(10.0, 10.0)) -> dict:
    return {"constraint_id": pa.array(constraint, pa.int32()), "stage_id": pa.array(stage, pa.int32()),
            "block_id": pa.array(block, pa.int32()), "bound": list(bound)}


@pytest.mark.parametrize(
    ("file", "change", "entity", "field", "words"),
    [
        (CONSTRAINTS, lambda c: edit_constraint(c, lambda d: d.update(expression="thermal_generation(4)")),
         "constraint 1", "expression", "thermal 4, which is not defined"),
        (CONSTRAINTS, lambda c: edit_constraint(c, lambda d: d.update(expression="bus_deficit(0)")),
         "constraint 1", "expression", "not supported"),
        (CONSTRAINTS, lambda c: edit_constraint(c, lambda d: d.update(expression="thermal_generation(0) +")),
         "constraint 1", "expression", "expected"),
        (CONSTRAINTS, lambda c: edit_constraint(c, lambda d: d.pop("sense")), "constraint 1", "sense", "required"),
        (CONSTRAINTS, lambda c: edit_constraint(c, lambda d: d["slack"].update(penalty=-1.0)), "constraint 1",
         "slack.penalty", "positive"),
        (BOUNDS, lambda c: write_bounds(c, rows(constraint=(1, 2))), "constraint 2, stage 1", "constraint_id",
         "not in"),
        (BOUNDS, lambda c: write_bounds(c, rows(stage=(0, 5))), "constraint 1, stage 5", "stage_id",
         "not in stages.json"),
        (BOUNDS, lambda c: write_bounds(c, rows(block=(3, None))), "constraint 1, stage 0, block 3", "block_id",
         "not a block of stage 0"),
        (BOUNDS, lambda c: write_bounds(c, {k: v for k, v in rows().items() if k != "bound"}), None, "bound",
         "missing"),
    ],
)
def test_bad_generic_constraints_fail_naming_file_entity_and_field(
    tmp_path: Path, capsys, file: str, change, entity: str | None, field: str, words: str
) -> None:
    case = copy_d13(tmp_path)
    change(case)
    assert_fails_naming(case, capsys, file, entity, field, words)


# -- the 0.18 format: intervals per stage and per block -----------------------------------------
#
# d13 in the 0.18 format (data/cobre/cases-0.18) with two load blocks of 400 and 330 hours, the load
# 1.8 and 0.2 times its mean, and the bound rows below: Cobre 0.18.0's lower bounds on each
# (cobre-python 0.18.0, ``cobre.run.run``, converged; commands in data/cobre/README.md).
# g2 shows a stage row binds each block, g6 that a block row binds on top of the stage's row.

D13_018 = DATA / "cases-0.18" / "deterministic" / D13
TWO_BLOCK_CASES = {
    # name: (rows (constraint, stage, block, lower, upper), slack penalty, Cobre 0.18.0's cost)
    "g2": ([(1, 0, None, None, 10.0), (1, 1, None, None, 10.0)], 5000.0, 21_332_000.0),
    "g3": ([(1, 0, 0, None, 10.0), (1, 0, 1, 8.0, None), (1, 1, None, 5.0, 12.0)], 5000.0, 20_654_516.500000004),
    "g4": ([(1, 0, 0, None, 10.0), (1, 0, 1, 8.0, None), (1, 1, None, 5.0, 12.0)], 500.0, 13_814_516.5),
    "g5": ([(1, 0, None, 5.0, 12.0), (1, 1, 0, 10.0, 10.0)], 3.0, 6_178_590.000000001),
    "g6": ([(1, 0, None, 8.0, None), (1, 0, 1, None, 20.0)], 3.0, 6_135_960.000000001),
}


def write_018_bounds(case: Path, rows: list[tuple]) -> None:
    constraint, stage, block, lower, upper = (list(c) for c in zip(*rows, strict=True))
    pq.write_table(pa.table({
        "constraint_id": pa.array(constraint, pa.int32()), "stage_id": pa.array(stage, pa.int32()),
        "block_id": pa.array(block, pa.int32()), "bound_lower": pa.array(lower, pa.float64()),
        "bound_upper": pa.array(upper, pa.float64()),
    }), case / BOUNDS, compression="zstd")  # Cobre 0.18.0 reads Zstandard, not Snappy


def two_block_d13_in_018(tmp_path: Path, rows: list[tuple], penalty: float) -> Path:
    case = tmp_path / "d13-two-blocks"
    shutil.copytree(D13_018, case)
    stages = json.loads((case / "stages.json").read_text())
    for stage in stages["stages"]:
        stage["blocks"] = [{"id": 0, "name": "P", "hours": 400}, {"id": 1, "name": "O", "hours": 330}]
    (case / "stages.json").write_text(json.dumps(stages))
    (case / "scenarios" / "load_factors.json").write_text(json.dumps({"load_factors": [
        {"bus_id": 0, "stage_id": s, "block_factors": [{"block_id": 0, "factor": 1.8}, {"block_id": 1, "factor": 0.2}]}
        for s in (0, 1)]}))
    edit_constraint(case, lambda c: c["slack"].update(penalty=penalty))
    write_018_bounds(case, rows)
    return case


def test_d13_in_018_reproduces_its_known_cost() -> None:
    for value in costs(cobre.load_case(D13_018)):
        assert value == pytest.approx(KNOWN_COSTS[D13], rel=SAME)


@pytest.mark.parametrize("name", sorted(TWO_BLOCK_CASES))
def test_018_per_block_intervals_give_cobres_costs(tmp_path: Path, name: str) -> None:
    rows, penalty, expected = TWO_BLOCK_CASES[name]
    for value in costs(cobre.load_case(two_block_d13_in_018(tmp_path, rows, penalty))):
        assert value == pytest.approx(expected, rel=SAME)


def copy_d13_018(tmp_path: Path) -> Path:
    case = tmp_path / D13
    shutil.copytree(D13_018, case)
    return case


@pytest.mark.parametrize(
    ("change", "entity", "field", "words"),
    [
        (lambda c: write_018_bounds(c, [(2, 0, None, None, 10.0)]), "constraint 2, stage 0", "constraint_id",
         "not in"),
        (lambda c: write_018_bounds(c, [(1, 7, None, None, 10.0)]), "constraint 1, stage 7", "stage_id",
         "not in stages.json"),
        (lambda c: write_018_bounds(c, [(1, 0, 3, None, 10.0)]), "constraint 1, stage 0, block 3", "block_id",
         "not a block of stage 0"),
        (lambda c: write_018_bounds(c, [(1, 0, None, None, None)]), "constraint 1, stage 0", "bound_lower",
         "both null"),
        (lambda c: write_018_bounds(c, [(1, 0, None, 5.0, 4.0)]), "constraint 1, stage 0", "bound_upper",
         "below bound_lower"),
        (lambda c: write_018_bounds(c, [(1, 0, None, None, 1.0), (1, 0, None, 0.0, None)]), "constraint 1, stage 0",
         "stage_id", "twice"),
        (lambda c: pq.write_table(pa.table({"constraint_id": [1], "stage_id": [0], "bound_upper": [1.0],
                                            "block_id": pa.array([None], pa.int32())}), c / BOUNDS),
         None, "bound_lower", "missing"),
    ],
)
def test_bad_018_bounds_fail_naming_file_entity_and_field(
    tmp_path: Path, capsys, change, entity: str | None, field: str, words: str
) -> None:
    case = copy_d13_018(tmp_path)
    change(case)
    assert_fails_naming(case, capsys, BOUNDS, entity, field, words)


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("thermal_generation(0) <= 10", "inline relational operator"),
        ("@cap * thermal_generation(0)", "parameters"),
        ("hydro_generation(0, bus=1)", "bus= selector"),
        ("thermal_generation(0, 1)", "block-specific variables"),
    ],
)
def test_what_018_expressions_add_is_refused_by_name(tmp_path: Path, capsys, expression: str, words: str) -> None:
    case = copy_d13_018(tmp_path)
    edit_constraint(case, lambda c: c.update(expression=expression))
    assert_fails_naming(case, capsys, CONSTRAINTS, "constraint 1", "expression", words)
    assert "not supported" in str(pytest.raises(cobre.CaseError, cobre.load_case, case).value)
