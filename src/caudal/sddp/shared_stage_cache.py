"""The stage LP cache in node-shared memory: one copy per node, however many ranks.

The leader rank of each node (node rank 0) assembles a stage's LP (template plus
active cuts) straight into a node-shared byte array that the communicator hands out
(:meth:`~caudal.parallel.comm.Communicator.shared_array`); the other ranks of the
node read the same pages through read-only views. A node barrier separates writing
from reading. Every rank sees the same cut pools (node-shared too, see
:mod:`caudal.sddp.cuts`), so every rank knows when a stage changes, and the arrays
are grown collectively on the node as the cut count grows.
The leader alone chooses each stage's working set; the ids of the reserve cuts
live in the node's array with the LP (the reserve cuts themselves are views of the
pools), so no rank holds per-stage data of its own beyond the working cut ids.
This module knows nothing of MPI: under one process the same code runs on a plain
numpy array.
"""

from __future__ import annotations

import os

import numpy as np

from caudal.model.problem import CompiledProblem
from caudal.model.stage_lp import INDEX, ReserveCuts, StageLP, assemble_stage_lp
from caudal.parallel.comm import Communicator
from caudal.parallel.shared_memory import SharedArray
from caudal.sddp.cuts import CutPool
from caudal.sddp.stage_cache import StageCache, next_version
from caudal.sddp.working_set import WorkingSets

GROWTH = 1.5
"""Shared arrays grow by this factor beyond what is needed, so a growing cut pool reallocates rarely."""

ALIGN = 64


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


class SharedStageCache(StageCache):
    """A :class:`StageCache` whose LP arrays live in node-shared memory."""

    def __init__(
        self, problem: CompiledProblem, pools: list[CutPool], comm: Communicator,
        working_sets: WorkingSets | None = None,
    ):
        self.comm = comm
        self.is_leader = comm.node_rank == 0
        # one byte array per stage, holding that stage's LP arrays one after the other
        self._memory: list[SharedArray] = [comm.shared_array(0, dtype=np.uint8) for _ in range(problem.n_stages)]
        super().__init__(problem, pools, working_sets)

    def _assemble(self, t: int) -> StageLP:
        # The leader alone chooses the rows (the working set) and the reserve: the
        # reserve's ids live in the node's array with the LP, and its cuts are views
        # of the pool's arrays (node-shared when the pools are), so no rank of the
        # node holds a reserve of its own.
        pool = self.pools[t]
        self._version = next_version()
        template = self.problem.templates[t]
        sizes = np.zeros(3, dtype=np.int64)  # rows, nnz, reserve cuts
        built = reserve = None
        if self.is_leader:
            ids, reserve = self.cut_rows(t)
            assembler = self._assemblers[t]
            built = (
                assembler.assemble(pool.intercepts[ids], pool.coefficients[ids], ids, self._version)
                if assembler is not None
                else assemble_stage_lp(
                    template, pool.intercepts[ids], pool.coefficients[ids], ids, self._version, pool.targets[ids]
                )
            )
            sizes[:] = (built.num_rows, built.nnz, 0 if reserve is None else reserve.size)
        self.comm.node_bcast_into(sizes)
        num_rows, nnz, n_reserve = (int(n) for n in sizes)
        spec = _spec(template.num_cols, num_rows, nnz, num_rows - template.num_rows, n_reserve)
        layout = _layout(spec)
        memory = self._ensure_capacity(t, layout[-1][1])
        # Nobody reads this stage while it changes: the algorithm refreshes a
        # stage only between the passes that use it; the barrier makes sure
        # every rank of the node got there before its pages are overwritten.
        self.comm.node_barrier()
        arrays = [memory[lo:lo + n * np.dtype(dt).itemsize].view(dt) for (dt, n), (lo, _) in zip(
            spec, layout, strict=True)]
        if self.is_leader:
            assert built is not None
            reserve_ids = np.zeros(0, dtype=np.int64) if reserve is None else reserve.ids
            for target, source in zip(
                arrays,
                (built.col_start, built.row_index, built.values, built.row_lower, built.row_upper, built.cut_ids,
                 reserve_ids),
                strict=True,
            ):
                target[:] = source
        self.comm.node_barrier()
        if not self.is_leader:
            for array in arrays:
                array.flags.writeable = False
        col_start, row_index, values, row_lower, row_upper, cut_ids, reserve_ids = arrays
        return StageLP(
            template=template,
            num_rows=num_rows,
            col_start=col_start,
            row_index=row_index,
            values=values,
            row_lower=row_lower,
            row_upper=row_upper,
            # a private copy: the next refresh rewrites this array in place and realigns the basis from the old ids
            cut_ids=cut_ids.copy(),
            version=self._version,
            reserve=ReserveCuts(reserve_ids, pool.intercepts, pool.coefficients, pool.targets) if n_reserve else None,
        )

    def _ensure_capacity(self, t: int, needed: int) -> np.ndarray:
        memory = self._memory[t]
        if needed > memory.capacity:
            # the stage is rewritten whole after this, so nothing is kept
            memory.reserve(_aligned(int(needed * GROWTH) + ALIGN))
        return memory.array

    def shared_bytes(self) -> int:
        """Bytes of node-shared memory this node holds for the stage LPs."""
        return sum(memory.capacity for memory in self._memory)

    def close(self) -> None:
        """Free the shared arrays (collective on the node)."""
        for memory in self._memory:
            memory.free()


def _spec(num_cols: int, num_rows: int, nnz: int, n_cuts: int, n_reserve: int) -> list[tuple[type, int]]:
    """dtype and length of col_start, row_index, values, row_lower, row_upper, cut ids, reserve ids."""
    return [(INDEX, num_cols + 1), (INDEX, nnz), (np.float64, nnz), (np.float64, num_rows), (np.float64, num_rows),
            (np.int64, n_cuts), (np.int64, n_reserve)]


def _layout(spec: list[tuple[type, int]]) -> list[tuple[int, int]]:
    """(start, end) byte offsets of each array, each start aligned."""
    offsets = []
    position = 0
    for dtype, length in spec:
        end = position + length * np.dtype(dtype).itemsize
        offsets.append((position, end))
        position = _aligned(end)
    return offsets


def make_stage_cache(
    problem: CompiledProblem, pools: list[CutPool], comm: Communicator, working_sets: WorkingSets | None = None
) -> StageCache:
    """A node-shared cache when several ranks share a node, else a private one.

    ``CAUDAL_SHARED_CACHE=0`` forces private caches (to measure what sharing saves).
    """
    if comm.node_size > 1 and os.environ.get("CAUDAL_SHARED_CACHE", "1") != "0":
        return SharedStageCache(problem, pools, comm, working_sets)
    return StageCache(problem, pools, working_sets)


def private_cache_bytes(cache: StageCache) -> int:
    """Bytes of the stage LP arrays a cache holds (what each rank pays without sharing).

    With the cut ids of the rows and of the reserve (not the reserve cuts, which are the pool's).
    """
    return sum(
        lp.array_bytes + lp.cut_ids.nbytes + (0 if lp.reserve is None else lp.reserve.ids.nbytes) for lp in cache.lps
    )
