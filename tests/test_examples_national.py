"""The national-size synthetic system: seeded, shaped like the real one, the same problem as its Cobre case."""

import dataclasses
from collections import Counter

import numpy as np
import pytest

import caudal
from caudal.examples.national_case import MAX_CASCADE, NationalSize, generate, main, with_training, write_case
from caudal.hydro import cobre

TINY = NationalSize(hydros=6, thermals=4, subsystems=2, stages=3, openings=2, par_order=2, seed=3)


def _same_case(a, b) -> bool:
    fields = [f.name for f in dataclasses.fields(a) if f.name not in ("root", "noise_openings")]
    return all(getattr(a, name) == getattr(b, name) for name in fields)


def test_the_same_seed_draws_the_same_system_and_another_seed_another():
    size = NationalSize(hydros=30, thermals=12, subsystems=3, stages=4, openings=3, seed=7)
    first, again, other = generate(size), generate(size), generate(dataclasses.replace(size, seed=8))
    assert _same_case(first.case, again.case)
    assert all(np.array_equal(x, y) for x, y in zip(first.noise, again.noise, strict=True))
    assert not _same_case(first.case, other.case)


def test_the_default_size_is_the_national_one():
    system = generate(NationalSize())
    case = system.case
    assert (len(case.hydros), len(case.thermals), len(case.buses), len(case.stages)) == (160, 130, 5, 120)
    assert all(s.openings == 20 and len(s.blocks) == 3 for s in case.stages)
    assert 15 <= len(system.basins) <= 25
    assert max(len(b) for b in system.basins) <= MAX_CASCADE
    assert max(len(b) for b in system.basins) >= 8
    assert len(case.lines) >= len(case.buses) - 1
    assert all(len(b.deficit) == 4 for b in case.buses)
    # every subsystem has hydro and thermal plants
    assert {h.bus for h in case.hydros} == {t.bus for t in case.thermals} == set(range(5))


def test_cascades_run_of_river_plants_and_par_lags():
    system = generate(NationalSize(hydros=60, thermals=10, subsystems=4, stages=2, openings=2, seed=1))
    case = system.case
    by_id = {h.id: h for h in case.hydros}
    for basin in system.basins:
        members = set(basin)
        outlets = [h for h in basin if by_id[h].downstream is None]
        assert len(outlets) == 1  # each basin drains through one plant
        assert all(by_id[h].downstream in members for h in basin if h not in outlets)
        assert len({by_id[h].bus for h in basin}) == 1
    # run-of-river plants (a pondage of days) sit in the same basins as reservoirs holding months
    monthly_inflow = {h.id: case.inflow_stats.get(h.id, 0)[0] * 2.63 for h in case.hydros}
    run_of_river = {h.id for h in case.hydros if h.max_storage < 0.2 * monthly_inflow[h.id]}
    assert 0.15 < len(run_of_river) / len(case.hydros) < 0.6
    assert any(set(b) & run_of_river and set(b) - run_of_river for b in system.basins)
    # PAR(1) or PAR(2) per plant, its lags states of the stage LP next to the storages
    orders = Counter(len(case.ar_models[(h.id, 0)].coefficients) for h in case.hydros)
    assert set(orders) == {1, 2}
    compiled = system.problem().compile()
    lag_states = [n for n in compiled.state_names if n.startswith("inflow_lag")]
    assert len(lag_states) == orders[1] + 2 * orders[2]
    assert compiled.n_states == len(case.hydros) + len(lag_states)
    # seasonal statistics: the mean inflow of a plant changes with the month
    means = [case.inflow_stats.get(0, s)[0] for s in (0, 1)]
    assert means[0] != means[1]


def test_the_written_case_directory_is_the_same_problem(tmp_path):
    system = generate(TINY)
    write_case(system, tmp_path / "case")
    study = cobre.load_case(tmp_path / "case")
    assert study.noise_source == "file"
    assert _same_case(system.case, study.case)
    mine, read = system.problem().compile(), study.problem.compile()
    for a, b in zip(mine.templates, read.templates, strict=True):
        for name in ("col_start", "row_index", "values", "col_cost", "col_lower", "col_upper", "row_lower",
                     "row_upper", "row_patch_lower", "row_patch_upper", "col_patch_lower", "col_patch_upper"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert a.discount == b.discount
    assert caudal.deterministic_equivalent(system.problem()).objective == (
        caudal.deterministic_equivalent(study.problem).objective
    )


def test_a_tiny_instance_trains_to_its_deterministic_equivalent():
    problem = caudal.examples.national(hydros=6, thermals=4, subsystems=2, stages=3, openings=2, seed=3)
    exact = caudal.deterministic_equivalent(problem).objective
    result = caudal.train(problem, iterations=40, forward_passes=2, seed=0, threads=1)
    assert result.lower_bound == pytest.approx(exact, rel=1e-6)
    assert result.lower_bound <= exact * (1 + 1e-9)


def test_the_command_writes_a_case_and_refuses_a_bad_size(tmp_path, capsys):
    assert main(["-o", str(tmp_path / "c"), "--hydros", "5", "--thermals", "3", "--subsystems", "2",
                 "--stages", "2", "--openings", "2", "--iterations", "7", "--forward-passes", "3"]) == 0
    study = cobre.load_case(tmp_path / "c")
    assert (study.training.iterations, study.training.forward_passes) == (7, 3)
    assert len(study.case.hydros) == 5
    with pytest.raises(SystemExit) as exit_info:
        main(["-o", str(tmp_path / "d"), "--hydros", "0"])
    assert exit_info.value.code == 2
    assert "hydros must be at least 1" in capsys.readouterr().err


def test_caudal_train_knows_the_national_case():
    from caudal.cases import resolve_case

    problem = resolve_case("national").build(stages=2).compile()
    assert problem.n_stages == 2
    assert sum(name.startswith("storage[") for name in problem.state_names) == 160


def test_the_train_command_compiles_before_training_and_trains_the_same_policy(tmp_path, monkeypatch):
    """``caudal train`` compiles the case itself and lets the builders go: the policy is the API's, bit for bit.

    And the builders really go: once ``caudal train`` has compiled the case, no
    :class:`~caudal.model.problem.Problem` of it is alive during the training.
    """
    import gc

    from caudal.api import train as api_train
    from caudal.cli import main as cli_main
    from caudal.model.problem import Problem

    write_case(with_training(generate(TINY), iterations=3, forward_passes=2), tmp_path / "case")
    alive_during_training = []

    def counting_train(problem, **options):
        gc.collect()
        alive_during_training.append(sum(isinstance(thing, Problem) for thing in gc.get_objects()))
        return api_train(problem, **options)

    monkeypatch.setattr("caudal.cli.train", counting_train)
    assert cli_main(["train", str(tmp_path / "case"), "--quiet", "--threads", "1", "-o", str(tmp_path / "run")]) == 0
    assert alive_during_training == [0]
    study = cobre.load_case(tmp_path / "case")
    expected = caudal.train(study.problem, iterations=3, forward_passes=2, seed=study.training.seed, threads=1)
    trained = caudal.load_policy(tmp_path / "run", problem=study.problem)
    assert trained.digest() == expected.policy.digest()
    for mine, theirs in zip(trained.cut_pools, expected.policy.cut_pools, strict=True):
        assert np.array_equal(mine.intercepts, theirs.intercepts)
        assert np.array_equal(mine.coefficients, theirs.coefficients)
