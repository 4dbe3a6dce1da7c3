"""Spatially correlated noise (``scenarios/correlation.json``, ``correlation.py``), in both formats.

``data/cobre/correlation/4ree-three-stages`` (see data/cobre/README.md) is 4ree
cut to three stages, hydros 0, 1 and 2 correlated, with the opening tree Cobre
0.5.1 exported training it. ``COBRE_051_BOUND`` is the lower bound Cobre 0.5.1
reached on it (cobre-python 0.5.1, ``cobre.run.run(case, output_dir=...,
threads=1, skip_simulation=True)``, 300 iterations x 4 forward passes): the
three-stage problem is then solved, so caudal's deterministic equivalent on the
same tree must give it. The correlations of Cobre's exported tree are the
matrix's (0.83, 0.30, 0.46 against 0.8, 0.3, 0.5 over 4ree's 120 draws:
measured on the same case with all 12 stages; Cobre 0.18.0 exports the very
same tree for 4ree in its format), so Cobre correlates the standard noise of
its openings, and caudal does the same to its own tree. ``COBRE_018_BOUND`` is
Cobre 0.18.0's bound on the three-stage cut of ``cases-0.18/4ree`` with the same
``correlation.json`` and tree (``training.scenario_source.openings`` from the
file; ``cobre.run.run(case, output_dir=..., threads=1)``, 300 iterations).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, assert_fails_naming, edit

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre.correlation import FILE, square_root
from caudal.hydro.cobre.openings import generate_noise
from caudal.hydro.cobre.out_of_sample import out_of_sample_noise

CASE = DATA / "correlation" / "4ree-three-stages"
COBRE_051_BOUND = 2689565809.8887615
COBRE_018_BOUND = 2689565809.88865
MATRIX = np.array([[1.0, 0.8, 0.3], [0.8, 1.0, 0.5], [0.3, 0.5, 1.0]])


@pytest.fixture
def generated(tmp_path: Path) -> Path:
    """The case without Cobre's tree: caudal draws its own, correlated."""
    case = tmp_path / "case"
    shutil.copytree(CASE, case)
    (case / "scenarios" / "noise_openings.parquet").unlink()
    return case


def correlations(case: Path, openings: int = 20000) -> np.ndarray:
    """The empirical correlations of caudal's tree for ``case`` with many openings in its first stage."""
    study = cobre.load_case(case)
    many = replace(study.case, stages=(replace(study.case.stages[0], openings=openings),))
    return np.corrcoef(generate_noise(many, seed=5)[0].T)


def test_cobres_tree_gives_cobres_bound() -> None:
    study = cobre.load_case(CASE)
    assert study.noise_source == "file" and study.case.correlation is not None
    equivalent = caudal.deterministic_equivalent(study.problem).objective
    assert equivalent == pytest.approx(COBRE_051_BOUND, rel=1e-9)
    bound = caudal.train(study.problem, iterations=300, forward_passes=4, seed=1).lower_bound
    assert bound == pytest.approx(equivalent, rel=1e-9)


def test_the_018_case_on_cobres_tree_gives_cobre_0180s_bound(tmp_path: Path) -> None:
    case = tmp_path / "4ree-018"
    shutil.copytree(DATA / "cases-0.18" / "4ree", case)
    edit(case, "stages.json", lambda d: d.update(stages=d["stages"][:3]))
    for name in ("inflow_seasonal_stats", "load_seasonal_stats"):
        table = pq.read_table(case / "scenarios" / f"{name}.parquet")
        pq.write_table(table.filter(pc.less(table["stage_id"], 3)), case / "scenarios" / f"{name}.parquet")
    for name in ("correlation.json", "noise_openings.parquet"):
        shutil.copy(CASE / "scenarios" / name, case / "scenarios" / name)
    edit(case, "config.json", lambda d: d["training"]["scenario_source"].update(openings={"source": "file"}))
    study = cobre.load_case(case)
    assert study.noise_source == "file" and study.case.correlation is not None
    assert caudal.deterministic_equivalent(study.problem).objective == pytest.approx(COBRE_018_BOUND, rel=1e-9)


def test_caudals_tree_has_the_matrixs_correlations(generated: Path) -> None:
    measured = correlations(generated)
    assert np.abs(measured[:3, :3] - MATRIX).max() < 0.03
    assert np.abs(measured[3, :3]).max() < 0.03  # hydro 3 is in no group


def test_a_perfect_correlation_draws_one_noise(generated: Path) -> None:
    edit(generated, FILE, lambda d: d["profiles"]["default"]["correlation_groups"][0].update(
        entities=[{"type": "inflow", "id": 1}, {"type": "inflow", "id": 3}], matrix=[[1.0, 1.0], [1.0, 1.0]]))
    noise = np.concatenate(cobre.load_case(generated).noise)
    assert np.allclose(noise[:, 1], noise[:, 3], rtol=0, atol=1e-12)
    assert np.std(noise[:, 1]) == pytest.approx(1.0, abs=0.3)


def test_the_square_root_is_symmetric_and_squares_back() -> None:
    root = square_root(MATRIX)
    assert np.allclose(root, root.T, atol=1e-15) and np.allclose(root @ root, MATRIX, atol=1e-12)


def test_out_of_sample_noise_is_correlated_too(generated: Path) -> None:
    study = cobre.load_case(generated)
    many = replace(study.case, stages=(replace(study.case.stages[0], openings=20000),))
    measured = np.corrcoef(out_of_sample_noise(many, study.entities, seed=3)[0].T)
    assert np.abs(measured[:3, :3] - MATRIX).max() < 0.03


def test_the_schedule_gives_a_stage_its_profile(generated: Path) -> None:
    def two_profiles(doc: dict) -> None:
        doc["profiles"]["dry"] = {"correlation_groups": [{"name": "pair", "entities": [
            {"type": "inflow", "id": 0}, {"type": "inflow", "id": 3}], "matrix": [[1.0, -0.9], [-0.9, 1.0]]}]}
        doc["schedule"] = [{"stage_id": 0, "profile_name": "dry"}]
    edit(generated, FILE, two_profiles)
    study = cobre.load_case(generated)
    assert [study.case.correlation.profile_of_stage[s.id] for s in study.case.stages] == ["dry", "default", "default"]
    measured = correlations(generated)
    assert measured[0, 3] == pytest.approx(-0.9, abs=0.03) and abs(measured[0, 1]) < 0.03


def test_the_same_seed_gives_the_same_correlated_tree(generated: Path) -> None:
    first, second = cobre.load_case(generated).noise, cobre.load_case(generated).noise
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize(
    ("change", "entity", "field", "words"),
    [
        (lambda g: g.update(matrix=[[1.0, 0.8, 0.3], [0.7, 1.0, 0.5], [0.3, 0.5, 1.0]]), "correlation group 'g'",
         "matrix", "symmetric"),
        (lambda g: g.update(matrix=[[1.0, 0.8], [0.8, 1.0]]), "correlation group 'g'", "matrix", "3 x 3"),
        (lambda g: g.update(matrix=[[0.9, 0.8, 0.3], [0.8, 1.0, 0.5], [0.3, 0.5, 1.0]]), "correlation group 'g'",
         "matrix", "diagonal"),
        (lambda g: g.update(matrix=[[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]]), "correlation group 'g'",
         "matrix", "eigenvalue"),
        (lambda g: g["entities"][2].update(id=9), "profile 'default', correlation group 'g'", "entities[2].id",
         "inflow 9"),
        (lambda g: g["entities"][2].update(type="load"), "correlation group 'g'", "entities", "mixes"),
        (lambda g: g["entities"][2].update(type="wind"), "correlation group 'g'", "entities[2].type", "one of"),
        (lambda g: g["entities"][2].update(id=0), "correlation group 'g'", "entities", "twice"),
    ],
)
def test_a_bad_group_is_an_error_naming_it(generated: Path, capsys: pytest.CaptureFixture, change, entity: str,
                                          field: str, words: str) -> None:
    edit(generated, FILE, lambda d: change(d["profiles"]["default"]["correlation_groups"][0]))
    assert_fails_naming(generated, capsys, FILE, entity, field, words)


def test_several_profiles_need_a_default_or_a_full_schedule(generated: Path, capsys: pytest.CaptureFixture) -> None:
    edit(generated, FILE, lambda d: d.update(profiles={"wet": d["profiles"]["default"],
                                                       "dry": d["profiles"]["default"]}))
    assert_fails_naming(generated, capsys, FILE, None, "profiles", "none named 'default'")
    edit(generated, FILE, lambda d: d.update(schedule=[{"stage_id": s, "profile_name": "wet"} for s in range(3)]))
    assert cobre.load_case(generated).case.correlation.profile_of_stage == {0: "wet", 1: "wet", 2: "wet"}


def test_a_schedule_naming_an_unknown_profile_or_stage_is_an_error(generated: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    edit(generated, FILE, lambda d: d.update(schedule=[{"stage_id": 0, "profile_name": "wet"}]))
    assert_fails_naming(generated, capsys, FILE, None, "schedule[0].profile_name", "'wet'")
    edit(generated, FILE, lambda d: d.update(schedule=[{"stage_id": 7, "profile_name": "default"}]))
    assert_fails_naming(generated, capsys, FILE, None, "schedule[0].stage_id", "stage 7")


def test_an_entity_in_two_groups_is_an_error(generated: Path, capsys: pytest.CaptureFixture) -> None:
    edit(generated, FILE, lambda d: d["profiles"]["default"]["correlation_groups"].append(
        {"name": "h", "entities": [{"type": "inflow", "id": 2}, {"type": "inflow", "id": 3}],
         "matrix": [[1.0, 0.1], [0.1, 1.0]]}))
    assert_fails_naming(generated, capsys, FILE, "profile 'default'", "correlation_groups", "groups 'g' and 'h'")


def test_a_load_without_deviation_leaves_its_group(generated: Path) -> None:
    """4ree's loads have no deviation, so no noise column: the group's other entities keep their correlation."""
    edit(generated, FILE, lambda d: d["profiles"]["default"]["correlation_groups"].append(
        {"name": "loads", "entities": [{"type": "load", "id": 0}, {"type": "load", "id": 1}],
         "matrix": [[1.0, 0.5], [0.5, 1.0]]}))
    study = cobre.load_case(generated)
    assert study.entities.load_buses == ()
    assert np.abs(correlations(generated)[:3, :3] - MATRIX).max() < 0.03
