"""Multi-rank behaviour, run under ``mpiexec`` (ranks x threads layouts).

* The same seed gives bit-identical cuts and bounds whatever the layout.
* A rank that fails ends the whole job quickly, with its error printed once.
* The stage LP cache lives once per node in shared memory.
* With ``CAUDAL_RANKS_PER_NODE=2``, 4 ranks form 2 emulated nodes on this host, each
  with its own leader and shared windows: the multi-node code paths run, and give
  the same cuts and bounds as one rank.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from mpi_helpers import CASES, run_ranks, train_ranks

LAYOUTS = [(1, 1), (1, 2), (2, 1), (3, 1), (2, 2)]


def _bound_columns(rows: list[str]) -> list[str]:
    """The convergence rows without the timing column (which differs run to run)."""
    kept = []
    for row in rows:
        fields = row.split(",")
        kept.append(",".join(fields[:5] + fields[6:]))
    return kept


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    return train_ranks(1, 1, "brazil4", out, "--stages", "4", "--iterations", "4", "--forward-passes", "5")


@pytest.mark.parametrize("ranks,threads", LAYOUTS[1:])
@pytest.mark.mpi
def test_same_seed_same_cuts_and_bounds_whatever_the_layout(reference, tmp_path, ranks, threads):
    summary = train_ranks(
        ranks, threads, "brazil4", tmp_path, "--stages", "4", "--iterations", "4", "--forward-passes", "5"
    )
    assert summary["policy_digest"] == reference["policy_digest"]
    assert summary["cuts"] == reference["cuts"] == 3 * 4 * 5
    assert _bound_columns(summary["convergence"]) == _bound_columns(reference["convergence"])


SPLIT = ("--stages", "4", "--iterations", "4", "--forward-passes", "1", "--opening-chunk", "7")
"""One forward pass, its openings in chunks of 7: a second thread has work only through the split."""


@pytest.fixture(scope="module")
def split_reference(tmp_path_factory):
    return train_ranks(1, 1, "brazil4", tmp_path_factory.mktemp("split"), *SPLIT)


@pytest.mark.mpi
@pytest.mark.parametrize("ranks,threads", [(1, 2), (2, 1), (2, 2)])
def test_split_openings_give_the_same_cuts_and_bounds_whatever_the_layout(split_reference, tmp_path, ranks, threads):
    summary = train_ranks(ranks, threads, "brazil4", tmp_path, *SPLIT)
    assert summary["policy_digest"] == split_reference["policy_digest"]
    assert summary["cuts"] == split_reference["cuts"] == 3 * 4
    assert _bound_columns(summary["convergence"]) == _bound_columns(split_reference["convergence"])


DEFAULT_SPLIT = ("--stages", "4", "--iterations", "4", "--forward-passes", "1", "--opening-chunk", "auto")
"""One forward pass with the automatic opening split (brazil4's 82 openings in two chunks of 41)."""


@pytest.fixture(scope="module")
def default_split_reference(tmp_path_factory):
    return train_ranks(1, 1, "brazil4", tmp_path_factory.mktemp("default_split"), *DEFAULT_SPLIT)


@pytest.mark.mpi
@pytest.mark.parametrize("ranks,threads", [(1, 2), (2, 1), (2, 2)])
def test_auto_split_gives_the_same_cuts_and_bounds_whatever_the_layout(
    default_split_reference, tmp_path, ranks, threads
):
    summary = train_ranks(ranks, threads, "brazil4", tmp_path, *DEFAULT_SPLIT)
    assert summary["policy_digest"] == default_split_reference["policy_digest"]
    assert summary["cuts"] == default_split_reference["cuts"] == 3 * 4
    assert _bound_columns(summary["convergence"]) == _bound_columns(default_split_reference["convergence"])


@pytest.mark.mpi
def test_emulated_nodes_give_the_same_cuts_and_bounds(reference, tmp_path):
    """4 ranks as 2 emulated nodes of 2: two leaders, two shared caches, the leaders' gathers."""
    result = run_ranks(4, ["-m", "caudal", "train", "brazil4", "--output", str(tmp_path),
                           "--stages", "4", "--iterations", "4", "--forward-passes", "5"],
                       env={"CAUDAL_RANKS_PER_NODE": "2"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 ranks on 2 nodes (emulated, 2 ranks each)" in result.stdout + result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["policy_digest"] == reference["policy_digest"]
    convergence = (tmp_path / "convergence.csv").read_text().splitlines()
    assert _bound_columns(convergence) == _bound_columns(reference["convergence"])


@pytest.mark.mpi
def test_layout_check_can_fail(reference, tmp_path):
    """Another seed must give another digest, or the comparison above proves nothing."""
    summary = train_ranks(
        2, 1, "brazil4", tmp_path, "--stages", "4", "--iterations", "4", "--forward-passes", "5", "--seed", "1"
    )
    assert summary["policy_digest"] != reference["policy_digest"]


@pytest.mark.mpi
def test_failure_on_one_rank_ends_the_job(tmp_path):
    started = time.monotonic()
    result = run_ranks(
        2,
        ["-m", "caudal", "train", str(CASES / "first_steps.py"), "--iterations", "50"],
        env={"CAUDAL_TEST_FAIL_RANK": "1"},
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert elapsed < 30, f"the job took {elapsed:.1f}s to end"
    assert result.stderr.count("deliberate failure on rank 1") == 1, result.stderr
    assert "rank 1 of 2" in result.stderr


SHARED_CACHE_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import caudal
    from caudal.examples import brazil4
    from caudal.parallel.comm import world
    from caudal.sddp.shared_stage_cache import SharedStageCache, private_cache_bytes
    from caudal.sddp.training import TrainingState

    comm = world()
    state = TrainingState.fresh(brazil4(stages=3, openings=3).compile(), comm)
    cache = state.cache
    assert isinstance(cache, SharedStageCache), type(cache)
    # add cuts on every rank (identical pools), refresh: the leader writes, all read
    pool = state.pools[0]
    rng = np.random.default_rng(0)
    pool.add(rng.random(7), rng.random((7, pool.n_states)), 0, np.arange(7))
    cache.refresh(0)
    lp = cache.lps[0]
    digest = np.array([lp.values.sum(), lp.row_lower[-7:].sum(), lp.num_rows], dtype=np.float64)
    everyone = comm.allgather_rows(digest[None, :])
    assert (everyone == everyone[0]).all(), everyone
    assert lp.num_rows == lp.template.num_rows + 7
    assert np.array_equal(lp.row_lower[-7:], pool.intercepts)
    if comm.node_rank != 0:
        assert not lp.values.flags.writeable
    # memory: no rank holds a private copy; every stage LP array is a view of its node's shared array
    for t, stage in enumerate(cache.lps):
        for name in ("col_start", "row_index", "values", "row_lower", "row_upper"):
            assert np.shares_memory(getattr(stage, name), cache._memory[t].array), (comm.rank, t, name)
    # one line from rank 0 (the ranks' own lines could interleave in mpiexec's output)
    leader = comm.node_rank == 0
    reports = comm.allgather_rows(
        np.array([[comm.rank, cache.shared_bytes() if leader else 0, private_cache_bytes(cache), comm.n_nodes]]))
    if comm.rank == 0:
        window = sorted({int(b) for b in reports[:, 1] if b})
        assert len(window) == 1 and window[0] >= reports[0, 2], reports  # each node: one copy, the same size
        print("ranks ok:", sorted(int(r) for r in reports[:, 0]), "nodes", int(reports[0, 3]),
              "leaders", [int(r) for r, b in reports[:, :2] if b], "node bytes", window[0])
    """
)


@pytest.mark.mpi
@pytest.mark.parametrize("ranks,per_node,expected", [
    (2, "", "ranks ok: [0, 1] nodes 1 leaders [0]"),
    (4, "2", "ranks ok: [0, 1, 2, 3] nodes 2 leaders [0, 2]"),
])
def test_stage_lp_cache_is_shared_on_the_node(tmp_path, ranks, per_node, expected):
    script = tmp_path / "shared_cache.py"
    script.write_text(SHARED_CACHE_SCRIPT)
    result = run_ranks(ranks, [str(script)], env={"CAUDAL_RANKS_PER_NODE": per_node}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert expected in result.stdout, result.stdout


SHARED_POOLS_SCRIPT = textwrap.dedent(
    """
    import hashlib
    import numpy as np
    from caudal.examples import brazil4
    from caudal.parallel.comm import SingleProcessCommunicator, world
    from caudal.parallel.pool import SerialPool
    from caudal.sddp.selection import LimitedMemoryLevel1
    from caudal.sddp.training import TrainingOptions, TrainingState, run_training
    from caudal.solver.highspy_workspace import HighspyWorkspace

    def train(comm):
        problem = brazil4(stages=3, openings=3).compile()
        state = TrainingState.fresh(problem, comm)
        # 9 iterations x 8 passes: 72 cuts a stage, past the first capacity (64), so the pools grow
        options = TrainingOptions(iterations=9, forward_passes=8, seed=3, cut_selection=LimitedMemoryLevel1())
        run_training(state, SerialPool(HighspyWorkspace()), options, comm=comm)
        return state

    def digest(state):
        hasher = hashlib.blake2b(digest_size=16)
        for pool, archive in zip(state.pools, state.visited):
            for array in (pool.intercepts, pool.coefficients, pool.iteration, pool.forward_pass, pool.targets,
                          pool.active, archive.states):
                hasher.update(np.ascontiguousarray(array).tobytes())
        return hasher.hexdigest()

    comm = world()
    state = train(comm)
    assert state.pools[0].size == 72 and state.pools[0]._columns.capacity == 128  # grew from 64
    assert not state.pools[0].active.all()  # selection wrote flags
    # no private copy: every pool and archive array is a view of the node's one shared array
    for t, (pool, archive) in enumerate(zip(state.pools[:-1], state.visited)):  # the last stage has no cuts
        assert pool.size and archive.size, (t, pool.size, archive.size)
        node_memory = pool._columns._memory.array
        for name in ("intercepts", "coefficients", "iteration", "forward_pass", "targets", "active"):
            array = getattr(pool, name)
            assert np.shares_memory(array, node_memory), (comm.rank, t, name)
            assert array.flags.writeable == (comm.node_rank == 0), (comm.rank, t, name)
        assert np.shares_memory(archive.states, archive._columns._memory.array), (comm.rank, t)
        reserve = state.cache.lps[t].reserve
        if reserve is not None:  # the working-set reserve reads the pool's own arrays
            assert np.shares_memory(reserve.coefficients, node_memory), (comm.rank, t)
            assert np.shares_memory(reserve.ids, state.cache._memory[t].array), (comm.rank, t)  # chosen once
    mine = np.frombuffer(digest(state).encode(), dtype=np.uint8)
    everyone = comm.allgather_rows(mine[None, :])
    if comm.rank == 0:
        alone = digest(train(SingleProcessCommunicator()))
        assert all(bytes(row).decode() == alone for row in everyone), (alone, everyone)
        print("pools shared, same digest as one process:", alone, "nodes", comm.n_nodes)
    """
)


@pytest.mark.mpi
@pytest.mark.parametrize("ranks,per_node,nodes", [(2, "", 1), (4, "2", 2)])
def test_cut_pools_are_node_shared_and_train_as_one_process(tmp_path, ranks, per_node, nodes):
    """Pools and visited states live once per node (views on every rank), grow and select like 1x1."""
    script = tmp_path / "shared_pools.py"
    script.write_text(SHARED_POOLS_SCRIPT)
    result = run_ranks(ranks, [str(script)], env={"CAUDAL_RANKS_PER_NODE": per_node}, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "pools shared, same digest as one process:" in result.stdout, result.stdout
    assert result.stdout.strip().endswith(f"nodes {nodes}"), result.stdout


def test_single_process_needs_no_mpi():
    """Importing and training in one process must not initialise MPI."""
    code = (
        "import sys, caudal; from caudal.parallel.comm import world; "
        "assert world().size == 1; assert 'mpi4py.MPI' not in sys.modules; print('ok')"
    )
    env = {"PATH": "/usr/bin:/bin"}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
