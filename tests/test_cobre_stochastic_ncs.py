"""Stochastic non-controllable sources: ``non_controllable_stats.parquet`` with ``std`` > 0.

The case is d15 (0.5.x) with three openings per stage and the source's
availability factor 0.5 +- 0.2 in stage 0 and 0.6 +- 0.3 in stage 1: in each
opening it can generate ``100 MW * clamp(mean + std * eta, 0, 1)``. Cobre 0.5.1
(cobre-python 0.5.1, ``cobre.run.run``, its own tree with seed 42 and
``exports.stochastic`` on) gives it the lower bound 283,028.6761842943; the
openings it exported (``output/stochastic/noise_openings.parquet``: the
source is the column after the hydros and random loads, here column 0) are
written here as the case's tree. Cobre 0.5.1 itself refuses that file as an
input (it expects no column for sources), so caudal reads it as caudal's own
tree format. Cobre 0.18.0 draws the same tree for the same case in its format
and gives the same bound (to the last digit but one).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, SAME, assert_fails_naming, assert_reaches, edit

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre.openings import write_noise_openings

STATS = "scenarios/non_controllable_stats.parquet"
OPENINGS = "scenarios/noise_openings.parquet"
COBRE_OPENINGS = [  # Cobre 0.5.1's tree for the case (stage, then opening; one entity: the source)
    [0.40098936496495646, -1.3954121776085244, 0.8337031709056368],
    [1.8408985584459048, -0.1045042269854091, 1.468481226499341],
]
COBRE_051_BOUND = 283_028.6761842943


def write_stats(case: Path, columns: dict) -> None:
    pq.write_table(pa.table(columns), case / STATS)


def stats(ncs=(0, 0), stage=(0, 1), mean=(0.5, 0.6), std=(0.2, 0.3)) -> dict:
    return {"ncs_id": pa.array(ncs, pa.int32()), "stage_id": pa.array(stage, pa.int32()), "mean": list(mean),
            "std": list(std)}


def stochastic_d15(root: Path, tree: bool = True) -> Path:
    case = root / "d15-stochastic"
    shutil.copytree(DATA / "deterministic" / "d15-non-controllable-source", case)

    def openings(d: dict) -> None:
        for stage in d["stages"]:
            stage["num_scenarios"] = 3

    edit(case, "stages.json", openings)
    write_stats(case, stats())
    if tree:
        write_noise_openings(case / OPENINGS, [np.array(v)[:, None] for v in COBRE_OPENINGS])
    return case


def test_on_cobres_openings_the_bound_is_cobres(tmp_path: Path) -> None:
    study = cobre.load_case(stochastic_d15(tmp_path))
    assert study.entities.sources == (0,)
    assert_reaches(study, COBRE_051_BOUND)


def test_on_caudals_openings_bound_equals_the_deterministic_equivalent(tmp_path: Path) -> None:
    study = cobre.load_case(stochastic_d15(tmp_path, tree=False))
    assert study.noise[0].shape == (3, 1)
    expected = caudal.deterministic_equivalent(study.problem).objective
    bound = caudal.train(study.problem, iterations=10, seed=1).lower_bound
    assert bound == pytest.approx(expected, rel=SAME)
    deterministic = cobre.load_case(DATA / "deterministic" / "d15-non-controllable-source")
    assert expected != pytest.approx(caudal.deterministic_equivalent(deterministic.problem).objective, rel=1e-3)


def test_simulated_availability_follows_each_opening(tmp_path: Path) -> None:
    study = cobre.load_case(stochastic_d15(tmp_path))
    result = caudal.train(study.problem, iterations=5, seed=1)
    table = cobre.simulate(study, result.policy, scenarios=6, seed=2)["non_controllables"]
    available = np.asarray(table.column("available_mw").to_numpy())
    stage = np.asarray(table.column("stage_id").to_numpy())
    possible = {0: {100 * min(max(0.5 + 0.2 * e, 0), 1) for e in COBRE_OPENINGS[0]},
                1: {100 * min(max(0.6 + 0.3 * e, 0), 1) for e in COBRE_OPENINGS[1]}}
    for value, t in zip(available, stage, strict=True):
        assert any(value == pytest.approx(p, rel=SAME) for p in possible[int(t)])
    generation = np.asarray(table.column("generation_mw").to_numpy())
    curtailed = np.asarray(table.column("curtailment_mw").to_numpy())
    assert generation + curtailed == pytest.approx(available)


@pytest.mark.parametrize(
    ("columns", "entity", "field", "words"),
    [
        (stats(ncs=(0, 4)), "source 4, stage 1", "ncs_id", "not defined"),
        (stats(stage=(0, 7)), "source 0, stage 7", "stage_id", "not in stages.json"),
        ({k: v for k, v in stats().items() if k != "std"}, None, "std", "missing"),
        (stats(std=(0.2, -0.1)), "source 0, stage 1", "std", "non-negative"),
    ],
)
def test_bad_stats_fail_naming_file_entity_and_field(
    tmp_path: Path, capsys, columns: dict, entity: str | None, field: str, words: str
) -> None:
    case = stochastic_d15(tmp_path)
    write_stats(case, columns)
    assert_fails_naming(case, capsys, STATS, entity, field, words)


def test_a_tree_without_the_sources_column_is_named(tmp_path: Path, capsys) -> None:
    case = stochastic_d15(tmp_path, tree=False)
    write_noise_openings(case / OPENINGS, [np.zeros((3, 0)), np.zeros((3, 0))])
    assert_fails_naming(case, capsys, OPENINGS, "stage 0", "opening_index", "for each of 1 entities")
    assert json.loads((case / "stages.json").read_text())["stages"][0]["num_scenarios"] == 3


COBRE_018_BOUND = 283_028.6761842942  # Cobre 0.18.0 on the 0.18 case below, its own tree (the same openings)


def test_in_the_018_format_the_bound_is_cobre_018s(tmp_path: Path) -> None:
    from test_cobre_sources import d15_in_018

    case = d15_in_018(tmp_path)

    def openings(d: dict) -> None:
        for stage in d["stages"]:
            stage["num_openings"] = 3

    edit(case, "stages.json", openings)
    edit(case, "config.json", lambda d: d["training"].setdefault("scenario_source", {}).update(
        openings={"source": "file"}))
    write_stats(case, stats())
    write_noise_openings(case / OPENINGS, [np.array(v)[:, None] for v in COBRE_OPENINGS])
    study = cobre.load_case(case)
    assert caudal.deterministic_equivalent(study.problem).objective == pytest.approx(COBRE_018_BOUND, rel=SAME)
    settings = study.training
    bound = caudal.train(study.problem, iterations=settings.iterations, forward_passes=settings.forward_passes,
                         seed=settings.seed).lower_bound
    assert bound == pytest.approx(COBRE_018_BOUND, rel=SAME)
