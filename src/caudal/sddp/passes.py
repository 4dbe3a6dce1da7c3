"""The forward and backward passes of one SDDP iteration.

Both passes deal their work items (forward passes, trial states) to the worker
pool in contiguous blocks and collect the results in arrays indexed by item, so
results land in canonical order whatever the number of workers.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from caudal.model.problem import CompiledProblem
from caudal.model.stage_lp import StageLP
from caudal.parallel.pool import WorkerPool
from caudal.sddp.opening_order import two_way_orders
from caudal.sddp.risk import Expectation, RiskMeasure
from caudal.sddp.stage_cache import StageCache, carry_basis
from caudal.solver.workspace import Basis, ForkPoint, SolverWorkspace


@dataclass
class ForwardResult:
    """What a forward pass leaves for the backward pass and the bounds."""

    states: np.ndarray  # float64[n_stages, M, n_states]: outgoing state of each stage
    costs: np.ndarray  # float64[M]: discounted total cost of each forward pass
    lps: list[StageLP | None] | None = None  # with keep_bases: the LP each stage was solved with (release_stage)
    bases: list[np.ndarray | None] | None = None  # with keep_bases: uint8[M, cols + rows] final bases per stage

    def start_bases(self, t: int, lp: StageLP, fallback: Basis) -> Sequence[Basis]:
        """Where the backward pass starts each trial state of stage ``t`` (solved with ``lp``).

        Trial state ``k`` of stage ``t`` is where forward pass ``k`` entered
        stage ``t``, so the basis that pass ended stage ``t`` with is already
        near optimal for the backward solves there, far nearer than one
        canonical basis for all. It depends on pass ``k`` alone (every forward
        solve starts from the canonical basis), so the cuts stay the same
        whatever the layout. Cuts added to stage ``t`` since the forward pass
        enter as basic rows; ``fallback`` serves when the cuts dropped since
        then leave the carried basis short. Each is carried when a worker
        first asks for it (:class:`StartBases`), not between backward stages.
        """
        if self.bases is None or self.lps is None:
            return [fallback] * self.states.shape[1]
        return StartBases(self.lps[t], self.bases[t], lp, fallback)

    def release_stage(self, t: int) -> None:
        """Drop stage ``t``'s LP and final bases: the backward pass took its starts (:meth:`start_bases`).

        The LP is the one the forward pass solved, which the stage cache replaced
        when stage ``t`` got its cuts; kept to the end of the iteration, every
        stage's old LP would stay alive beside its successor.
        """
        if self.lps is not None:
            self.lps[t] = None
        if self.bases is not None:
            self.bases[t] = None


class StartBases(Sequence[Basis]):
    """The start bases of one stage's trial states, each carried onto the stage's LP when first asked for.

    Carrying a forward basis (:func:`~caudal.sddp.stage_cache.carry_basis`)
    is serial work when done for every trial state before the backward stage;
    here the worker that takes trial state ``k`` does it. The basis is a
    function of the forward basis and the two LPs alone, so it is the same
    whichever worker carries it (two chunks of one trial state may both do
    so). A slice is a view sharing the carried bases.
    """

    def __init__(self, old_lp: StageLP, rows: np.ndarray, lp: StageLP, fallback: Basis):
        self._old_lp, self._rows, self._lp, self._fallback = old_lp, rows, lp, fallback
        self._indices = range(rows.shape[0])
        self._carried: list[Basis | None] = [None] * rows.shape[0]

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, i: int) -> Basis: ...

    @overload
    def __getitem__(self, i: slice) -> StartBases: ...

    def __getitem__(self, i: int | slice) -> Basis | StartBases:
        if isinstance(i, slice):
            view = copy.copy(self)
            view._indices = self._indices[i]
            return view
        k = self._indices[i]
        basis = self._carried[k]
        if basis is None:
            row, n_cols = self._rows[k], self._old_lp.num_cols
            carried = carry_basis(Basis(row[:n_cols], row[n_cols:]), self._old_lp, self._lp)
            basis = self._carried[k] = self._fallback if carried is None else carried
        return basis


def discount_factors(problem: CompiledProblem) -> np.ndarray:
    """Factor that turns stage ``t``'s own cost into first-stage money."""
    factors = np.ones(problem.n_stages)
    for t in range(1, problem.n_stages):
        factors[t] = factors[t - 1] * problem.templates[t - 1].discount
    return factors


def forward_pass(
    problem: CompiledProblem,
    cache: StageCache,
    pool: WorkerPool,
    scenarios: np.ndarray,
    first_pass: int = 0,
    keep_bases: bool = False,
) -> ForwardResult:
    """Walk every stage for each scenario (int32[M, n_stages]) of this worker set.

    Each worker takes one block of forward passes through all the stages, one
    stage at a time for the whole block, so it loads each stage's LP once per
    pass instead of once per scenario, and the workers meet once per forward
    pass, not once per stage. With ``keep_bases``, each solve's final basis is
    kept for the backward pass (:meth:`ForwardResult.start_bases`).
    """
    n_passes = scenarios.shape[0]
    n_states = problem.n_states
    states = np.empty((problem.n_stages, n_passes, n_states))
    objective = np.empty((problem.n_stages, n_passes))
    theta = np.empty((problem.n_stages, n_passes))
    pass_ids = np.arange(first_pass, first_pass + n_passes, dtype=np.int64)
    openings = np.ascontiguousarray(scenarios.T, dtype=np.int32)  # [n_stages, M]
    initial = np.broadcast_to(problem.initial_state, (n_passes, n_states))
    lps = list(cache.lps)
    bases = (
        [np.empty((n_passes, lp.num_cols + lp.num_rows), dtype=np.uint8) for lp in lps] if keep_bases else None
    )

    def task(ws: SolverWorkspace, start: int, stop: int) -> None:
        incoming = np.ascontiguousarray(initial[start:stop])
        for t, lp in enumerate(lps):
            ws.solve_forward(
                lp,
                cache.bases[t],
                incoming,
                openings[t, start:stop],
                pass_ids[start:stop],
                states[t, start:stop],
                objective[t, start:stop],
                theta[t, start:stop],
                None if bases is None else bases[t][start:stop],
            )
            incoming = states[t, start:stop]

    pool.run(task, 0, n_passes)
    discounts = np.array([lp.template.discount for lp in lps])
    stage_costs = objective - discounts[:, None] * theta
    costs = np.zeros(n_passes)
    for factor, stage_cost in zip(discount_factors(problem), stage_costs, strict=True):
        costs += factor * stage_cost
    return ForwardResult(states=states, costs=costs, lps=lps if keep_bases else None, bases=bases)


MIN_CHUNK_OPENINGS = 5
"""Fewest openings in a chunk of the default split (:func:`default_opening_chunk`)."""


def default_opening_chunk(n_openings: int) -> int:
    """Openings per backward work item under ``opening_chunk="auto"``: two halves, or 0 (no split).

    A chunk after the first starts from the trial state's forward basis rather
    than from where the previous opening ended, so each split costs simplex
    iterations (measured with 1 worker, 10 iterations at 120 stages: +6% on
    brazil4's 82 openings in two chunks with one forward pass, +8% with two;
    +12% and +16% in three; +8 to 12% on 4ree's 10 openings in two; the
    fork of :func:`backward_stage` brings two chunks with two forward passes
    down to +5.1%). Two
    chunks are the least split that keeps a second worker busy when there are
    fewer trial states than workers (one forward pass, or the last uneven
    share), and a stage with fewer than ``2 * MIN_CHUNK_OPENINGS`` openings is
    left whole: its trial state is too little work to share. It is not the
    default: on a loaded 2-core machine the second worker's gain did not show
    above the noise, while the extra simplex iterations are certain.

    The rule reads the number of openings alone, never the number of ranks or
    threads, so the chunks, and with them every cut and bound, are the same
    bits for every layout.
    """
    if n_openings < 2 * MIN_CHUNK_OPENINGS:
        return 0
    return -(-n_openings // 2)


def backward_stage(
    cache: StageCache,
    pool: WorkerPool,
    t: int,
    trial_states: np.ndarray,
    first_trial: int = 0,
    risk: RiskMeasure | None = None,
    multi_cut: bool = False,
    start_bases: Sequence[Basis] | None = None,
    orders: np.ndarray | None = None,
    opening_chunk: int | str = 0,
) -> tuple[np.ndarray, np.ndarray, Basis | None]:
    """Solve stage ``t`` at every trial state (rows of float64[K, n_states]).

    Trial state ``k`` starts from ``start_bases[k]`` if given (see
    :meth:`ForwardResult.start_bases`), else from the stage's canonical basis,
    and solves the openings in ``orders[k]`` (int32[K, O], see
    :mod:`caudal.sddp.opening_order`), else in index order.

    With ``opening_chunk`` > 0 the order of each trial state is cut into
    chunks of that many openings, each a work item of its own, so that one
    trial state keeps several workers busy (one forward pass, or the last
    uneven share of them). Every chunk starts from the trial state's start
    basis, never from where another chunk ended, and the chunks are fixed by
    ``opening_chunk`` alone, so each opening's value and subgradient depend
    on neither the number of workers nor which worker solved the chunk. The
    worker that finishes a trial state's last chunk forms its cut from all
    the openings, in opening order. 0 keeps each trial state one work item;
    ``"auto"`` takes :func:`default_opening_chunk` of the stage's openings.
    A split into two chunks (with ``orders``) forks instead: the first item
    solves the forward opening (the head), publishes its basis and walks on
    along the tour, hot; the second waits for that basis and walks the rest
    of the tour backward from the head's predecessor (:func:`forked_spans`,
    :class:`~caudal.solver.workspace.ForkPoint`), so the cuts added since the forward pass
    enter the basis once and both walks start next to the forward opening.

    Returns the cuts as intercepts and coefficients, and the final basis of the
    first trial state (``None`` when this worker set does not own it), which
    becomes the stage's canonical basis: the basis its last chunk ended with.
    Single-cut, one cut per trial state
    (openings weighted by ``risk``, the expectation by default): float64[K] and
    float64[K, n_states]. Multi-cut, one cut per trial state and opening of
    stage ``t`` (``risk`` is not used): float64[K, O] and float64[K, O, n_states].
    """
    lp = cache.lps[t]
    template = lp.template
    risk = risk or Expectation()
    n_trials, n_states = trial_states.shape
    cut_shape = (n_trials, template.n_openings) if multi_cut else (n_trials,)
    intercepts = np.empty(cut_shape)
    coefficients = np.empty((*cut_shape, n_states))

    def form_cut(k: int, values: np.ndarray, subgradients: np.ndarray) -> None:
        if multi_cut:
            intercepts[k], coefficients[k] = opening_cuts(values, subgradients, trial_states[k])
        else:
            weights = risk.weights(template.probabilities, values)
            intercepts[k], coefficients[k] = expected_cut(weights, values, subgradients, trial_states[k])

    _, _, final_basis = solve_openings(
        pool, lp, cache.bases[t], trial_states, first_trial, start_bases, orders, opening_chunk, form_cut
    )
    return intercepts, coefficients, final_basis


def solve_openings(
    pool: WorkerPool,
    lp: StageLP,
    basis: Basis,
    trial_states: np.ndarray,
    first_trial: int = 0,
    start_bases: Sequence[Basis] | None = None,
    orders: np.ndarray | None = None,
    opening_chunk: int | str = 0,
    on_complete: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, Basis | None]:
    """Every opening of ``lp`` at every trial state, in work items of ``opening_chunk`` openings (see
    :func:`backward_stage`): the values (float64[K, O]), the subgradients (float64[K, O, n_states]) and the
    final basis of trial state 0 (``None`` unless ``first_trial`` is 0).

    ``on_complete(k, values[k], subgradients[k])`` runs once trial state
    ``k``'s openings are all solved, in the worker that solved the last of
    them, so that forming its cut overlaps the other trial states' solves.
    """
    n_trials, n_states = trial_states.shape
    n_open = lp.template.n_openings
    values = np.empty((n_trials, n_open))
    subgradients = np.empty((n_trials, n_open, n_states))
    final_basis = basis_buffer(lp) if first_trial == 0 and n_trials else None
    if opening_chunk == "auto":
        opening_chunk = default_opening_chunk(n_open)
    chunk = opening_chunk if 0 < opening_chunk < n_open else max(n_open, 1)
    n_chunks = -(-n_open // chunk) if n_open else 1
    fork = n_chunks == 2 and orders is not None and n_open >= 3
    if fork:
        spans = forked_spans(n_open)
        orders = two_way_orders(orders, spans[-1][0])  # the backward walk starts where the onward one ends
        fork_points = [ForkPoint(lp) for _ in range(n_trials)]
    else:
        spans = [(c * chunk, min((c + 1) * chunk, n_open)) for c in range(n_chunks)]
    n_items = len(spans)
    chunks_left = np.full(n_trials, n_items, dtype=np.int64)
    counting = threading.Lock()

    def task(ws: SolverWorkspace, start: int, stop: int) -> None:
        for item in range(start, stop):
            k, c = divmod(item, n_items)
            last_chunk = c == n_items - 1
            start_basis = basis if start_bases is None else start_bases[k]
            out_basis = final_basis if (first_trial + k == 0 and last_chunk) else None
            publish = fork_points[k] if fork and c == 0 else None
            after = fork_points[k] if fork and c == 1 else None
            try:
                solved = ws.solve_backward(
                    lp,
                    start_basis,
                    trial_states[k],
                    first_trial + k,
                    values[k],
                    subgradients[k],
                    out_basis,
                    None if orders is None else orders[k],
                    *spans[c],
                    publish=publish,
                    after=after,
                )
            except BaseException:
                if publish is not None:
                    publish.fail()  # no walk waits for a head that will not come
                raise
            if not solved:  # the head failed: its error is the one raised
                continue
            with counting:
                chunks_left[k] -= 1
                complete = chunks_left[k] == 0
            if complete and on_complete is not None:
                on_complete(k, values[k], subgradients[k])

    # a few work items of uneven cost per worker: dealt one at a time, so no worker idles at the end
    pool.run(task, 0, n_trials * n_items, one_at_a_time=True)
    return values, subgradients, final_basis


def basis_buffer(lp: StageLP) -> Basis:
    """A basis for a solve to write its final statuses into (uninitialised: the solve writes every byte).

    Not :meth:`Basis.slack`, whose column statuses are worked out from the
    template's bounds, once per backward stage, only to be overwritten.
    """
    return Basis(np.empty(lp.num_cols, dtype=np.uint8), np.empty(lp.num_rows, dtype=np.uint8))


def forked_spans(n_openings: int) -> list[tuple[int, int]]:
    """The positions of a trial state's order in a split into two (``two_way_orders``): two work items.

    The first starts with the forward pass's own opening (the head), publishes
    the basis it ended with (:class:`~caudal.solver.workspace.ForkPoint`) and
    walks on along the tour, hot; the second waits for that basis and walks
    the rest of the tour backward from the head's predecessor. The first item
    takes the odd one out of the walks: the second starts later, by a solve.
    """
    ahead = 1 + -(-(n_openings - 1) // 2)
    return [(0, ahead), (ahead, n_openings)]


def expected_cut(
    probabilities: np.ndarray, values: np.ndarray, subgradients: np.ndarray, trial_state: np.ndarray
) -> tuple[float, np.ndarray]:
    """Average the openings' linearisations at one trial state into one cut.

    Opening ``o`` at trial state ``x`` gives ``Q_o(y) >= values[o] +
    subgradients[o] . (y - x)``; the cut is their probability-weighted sum. It
    is computed one trial state at a time, with the same array shapes whatever
    the layout, so its floating-point result does not depend on the layout.
    """
    coefficients = probabilities @ subgradients
    intercept = float(probabilities @ values) - float(coefficients @ trial_state)
    return intercept, coefficients


def opening_cuts(
    values: np.ndarray, subgradients: np.ndarray, trial_state: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Every opening's linearisation at one trial state, as its own cut (multi-cut).

    Cut ``o`` is ``Q_o(y) >= values[o] + subgradients[o] . (y - x)``, i.e.
    intercept ``values[o] - subgradients[o] . x``; like :func:`expected_cut` it
    is computed one trial state at a time, so the bits do not depend on the layout.
    """
    return values - subgradients @ trial_state, subgradients


def first_stage_bound(
    cache: StageCache,
    pool: WorkerPool,
    initial_state: np.ndarray,
    risk: RiskMeasure | None = None,
    order: np.ndarray | None = None,
    opening_chunk: int | str = 0,
) -> tuple[float, Basis]:
    """Value of the first stage over its openings (risk-adjusted if asked): the lower bound.

    The openings are solved in ``order`` if given (int32[O]), else in index
    order, split into work items by ``opening_chunk`` as a backward trial
    state is (:func:`solve_openings`).
    """
    lp = cache.lps[0]
    values, _, final_basis = solve_openings(
        pool, lp, cache.bases[0], initial_state[None, :], orders=None if order is None else order[None, :],
        opening_chunk=opening_chunk,
    )
    weights = (risk or Expectation()).weights(lp.template.probabilities, values[0])
    return float(weights @ values[0]), final_basis
