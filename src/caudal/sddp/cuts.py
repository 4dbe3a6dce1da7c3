"""Per-stage pools of Benders cuts.

A cut of stage ``t`` bounds the cost-to-go after stage ``t`` from below:
``theta_t >= intercept + coefficients . x_t`` where ``x_t`` is stage ``t``'s
outgoing state. Each cut has a *target*: the value-function column it bounds,
as an index into the stage template's ``cut_cols`` (always 0 single-cut; the
next stage's opening multi-cut). Cuts are only ever appended; an inactive cut
stays in the pool (it is part of a checkpoint) but leaves the stage LP.

A pool and a stage's visited states are held once per node when several ranks
share one (:func:`pool_comm`): at production size (10,000 cuts of 160 states per
stage, 120 stages) the coefficients alone are some 1.5 GB, which a node must not
hold once per rank.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from caudal.parallel.comm import Communicator, SingleProcessCommunicator
from caudal.parallel.shared_columns import SharedColumns


class CutPool:
    """The cuts of one stage, in the canonical order they were added.

    The arrays live in :class:`~caudal.parallel.shared_columns.SharedColumns` over
    ``comm``: node-shared under MPI (:func:`pool_comm`), plain memory in one
    process. Every rank of the node calls :meth:`add` and :meth:`set_active` with
    the same arguments (every rank holds the gathered cuts and computes the same
    selection); only the node leader writes, and both return once every rank of
    the node sees the write. The pool starts empty (``capacity`` 0) and doubles as
    cuts come, so it holds less than twice what it uses: preallocating 64 rows per
    stage cost the national case (120 stages, 403 states) 24 MB per rank for pools
    of 8 cuts. Growth reallocates: take the arrays afresh (the
    properties) after an :meth:`add`; a stage LP built before holds stale views
    until its cache refreshes the stage, which the training loop does right after.
    """

    def __init__(self, n_states: int, capacity: int = 0, comm: Communicator | None = None):
        self.n_states = n_states
        self.size = 0
        self._columns = SharedColumns(comm or SingleProcessCommunicator(), _pool_columns(n_states), capacity)
        # one more than the highest target so far (None: to be counted again, after a truncation); every
        # stage rebuild asks for it, so it is kept as cuts arrive instead of taking the pool's maximum each time
        self._n_target_groups: int | None = 1

    def add(
        self,
        intercepts: np.ndarray,
        coefficients: np.ndarray,
        iteration: int | np.ndarray,
        forward_passes: np.ndarray,
        targets: int | np.ndarray = 0,
    ) -> None:
        """Append cuts (already in canonical order: by iteration, forward pass, then target).

        Collective on the node when the pool is node-shared: the leader writes.
        """
        n_new = int(intercepts.shape[0])
        end = self.size + n_new
        self._columns.reserve(end, keep=self.size)
        if self._columns.is_writer:
            columns = self._columns.columns
            columns["intercepts"][self.size : end] = intercepts
            columns["coefficients"][self.size : end] = coefficients
            columns["iteration"][self.size : end] = iteration
            columns["forward_pass"][self.size : end] = forward_passes
            columns["target"][self.size : end] = targets
            columns["active"][self.size : end] = True
        self._columns.publish()
        self.size = end
        if self._n_target_groups is not None and n_new:
            highest = targets if isinstance(targets, int | np.integer) else targets.max()
            self._n_target_groups = max(self._n_target_groups, int(highest) + 1)

    @property
    def nbytes(self) -> int:
        """Bytes held for the pool's arrays: once per node when node-shared."""
        return self._columns.nbytes

    def free(self) -> None:
        """Give the arrays back (collective on the node): a resume that fails half-way, before it tries an older one."""
        self._columns.free()
        self.size = 0
        self._n_target_groups = 1

    @property
    def is_node_writer(self) -> bool:
        """Whether this rank writes the pool's arrays (the node leader; always in one process)."""
        return self._columns.is_writer

    def _column(self, name: str) -> np.ndarray:
        return self._columns.columns[name][: self.size]

    @property
    def intercepts(self) -> np.ndarray:
        return self._column("intercepts")

    @property
    def coefficients(self) -> np.ndarray:
        return self._column("coefficients")

    @property
    def iteration(self) -> np.ndarray:
        return self._column("iteration")

    @property
    def forward_pass(self) -> np.ndarray:
        return self._column("forward_pass")

    @property
    def targets(self) -> np.ndarray:
        return self._column("target")

    @property
    def n_target_groups(self) -> int:
        """One more than the highest target (1 for an empty or single-cut pool)."""
        if self._n_target_groups is None:
            self._n_target_groups = int(self.targets.max()) + 1 if self.size else 1
        return self._n_target_groups

    @property
    def active(self) -> np.ndarray:
        return self._column("active")

    def set_active(self, mask: np.ndarray) -> bool:
        """Mark which cuts belong in the stage LP; returns whether anything changed.

        Collective on the node when the pool is node-shared: every rank passes the
        same mask, compares it with the flags, then the leader alone writes it.
        """
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.size,):
            raise ValueError(f"activity mask has shape {mask.shape}, pool has {self.size} cuts")
        changed = not np.array_equal(mask, self.active)
        self._columns.publish()  # every rank has compared before the flags change
        if self._columns.is_writer:
            self._columns.columns["active"][: self.size] = mask
        self._columns.publish()
        return changed

    def active_ids(self) -> np.ndarray:
        return np.flatnonzero(self.active)

    def truncate(self, size: int) -> None:
        """Forget the cuts from ``size`` on: those of an abandoned iteration (:mod:`caudal.sddp.training`).

        Every rank of the node calls it alike; the rows stay allocated and the next :meth:`add` overwrites them.
        """
        if not 0 <= size <= self.size:
            raise ValueError(f"cannot truncate a pool of {self.size} cuts to {size}")
        self.size = size
        self._n_target_groups = None  # the forgotten cuts may have held the highest target

    def evaluate(self, states: np.ndarray, target: int | None = None) -> np.ndarray:
        """The cut approximation ``max_c (intercept_c + coef_c . x)`` at each row of ``states``.

        Over the active cuts of one ``target`` if given, else over all of them
        (which is the value function only single-cut).
        """
        ids = self.active_ids()
        if target is not None:
            ids = ids[self.targets[ids] == target]
        if ids.size == 0:
            return np.full(states.shape[0], -np.inf)
        return (self.intercepts[ids][None, :] + states @ self.coefficients[ids].T).max(axis=1)


class StateArchive:
    """The visited (trial) states of one stage, in canonical order, grown by doubling from empty.

    Held like a :class:`CutPool`: node-shared over ``comm``, :meth:`add` collective
    on the node with the leader writing.
    """

    def __init__(self, n_states: int, capacity: int = 0, comm: Communicator | None = None):
        self.size = 0
        self._columns = SharedColumns(
            comm or SingleProcessCommunicator(), {"states": (np.dtype(np.float64), (n_states,))}, capacity
        )

    def add(self, states: np.ndarray) -> None:
        needed = self.size + states.shape[0]
        self._columns.reserve(needed, keep=self.size)
        if self._columns.is_writer:
            self._columns.columns["states"][self.size : needed] = states
        self._columns.publish()
        self.size = needed

    @property
    def states(self) -> np.ndarray:
        return self._columns.columns["states"][: self.size]

    def truncate(self, size: int) -> None:
        """Forget the states from ``size`` on (an abandoned iteration's), like :meth:`CutPool.truncate`."""
        if not 0 <= size <= self.size:
            raise ValueError(f"cannot truncate an archive of {self.size} states to {size}")
        self.size = size

    @property
    def nbytes(self) -> int:
        """Bytes held for the states: once per node when node-shared."""
        return self._columns.nbytes

    def free(self) -> None:
        """Give the states back (collective on the node), like :meth:`CutPool.free`."""
        self._columns.free()
        self.size = 0
        self._n_target_groups = 1


def filled_stage(
    n_states: int,
    n_cuts: int,
    n_visited: int,
    fill: Callable[[dict[str, np.ndarray], np.ndarray], None],
    comm: Communicator | None = None,
) -> tuple[CutPool, StateArchive]:
    """A stage's pool of ``n_cuts`` cuts and archive of ``n_visited`` states, written in place by ``fill``.

    A resume reads each stage's file straight into these arrays instead of
    decoding it first and copying it in with :meth:`CutPool.add`: at production
    size that staging copy would double the memory of the pools. ``fill(cuts,
    states)`` gets the pool's columns (``intercepts``, ``coefficients``,
    ``iteration``, ``forward_pass``, ``target``, ``active``) cut to ``n_cuts``
    rows and the archive's ``(n_visited, n_states)`` rows, and must write every
    row. Only the node leader calls it; collective on the node like
    :meth:`CutPool.add` (the other ranks see the rows once it returns, or raises).
    """
    # sized to what the file holds, like a fresh pool (from empty): the next add doubles it
    pool = CutPool(n_states, capacity=n_cuts, comm=comm)
    archive = StateArchive(n_states, capacity=n_visited, comm=comm)
    try:
        if pool.is_node_writer:
            cuts = {name: column[:n_cuts] for name, column in pool._columns.columns.items()}
            fill(cuts, archive._columns.columns["states"][:n_visited])
    finally:
        pool._columns.publish()  # one node barrier for both: no rank waits for a leader that failed
    pool.size, archive.size = n_cuts, n_visited
    return pool, archive


def _pool_columns(n_states: int) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
    return {
        "intercepts": (np.dtype(np.float64), ()),
        "coefficients": (np.dtype(np.float64), (n_states,)),
        "iteration": (np.dtype(np.int64), ()),
        "forward_pass": (np.dtype(np.int64), ()),
        "target": (np.dtype(np.int32), ()),
        "active": (np.dtype(bool), ()),
    }


def pool_comm(comm: Communicator | None) -> Communicator:
    """The communicator cut pools and state archives are held over: ``comm`` to share them on the node.

    Node-shared when several ranks share a node; private (the single-process
    communicator, one copy per rank) otherwise, or when ``CAUDAL_SHARED_POOLS=0``
    (to measure what sharing saves).
    """
    if comm is not None and comm.node_size > 1 and os.environ.get("CAUDAL_SHARED_POOLS", "1") != "0":
        return comm
    return SingleProcessCommunicator()
