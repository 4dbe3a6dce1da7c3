"""A checkpoint gives back exactly what was written: every array, bit for bit."""

from __future__ import annotations

import csv
import dataclasses
import mmap

import numpy as np
import pyarrow.parquet as pq
import pytest
from test_checkpoint_cases import assert_same_state, deactivate_some_cuts, trained_state, two_reservoirs

import caudal
from caudal.checkpoint import (
    CheckpointSchedule,
    case_fingerprint,
    export_cuts,
    inspect_checkpoint,
    latest_valid,
    options_fingerprint,
    read_checkpoint,
    restore_state,
    write_checkpoint,
)
from caudal.checkpoint.encode import cut_pool_csr
from caudal.checkpoint.fingerprint import (
    OPTIONS_HASHED_UNLESS_DEFAULT,
    canonical_text,
    policy_options,
)
from caudal.sddp.cuts import CutPool
from caudal.sddp.risk import CVaR
from caudal.sddp.training import TrainingOptions, TrainingState

OPTIONS = TrainingOptions(iterations=4, forward_passes=3, seed=11)


@pytest.fixture(scope="module")
def problem():
    return two_reservoirs()


@pytest.fixture(scope="module")
def state(problem):
    trained = trained_state(problem, OPTIONS)
    deactivate_some_cuts(trained)
    return trained


def test_every_array_round_trips_bit_exact(tmp_path, problem, state):
    visited = [np.random.default_rng(t).normal(size=(t, problem.n_states)) for t in range(problem.n_stages)]
    path = write_checkpoint(tmp_path, state, OPTIONS, visited_states=visited)
    assert path.name == "checkpoint-00000004.caudal"
    checkpoint = read_checkpoint(path)
    assert checkpoint.iteration == 4 and checkpoint.rng_seed == 11 and checkpoint.rng_next_iteration == 4
    assert checkpoint.case_fingerprint == case_fingerprint(problem)
    assert checkpoint.options_fingerprint == options_fingerprint(OPTIONS, problem.n_stages)
    for t, (pool, saved) in enumerate(zip(state.pools, checkpoint.cut_pools, strict=True)):
        assert saved.stage == t
        assert np.array_equal(saved.intercepts, pool.intercepts)
        assert saved.dense_coefficients().tobytes() == pool.coefficients.tobytes()
        assert np.array_equal(saved.iteration, pool.iteration)
        assert np.array_equal(saved.forward_pass, pool.forward_pass)
        assert np.array_equal(saved.active, pool.active)
    for t, (basis, saved) in enumerate(zip(state.cache.bases, checkpoint.bases, strict=True)):
        assert np.array_equal(saved.col_status, basis.col_status)
        assert np.array_equal(saved.row_status, basis.row_status)
        assert np.array_equal(saved.cut_ids, state.cache.lps[t].cut_ids)
    for t, rows in enumerate(visited):
        assert checkpoint.visited_states[t].tobytes() == rows.tobytes()
    history = checkpoint.history.records()
    assert history == state.history


def test_restore_rebuilds_the_same_state(tmp_path, problem, state):
    checkpoint = read_checkpoint(write_checkpoint(tmp_path, state, OPTIONS))
    restored = restore_state(checkpoint, problem, OPTIONS)
    assert_same_state(state, restored)
    # the restored state owns its arrays: it does not depend on the file mapping
    assert all(pool.coefficients.flags.writeable for pool in restored.pools)
    assert all(b.row_status.flags.writeable for b in restored.cache.bases)


def test_arrays_are_zero_copy_views_of_the_file(tmp_path, state):
    checkpoint = read_checkpoint(write_checkpoint(tmp_path, state, OPTIONS))
    intercepts = checkpoint.cut_pools[0].intercepts
    assert not intercepts.flags.owndata and not intercepts.flags.writeable
    owner = intercepts
    while isinstance(owner, np.ndarray | memoryview):
        owner = owner.base if isinstance(owner, np.ndarray) else owner.obj
    assert isinstance(owner, mmap.mmap)
    in_memory = read_checkpoint(checkpoint.path, use_mmap=False)
    assert np.array_equal(in_memory.cut_pools[0].intercepts, intercepts)


def test_csr_keeps_negative_zero_and_drops_positive_zero():
    pool = CutPool(3)
    coefficients = np.array([[1.5, 0.0, -0.0], [0.0, 0.0, 0.0], [-2.0, 3.0, 1e-300]])
    pool.add(np.array([1.0, 2.0, 3.0]), coefficients, 0, np.arange(3))
    offsets, columns, values = cut_pool_csr(pool)
    assert offsets.tolist() == [0, 2, 2, 5]
    assert columns.tolist() == [0, 2, 0, 1, 2]
    assert np.signbit(values[1]) and values[1] == 0.0


def test_an_untrained_state_round_trips(tmp_path, problem):
    fresh = TrainingState.fresh(problem)
    checkpoint = read_checkpoint(write_checkpoint(tmp_path, fresh, OPTIONS))
    assert checkpoint.iteration == 0 and checkpoint.n_cuts == 0 and checkpoint.lower_bound is None
    assert_same_state(fresh, restore_state(checkpoint, problem, OPTIONS))


def test_options_and_layout_are_recorded(tmp_path, problem, state):
    options = TrainingOptions(iterations=4, forward_passes=3, seed=11, time_limit=3600.0)
    layout = {
        "ranks": 2,
        "threads": 4,
        "workers": [{"rank": r, "thread": k, "hostname": f"node{r}", "cpu": 4 * r + k} for r in (0, 1) for k in (0, 1)],
    }
    checkpoint = read_checkpoint(write_checkpoint(tmp_path, state, options, layout=layout))
    assert checkpoint.options.time_limit == 3600.0 and checkpoint.options.iterations == 4
    extra = checkpoint.options.extra
    assert extra["risk_measure"] == "None"
    typed = {"iterations", "forward_passes", "seed", "time_limit"}
    # newer options are recorded only when they differ from what runs did before them
    at_default = {name for name, text in OPTIONS_HASHED_UNLESS_DEFAULT.items()
                  if canonical_text(getattr(options, name)) == text}
    assert set(extra) == {f.name for f in dataclasses.fields(TrainingOptions)} - typed - at_default
    assert checkpoint.writer.ranks == 2 and checkpoint.writer.threads_per_rank == 4
    assert [(w.rank, w.thread, w.hostname, w.cpu) for w in checkpoint.writer.workers][-1] == (1, 1, "node1", 5)
    assert checkpoint.writer.caudal_version == caudal.__version__


def test_unsplit_checkpoints_keep_their_fingerprint_and_differ_from_split_runs():
    """A checkpoint written before the opening split (no split) resumes under the default, not under a split."""
    unsplit = TrainingOptions(iterations=1, opening_chunk=0)
    assert "opening_chunk" not in policy_options(unsplit)
    assert options_fingerprint(unsplit) == options_fingerprint(TrainingOptions(iterations=1))
    assert options_fingerprint(unsplit) != options_fingerprint(TrainingOptions(iterations=1, opening_chunk="auto"))
    assert options_fingerprint(unsplit) != options_fingerprint(TrainingOptions(iterations=1, opening_chunk=41))


def test_risk_measure_functions_are_fingerprinted_by_their_values(problem):
    """A lambda's repr holds its address; the fingerprint must not."""
    a = TrainingOptions(iterations=1, risk_measure=lambda t: CVaR(0.5))
    b = TrainingOptions(iterations=1, risk_measure=lambda t: CVaR(0.5))
    c = TrainingOptions(iterations=1, risk_measure=lambda t: CVaR(0.25))
    n = problem.n_stages
    assert options_fingerprint(a, n) == options_fingerprint(b, n) != options_fingerprint(c, n)
    assert options_fingerprint(TrainingOptions(iterations=1, risk_measure=CVaR(0.5)), n) == options_fingerprint(
        TrainingOptions(iterations=9, time_limit=5.0, risk_measure=CVaR(0.5)), n
    )


def test_keeps_the_last_k_and_never_touches_newer_ones(tmp_path, problem, state):
    def at(iteration: int) -> TrainingState:
        return dataclasses.replace(state, iteration=iteration, history=state.history[:iteration])

    for iteration in (1, 2, 3, 4):
        write_checkpoint(tmp_path, at(iteration), OPTIONS, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-00000003.caudal", "checkpoint-00000004.caudal"]
    write_checkpoint(tmp_path, at(2), OPTIONS, keep=1)  # a run resumed from an older checkpoint
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["checkpoint-00000002.caudal", "checkpoint-00000003.caudal", "checkpoint-00000004.caudal"]
    assert all(read_checkpoint(tmp_path / name).iteration == int(name[11:19]) for name in names)


def test_inspect_and_latest_valid(tmp_path, state):
    path = write_checkpoint(tmp_path, state, OPTIONS)
    text = inspect_checkpoint(path)
    assert str(path) in text
    assert "verified: yes" in text and "iterations completed: 4" in text
    assert f"lower bound {state.history[-1].lower_bound:.10g}" in text
    counts = [pool.size for pool in state.pools]
    assert f"cuts: {sum(counts)}" in text and f"stages 0-{len(counts) - 2}: {counts[0]}" in text
    assert latest_valid(tmp_path) == (path, [])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_cuts(tmp_path, problem, state, suffix):
    path = write_checkpoint(tmp_path, state, OPTIONS)
    out = export_cuts(path, tmp_path / f"cuts{suffix}")
    if suffix == ".parquet":
        table = pq.read_table(out).to_pydict()
    else:
        with open(out, newline="") as stream:
            rows = list(csv.DictReader(stream))
        table = {key: [row[key] for row in rows] for key in rows[0]}
    expected = ["stage", "cut_id", "iteration", "forward_pass", "active", "intercept", "coef_north", "coef_south"]
    assert list(table) == expected
    n = sum(pool.size for pool in state.pools)
    assert len(table["stage"]) == n
    pool = state.pools[1]
    first = [k for k in range(n) if int(table["stage"][k]) == 2][0]  # stages count from 1: pools[1] is stage 2
    for j in range(pool.size):
        assert float(table["intercept"][first + j]) == pool.intercepts[j]  # exact: shortest round-trip text
        assert float(table["coef_south"][first + j]) == pool.coefficients[j, 1]
        assert str(table["active"][first + j]).lower() == str(bool(pool.active[j])).lower()


def test_schedule_every_iterations_and_seconds():
    schedule = CheckpointSchedule(every_iterations=5, every_seconds=None, started=0.0)
    assert [i for i in range(1, 16) if schedule.due(i, 0.0)] == [5, 10, 15]
    schedule.written(5, 0.0)
    assert not schedule.due(5, 0.0)
    timed = CheckpointSchedule(every_iterations=None, every_seconds=60.0, started=100.0)
    assert not timed.due(1, 159.0) and timed.due(1, 160.0)
    timed.written(1, 160.0)
    assert not timed.due(2, 200.0) and timed.due(3, 220.0)
    both = CheckpointSchedule(every_iterations=10, every_seconds=60.0, started=0.0)
    assert both.due(10, 1.0) and both.due(3, 61.0) and not both.due(0, 1e9)
    never = CheckpointSchedule(every_iterations=None, every_seconds=None)
    assert not any(never.due(i, 1e9) for i in range(1, 50))
    with pytest.raises(ValueError):
        CheckpointSchedule(every_iterations=0)
