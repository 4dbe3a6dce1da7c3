"""Loading a trained policy streams a checkpoint directory's stage files into the pools, holding the cuts once.

``caudal.load_policy`` and ``caudal simulate --policy`` give the same policy,
bit for bit, as decoding the whole checkpoint and copying it; a damaged stage
file is named (and an older checkpoint used, as for a damaged single file); a
policy of another case still does not fit; the peak memory of loading is one
copy of the pools, not two.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from test_checkpoint_cases import deactivate_some_cuts, trained_state, two_reservoirs
from test_checkpoint_streamed_resume import (
    IN_PARTS,
    OPTIONS,
    _flip_a_byte,
    _wide_checkpoint,
    peak_growth_in_a_fresh_process,
)

import caudal
from caudal.cases import resolve_case
from caudal.checkpoint import CheckpointError, read_checkpoint, restore_pools, write_checkpoint
from caudal.cli import main


@pytest.fixture(scope="module")
def problem():
    return two_reservoirs()


@pytest.fixture(scope="module")
def state(problem):
    trained = trained_state(problem, OPTIONS)
    deactivate_some_cuts(trained)
    return trained


def assert_same_pools(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for name in ("intercepts", "coefficients", "iteration", "forward_pass", "targets", "active"):
            assert getattr(x, name).tobytes() == getattr(y, name).tobytes(), name


@pytest.mark.parametrize("shard_bytes", [1 << 20, IN_PARTS])
def test_load_policy_streams_the_same_policy_as_the_whole_read(tmp_path, problem, state, shard_bytes):
    path = write_checkpoint(tmp_path, state, OPTIONS, as_directory=True, shard_bytes=shard_bytes)
    whole = caudal.Policy(problem, restore_pools(read_checkpoint(path), problem))
    streamed = caudal.load_policy(tmp_path, problem)
    assert streamed.source == str(path)
    assert_same_pools(streamed.cut_pools, whole.cut_pools)
    assert_same_pools(streamed.cut_pools, state.pools)
    a = caudal.simulate(streamed, scenarios=6, seed=3, threads=1)
    b = caudal.simulate(whole, scenarios=6, seed=3, threads=1)
    assert a.total_costs.tobytes() == b.total_costs.tobytes()
    assert a.future_costs.tobytes() == b.future_costs.tobytes()


def test_a_single_file_checkpoint_still_loads_whole(tmp_path, problem, state):
    path = write_checkpoint(tmp_path, state, OPTIONS, as_directory=False)
    assert path.is_file()
    assert_same_pools(caudal.load_policy(tmp_path, problem).cut_pools, state.pools)


def test_a_damaged_stage_file_is_named_and_the_previous_checkpoint_used(tmp_path, problem, state):
    older = write_checkpoint(tmp_path, dataclasses.replace(state, iteration=1, history=state.history[:1]), OPTIONS,
                             as_directory=True, keep=5)
    newer = write_checkpoint(tmp_path, dataclasses.replace(state, iteration=2, history=state.history[:2]), OPTIONS,
                             as_directory=True, keep=5)
    named = _flip_a_byte(newer)
    assert caudal.load_policy(tmp_path, problem).source == str(older)
    _flip_a_byte(older)
    with pytest.raises(CheckpointError) as caught:
        caudal.load_policy(tmp_path, problem)
    text = str(caught.value)
    assert caught.value.kind == "missing" and named in text and f"checkpoint {newer} is damaged" in text, text


def test_a_policy_of_another_case_does_not_fit(tmp_path, state):
    write_checkpoint(tmp_path, state, OPTIONS, as_directory=True)
    with pytest.raises(CheckpointError) as caught:
        caudal.load_policy(tmp_path, two_reservoirs(demand=151.0))
    assert caught.value.kind == "fingerprint" and "another case" in str(caught.value)


# --- the command line: caudal simulate --policy on a checkpoint directory ---


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAUDAL_CHECKPOINT_LAYOUT", "directory")
        assert main(["train", "brazil4", "--stages", "3", "-n", "2", "--quiet", "--threads", "1",
                     "-o", str(folder)]) == 0
    (checkpoint,) = (folder / "checkpoints").glob("checkpoint-*.caudal")
    assert checkpoint.is_dir()
    return folder


def simulate(run, out, *extra):
    return main(["simulate", *extra, "--policy", str(run), "-n", "4", "--threads", "1", "-o", str(out)])


def test_simulate_streams_the_policy_and_gives_the_whole_read_costs(run, tmp_path, capsys):
    assert simulate(run, tmp_path / "sim") == 0
    checkpoint = next((run / "checkpoints").glob("checkpoint-*.caudal"))
    assert f"of the policy in {checkpoint}" in capsys.readouterr().out
    streamed = json.loads((tmp_path / "sim" / "simulation_summary.json").read_text())
    problem = resolve_case("brazil4").build(3).compile()
    whole = caudal.Policy(problem, restore_pools(read_checkpoint(checkpoint), problem))
    costs = caudal.simulate(whole, scenarios=4, seed=0, threads=1).total_costs
    assert streamed["mean"] == pytest.approx(float(np.mean(costs)), rel=1e-12, abs=0)


def test_simulate_names_a_damaged_stage_file(run, tmp_path, capsys):
    damaged = tmp_path / "damaged"
    (damaged / "checkpoints").mkdir(parents=True)
    for source in (run / "checkpoints").glob("checkpoint-*.caudal"):
        target = damaged / "checkpoints" / source.name
        target.mkdir()
        for file in source.iterdir():
            (target / file.name).write_bytes(file.read_bytes())
        named = _flip_a_byte(target)
    assert simulate(damaged, tmp_path / "sim") == 2
    error = capsys.readouterr().err
    assert named in error and "is damaged" in error and "does not fit" not in error, error
    assert not (tmp_path / "sim").exists()


def test_simulate_another_case_still_does_not_fit(run, tmp_path, capsys):
    assert simulate(run, tmp_path / "sim", "national") == 2
    assert "does not fit --policy" in capsys.readouterr().err


# --- peak memory: one copy of the pools, not two ---


def test_loading_a_policy_holds_the_pools_once_not_twice(tmp_path):
    """Peak RSS growth of ``load_policy`` in a fresh process stays under 1.3x the pools it returns.

    Decoding every stage file (mapped whole) before copying it into the pools
    grows it by about 2x the pools; reading stage by stage, by the pools plus
    one stage file (1.5 MB here).
    """
    _wide_checkpoint(tmp_path)
    measured = peak_growth_in_a_fresh_process("""
        policy = caudal.load_policy(sys.argv[1], problem)
        held = sum(p.nbytes for p in policy.cut_pools)
    """, tmp_path)
    assert measured["held"] > 30e6, measured
    assert measured["growth"] < 1.3 * measured["held"], measured
