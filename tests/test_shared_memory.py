"""Node-shared arrays behind the communicator, in one process and on emulated nodes under ``mpiexec``.

* The single-process implementation keeps the contract (capacity, growth, kept rows).
* Shared columns (a cut pool's storage) grow by doubling, keep their rows, stay contiguous.
* The node-shared stage LP cache gives the same LPs as a private one, also in one process.
* Under 4 ranks grouped into 2 emulated nodes (``CAUDAL_RANKS_PER_NODE=2``) each node
  has its own leader and its own window: what a leader writes is what its node reads,
  and not what the other node reads.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from mpi_helpers import run_ranks

from caudal.examples import brazil4
from caudal.parallel.comm import SingleProcessCommunicator
from caudal.parallel.shared_columns import SharedColumns
from caudal.parallel.shared_memory import LocalSharedArray
from caudal.sddp.cuts import CutPool
from caudal.sddp.shared_stage_cache import SharedStageCache, private_cache_bytes
from caudal.sddp.stage_cache import StageCache
from caudal.sddp.training import TrainingState


def test_local_array_grows_and_keeps_the_rows_asked_for():
    shared = SingleProcessCommunicator().shared_array(3, (2,), np.int64)
    assert isinstance(shared, LocalSharedArray) and shared.is_writer
    assert shared.array.shape == (3, 2) and shared.capacity == 3 and shared.nbytes == 48
    shared.array[:] = [[1, 2], [3, 4], [5, 6]]
    shared.reserve(2)  # no shrinking, nothing moves
    assert shared.capacity == 3
    shared.reserve(5, keep=2)
    assert shared.capacity == 5 and shared.array.shape == (5, 2)
    assert shared.array[:2].tolist() == [[1, 2], [3, 4]]
    with pytest.raises(ValueError, match="cannot keep 6 rows"):
        shared.reserve(9, keep=6)
    shared.free()
    assert shared.capacity == 0 and shared.array.shape == (0, 2)


def test_shared_columns_grow_keep_their_rows_and_stay_contiguous():
    """A cut pool's storage in one process: each column contiguous, growth doubles and keeps the rows in use."""
    table = SharedColumns(SingleProcessCommunicator(), {"a": (np.float64, ()), "b": (np.int32, (3,))}, 2)
    assert table.is_writer and table.capacity == 2
    table.columns["a"][:] = [1.5, 2.5]
    table.columns["b"][:] = [[1, 2, 3], [4, 5, 6]]
    table.reserve(2, keep=2)  # fits: nothing moves
    assert table.capacity == 2
    table.reserve(3, keep=1)
    assert table.capacity == 4  # doubled, not just enough
    assert table.columns["a"][:1].tolist() == [1.5] and table.columns["b"][:1].tolist() == [[1, 2, 3]]
    for column in table.columns.values():
        assert column.flags.c_contiguous and column.shape[0] == 4
    assert table.columns["b"].ctypes.data % 64 == table.columns["a"].ctypes.data % 64  # each column on a cache line
    assert table.nbytes >= 4 * 8 + 4 * 12


def test_cut_pool_in_one_process_is_unchanged_by_node_storage():
    """Appending past the capacity keeps every row and flag; a view taken before still holds its rows."""
    pool = CutPool(2, capacity=2)
    pool.add(np.array([1.0, 2.0]), np.array([[1.0, 0.0], [0.0, 1.0]]), 0, np.arange(2))
    before = pool.coefficients
    assert pool.set_active(np.array([False, True])) and not pool.set_active(np.array([False, True]))
    pool.add(np.array([3.0]), np.array([[2.0, 2.0]]), 1, np.arange(1), 0)
    assert pool.size == 3 and pool.intercepts.tolist() == [1.0, 2.0, 3.0]
    assert pool.active.tolist() == [False, True, True] and pool.iteration.tolist() == [0, 0, 1]
    assert before.tolist() == [[1.0, 0.0], [0.0, 1.0]] and not np.shares_memory(before, pool.coefficients)
    with pytest.raises(ValueError, match="shape"):
        pool.set_active(np.ones(2, dtype=bool))


def test_shared_cache_in_one_process_is_the_private_cache():
    """The node-shared cache over the single-process communicator builds the same LPs, byte for byte."""
    problem = brazil4(stages=3, openings=3).compile()
    state = TrainingState.fresh(problem, SingleProcessCommunicator())
    pool = state.pools[0]
    rng = np.random.default_rng(0)
    pool.add(rng.random(7), rng.random((7, pool.n_states)), 0, np.arange(7))
    private = StageCache(problem, state.pools)
    shared = SharedStageCache(problem, state.pools, SingleProcessCommunicator())
    for t in range(problem.n_stages):
        mine, theirs = shared.lps[t], private.lps[t]
        assert mine.num_rows == theirs.num_rows
        for name in ("col_start", "row_index", "values", "row_lower", "row_upper"):
            assert np.array_equal(getattr(mine, name), getattr(theirs, name)), (t, name)
    assert shared.lps[0].num_rows == problem.templates[0].num_rows + 7
    assert shared.shared_bytes() >= private_cache_bytes(shared)
    shared.close()
    assert shared.shared_bytes() == 0


EMULATED_NODES_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from caudal.parallel.comm import world

    comm = world()
    assert (comm.n_nodes, comm.node_size) == (2, 2), (comm.n_nodes, comm.node_size)
    node = comm.rank // 2
    assert comm.node_rank == comm.rank % 2
    shared = comm.shared_array(4, (3,), np.float64)
    assert shared.is_writer == (comm.node_rank == 0)
    if shared.is_writer:
        shared.array[:] = 100 * node + np.arange(12).reshape(4, 3)
    comm.node_barrier()
    assert shared.array[3, 2] == 100 * node + 11, shared.array
    if not shared.is_writer:
        assert not shared.array.flags.writeable
    # a cut pool's growth: the leader appends after reserve(keep=rows in use); the node reads it all
    shared.reserve(10, keep=4)
    if shared.is_writer:
        shared.array[4:] = -1 - node
    comm.node_barrier()
    assert shared.capacity == 10
    assert shared.array[:4].sum() == 100 * node * 12 + 66 and (shared.array[4:] == -1 - node).all()
    held = comm.allgather_rows(np.array([[comm.rank, shared.nbytes if shared.is_writer else 0]]))
    shared.free()
    if comm.rank == 0:
        print("writers", [int(r) for r, b in held if b], "bytes per node", sorted({int(b) for _, b in held if b}))
    """
)


@pytest.mark.mpi
def test_emulated_nodes_each_have_a_leader_and_a_window(tmp_path):
    script = tmp_path / "emulated_nodes.py"
    script.write_text(EMULATED_NODES_SCRIPT)
    result = run_ranks(4, [str(script)], env={"CAUDAL_RANKS_PER_NODE": "2"}, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "writers [0, 2] bytes per node [240]" in result.stdout, result.stdout
