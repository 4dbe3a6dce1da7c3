"""Generic linear constraints (0.5.x format): d13 and a variant where the slack pays.

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
        (BOUNDS, lambda c: write_bounds(c, rows(block=(0, None))), "constraint 1, stage 0", "block_id",
         "not supported"),
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
