"""The one small interface between the algorithm and a solver.

A *workspace* belongs to one worker thread. The algorithm hands it whole work
items, never single LPs, so an implementation can keep the inner loop in native
code:

* :meth:`SolverWorkspace.solve_forward` solves one stage for a block of forward
  passes (each with its own incoming state and opening);
* :meth:`SolverWorkspace.solve_backward` solves every opening of one stage at one
  incoming (trial) state and returns each opening's value and subgradient;
* :meth:`SolverWorkspace.solve_detailed` solves one stage for a block of
  simulated scenarios, like a forward work item, and returns every column's
  value and the duals of the stage's own rows (what a simulation records).

Determinism rule: every work item starts from the canonical basis the algorithm
passes in (never from whatever the thread solved before), set *after* the
scenario's bounds are patched in (HiGHS checks a basis against the bounds in
force), and the openings of a backward work item are solved in order, each
warm-started from the previous one. The results then depend on the work item alone, not on which thread or
rank solved it, so cuts are bit-identical whatever the layout.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from caudal.model.stage_lp import StageLP

# HiGHS basis status codes, one byte each.
LOWER, BASIC, UPPER, ZERO, NONBASIC = 0, 1, 2, 3, 4


@dataclass
class Basis:
    """A simplex basis, one status byte per column and per row of a :class:`StageLP`."""

    col_status: np.ndarray  # uint8[num_cols]
    row_status: np.ndarray  # uint8[num_rows]

    @classmethod
    def slack(cls, lp: StageLP) -> Basis:
        """All rows basic; each column nonbasic at a finite bound (at zero if free)."""
        template = lp.template
        col_status = np.where(
            np.isfinite(template.col_lower), LOWER, np.where(np.isfinite(template.col_upper), UPPER, ZERO)
        ).astype(np.uint8)
        return cls(col_status, np.full(lp.num_rows, BASIC, dtype=np.uint8))

    def copy(self) -> Basis:
        return Basis(self.col_status.copy(), self.row_status.copy())


# -- the hand-over inside a forked trial state -------------------------------------------
# A backward trial state split in two (caudal.sddp.passes.solve_openings) is two work
# items. The first solves the forward pass's own opening (the head), publishes the basis
# it ended with in a ForkPoint and walks on along the tour, hot; the second waits there
# and starts from that basis, so the cuts added since the forward pass enter the basis
# once and both walks start next to the forward opening. The basis is a function of the
# trial state alone, so the results do not depend on which worker ran which item, or when.
# The native kernel publishes and waits without the GIL (native/spin_wait.pxd); the
# highspy reference uses ForkPoint.publish and ForkPoint.wait, the same protocol in Python.

FORK_PENDING, FORK_HEAD_BASIS, FORK_OWN_START, FORK_FAILED = 0, 1, 2, -1
"""Values of a fork point's signal (the native kernel's alike): not yet published; start from the head's basis;
start from your own start basis (the head's basis lost a basic row when the reserve cuts it added left);
the head failed."""

FORK_POLL_SECONDS = 20e-6
"""The Python reference's pause between looks at the signal."""


class ForkPoint:
    """Where a forked trial state's head leaves its basis for the walk that starts from it.

    ``signal`` (int32[1]) is written once, after the basis: by the native
    kernel (atomic release store) or by :meth:`publish` / :meth:`fail`.
    ``status`` holds the basis as one buffer, the columns' status bytes then
    the rows'; ``basis`` views it.
    """

    def __init__(self, lp: StageLP):
        self.signal = np.zeros(1, dtype=np.int32)
        self.status = np.empty(lp.num_cols + lp.num_rows, dtype=np.uint8)
        self.basis = Basis(self.status[: lp.num_cols], self.status[lp.num_cols:])

    def publish(self, col_status: np.ndarray, row_status: np.ndarray) -> None:
        """Publish the head's basis (the stage LP's rows first; rows past them, added reserve cuts, are left out).

        Without the added rows the basis is complete only if none of them was
        basic; otherwise the walk starts from its own start basis, which depends
        on the trial state alone, like the head's.
        """
        num_rows = self.basis.row_status.shape[0]
        self.basis.col_status[:] = col_status
        self.basis.row_status[:] = row_status[:num_rows]
        n_basic = int(np.count_nonzero(self.status == BASIC))
        self.signal[0] = FORK_HEAD_BASIS if n_basic == num_rows else FORK_OWN_START

    def publish_nothing(self) -> None:
        """A head of no opening: the walk starts from its own start basis."""
        self.signal[0] = FORK_OWN_START

    def fail(self) -> None:
        """The head failed: a walk waiting here gives up (the head's error is the one raised)."""
        if self.signal[0] == FORK_PENDING:
            self.signal[0] = FORK_FAILED

    def wait(self, own_start: Basis) -> Basis | None:
        """The basis a walk starts from once the head has published; ``None`` if the head failed."""
        while (state := int(self.signal[0])) == FORK_PENDING:
            time.sleep(FORK_POLL_SECONDS)
        if state == FORK_FAILED:
            return None
        return self.basis if state == FORK_HEAD_BASIS else own_start


@dataclass
class SolverStats:
    """Counters of one workspace; times in seconds."""

    solves: int = 0
    simplex_iterations: int = 0
    retries: int = 0
    basis_hits: int = 0
    loads: int = 0
    cuts_added: int = 0  # reserve cuts added as rows after a solve violated them (caudal.sddp.working_set)
    ranged: int = 0  # backward openings answered by the kept optimal basis, without a solve (docs/hot-path.md)
    time_load: float = 0.0
    time_patch: float = 0.0
    time_basis: float = 0.0
    time_solve: float = 0.0
    time_extract: float = 0.0
    time_wait: float = 0.0  # a forked trial state's second work item waiting for its head (ForkPoint)

    def add(self, other: SolverStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class SolveFailure:
    """Where a solve failed, for the error message."""

    stage: int
    opening: int
    forward_pass: int
    status: str
    iteration: int = -1
    extra: dict = field(default_factory=dict)


class SolverError(RuntimeError):
    """A stage LP could not be solved to optimality, even after the retry ladder."""

    def __init__(self, failure: SolveFailure):
        self.failure = failure
        super().__init__(
            f"stage {failure.stage}, opening {failure.opening}, forward pass {failure.forward_pass}"
            + (f", iteration {failure.iteration}" if failure.iteration >= 0 else "")
            + f": HiGHS could not solve the LP (model status: {failure.status}) "
            "after retrying from its last basis refactorised, cold, with presolve, with max-value scaling and "
            "with primal simplex"
        )


class SolverWorkspace(Protocol):
    """What the algorithm needs from one thread's solver."""

    stats: SolverStats

    def solve_forward(
        self,
        lp: StageLP,
        basis: Basis,
        incoming: np.ndarray,
        openings: np.ndarray,
        pass_ids: np.ndarray,
        out_states: np.ndarray,
        out_objective: np.ndarray,
        out_theta: np.ndarray,
        out_bases: np.ndarray | None = None,
    ) -> None:
        """Solve ``lp`` once per row of ``incoming`` (float64[K, n_states]).

        Row ``k`` uses opening ``openings[k]`` and starts from ``basis``. Writes
        the outgoing states, the objective (stage cost plus discounted
        cost-to-go) and the value-function column's value of each solve.
        ``pass_ids`` names the forward passes in error messages. If
        ``out_bases`` (uint8[K, num_cols + num_rows]) is given, row ``k``
        receives solve ``k``'s final basis, column statuses first.
        """

    def solve_backward(
        self,
        lp: StageLP,
        basis: Basis,
        incoming: np.ndarray,
        trial_id: int,
        out_values: np.ndarray,
        out_subgradients: np.ndarray,
        out_basis: Basis | None,
        order: np.ndarray | None = None,
        first: int = 0,
        stop: int | None = None,
        publish: ForkPoint | None = None,
        after: ForkPoint | None = None,
    ) -> bool:
        """Solve the openings ``order[first:stop]`` of ``lp`` at state ``incoming`` (float64[n_states]).

        The openings are solved in ``order`` (int32[O], a permutation; by
        default 0, 1, ...), from position ``first`` up to ``stop`` (all of
        them by default): the first starts from ``basis``, each next one
        from the final basis of the one before. A chunk of the order is how
        the backward pass splits one trial state over several workers
        (:func:`caudal.sddp.passes.backward_stage`). Writes each solved
        opening's objective into ``out_values`` (float64[O], indexed by
        opening) and the reduced costs of the incoming-state columns into
        ``out_subgradients`` (float64[O, n_states]); the other openings' entries
        are left alone. If ``out_basis`` is given, the basis after the last
        opening solved is copied into it.

        A forked trial state (:class:`ForkPoint`): with
        ``publish`` the basis after the first opening solved is published
        there, and the item goes on hot; with ``after`` the item first waits
        for that fork point and starts from the basis published there instead
        of ``basis`` (unless it says to keep ``basis``). Returns False, having
        solved nothing, when the fork point's head failed; True otherwise.
        """

    def solve_detailed(
        self,
        lp: StageLP,
        basis: Basis,
        incoming: np.ndarray,
        openings: np.ndarray,
        scenario_ids: np.ndarray,
        out_objective: np.ndarray,
        out_values: np.ndarray,
        out_row_duals: np.ndarray | None = None,
    ) -> None:
        """Solve ``lp`` once per row of ``incoming`` (float64[K, n_states]), as :meth:`solve_forward` does.

        Writes each solve's objective (stage cost plus discounted cost-to-go)
        into ``out_objective`` (float64[K]) and every column's value into
        ``out_values`` (float64[K, num_cols]); if ``out_row_duals`` is given
        (float64[K, template rows]), the duals of the stage's own rows (not
        the cut rows). All in the stage's own units, minimising.
        ``scenario_ids`` name the scenarios in error messages.
        """
