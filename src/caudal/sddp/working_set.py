"""Working sets: a stage LP holds the cuts that matter as rows, the rest in reserve.

After a few hundred iterations a stage's pool holds hundreds of cuts, and most
of them are not the highest cut at any state the policy visits. As rows they
still cost on every solve: HiGHS sets up, prices and checks every row each
time it runs, whatever the row's use, and a backward solve takes only a few
pivots, so that fixed cost is most of its time.

A stage LP built from a working set holds as rows only the active cuts that
are highest at one of the stage's visited states (Level-1 dominance, kept up
to date incrementally by :class:`~caudal.sddp.selection.LimitedMemoryLevel1`);
the other active cuts ride along as the LP's reserve
(:class:`~caudal.model.stage_lp.ReserveCuts`). After every optimal solve the
workspaces add the reserve cuts the solution violates as rows and solve again,
hot, until none is violated. So unlike cut selection, which changes the policy,
a working set changes only the work: every solve has the optimal value of the
LP with every active cut as a row (on a degenerate LP it may return another of
its optimal solutions).

The working set of a stage depends only on its pool and its visited states,
which every rank holds alike and a checkpoint restores exactly, so it is the
same whatever the number of ranks and threads, and after a resume.

Measured on 4ree, 256 iterations x 4 forward passes, one thread: see
docs/hot-path.md.
"""

from __future__ import annotations

import numpy as np

from caudal.sddp.cuts import CutPool, StateArchive
from caudal.sddp.selection import LimitedMemoryLevel1, cap_active

try:
    from caudal._stage_rows import split_by_dominance
except ImportError:  # not built: the numpy masks of WorkingSets.split give the same ids
    split_by_dominance = None

_NO_CUTS = np.zeros(0, dtype=np.int64)


class WorkingSets:
    """Chooses each stage's working cuts from its pool and the stage's visited states.

    ``visited[t]`` holds the outgoing states of stage ``t`` the forward passes
    went through, the states pool ``t``'s cuts are evaluated at.
    """

    def __init__(self, visited: list[StateArchive]):
        self.visited = visited
        self._dominance = LimitedMemoryLevel1()

    def split(self, t: int, pool: CutPool, native: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(working, reserve): the pool's active cut ids that are rows of stage ``t``'s LP, and the others.

        The compiled ``split_by_dominance`` (``native/_stage_rows.pyx``) deals
        the cuts in one pass when it is built and ``native`` holds; the numpy
        masks are its reference. It runs serial, after every backward stage.
        """
        states = self.visited[t].states
        if states.shape[0] == 0 or pool.size == 0:
            return pool.active_ids(), _NO_CUTS
        highest = self._dominance.highest_cuts(t, pool, states)
        active = pool.active
        if native and split_by_dominance is not None:
            working, reserve = np.empty(pool.size, dtype=np.int64), np.empty(pool.size, dtype=np.int64)
            n_working, n_reserve = split_by_dominance(highest, active.view(np.uint8), working, reserve)
            return working[:n_working], reserve[:n_reserve]
        working = cap_active(highest, pool.size, None) & active
        return np.flatnonzero(working), np.flatnonzero(active & ~working)
