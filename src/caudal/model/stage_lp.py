"""Array form of one stage: the LP template and the places scenario values go.

This is the contract between the problem layer and the solvers. Everything is a
flat numpy array (CSC matrix, bounds, costs, patch indices) so that the native
hot path can read it without touching Python objects.

Conventions
-----------
* Every stage has the same ``n_states`` state variables. Stage ``t`` has one
  *outgoing* column per state (``state_out_cols``) and one *incoming* column per
  state (``state_in_cols``). Incoming columns are fixed (lower = upper) to the
  previous stage's outgoing value before each solve; their reduced costs are the
  subgradient of the stage value with respect to the incoming state.
* ``theta_col`` is the value-function column: the cost-to-go of the stages after
  this one, with objective coefficient ``discount``. Cuts are rows
  ``theta_g - beta . x_out >= alpha`` appended after the template rows, where
  ``theta_g`` is column ``cut_cols[g]`` and ``g`` is the cut's *target*. In the
  usual single-cut layout ``cut_cols == [theta_col]``: every cut bounds theta.
  In the multi-cut layout (:func:`with_opening_columns`) the cost-to-go is
  split by the next stage's openings: one column ``theta_o`` per opening ``o``
  (``cut_cols``), tied to theta by the template row
  ``theta - sum_o p_o theta_o = 0`` (``p = cut_weights``), and each cut bounds
  one opening's column. Either way ``theta = sum_g cut_weights[g] theta_g`` at
  an optimum, so the rest of the engine reads the cost-to-go from ``theta_col``.
* Opening ``o`` of the stage sets, for every row patch ``k``, the row bounds
  ``row_patch_lower[o, k]`` / ``row_patch_upper[o, k]`` of row
  ``row_patch_index[k]``, and likewise for column bounds.
* The objective is always minimised; a maximisation problem is negated by the
  problem layer before it gets here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from caudal.model.objective_scale import SolverForm, solver_form

INF = float("inf")
"""Infinite bound as stored in templates (HiGHS treats >= 1e30 as infinite)."""

INDEX = np.int32
"""Index type of the HiGHS C API (HighsInt is 32-bit; the native build refuses a 64-bit HiGHS)."""


@dataclass(frozen=True, eq=False)
class StageTemplate:
    """One stage's LP without cuts, plus where state and opening values go."""

    index: int
    num_cols: int
    num_rows: int
    # CSC constraint matrix (columns x rows)
    col_start: np.ndarray  # int32[num_cols + 1]
    row_index: np.ndarray  # int32[nnz]
    values: np.ndarray  # float64[nnz]
    col_cost: np.ndarray  # float64[num_cols]
    col_lower: np.ndarray  # float64[num_cols]
    col_upper: np.ndarray  # float64[num_cols]
    row_lower: np.ndarray  # float64[num_rows]
    row_upper: np.ndarray  # float64[num_rows]
    # states and value function
    state_out_cols: np.ndarray  # int32[n_states]
    state_in_cols: np.ndarray  # int32[n_states]
    theta_col: int
    discount: float
    cut_cols: np.ndarray  # int32[n_targets]: the column each cut target bounds
    cut_weights: np.ndarray  # float64[n_targets]: theta = cut_weights . theta[cut_cols]
    # openings
    probabilities: np.ndarray  # float64[n_openings], sums to 1
    row_patch_index: np.ndarray  # int32[n_row_patches]
    row_patch_lower: np.ndarray  # float64[n_openings, n_row_patches]
    row_patch_upper: np.ndarray  # float64[n_openings, n_row_patches]
    col_patch_index: np.ndarray  # int32[n_col_patches]
    col_patch_lower: np.ndarray  # float64[n_openings, n_col_patches]
    col_patch_upper: np.ndarray  # float64[n_openings, n_col_patches]
    # names, for outputs and error messages
    col_names: tuple[str, ...]
    row_names: tuple[str, ...]

    @property
    def n_states(self) -> int:
        return int(self.state_out_cols.shape[0])

    @property
    def n_openings(self) -> int:
        return int(self.probabilities.shape[0])

    @property
    def nnz(self) -> int:
        return int(self.col_start[-1])

    @property
    def n_targets(self) -> int:
        """Value-function columns cuts may bound: 1 single-cut, the next stage's openings multi-cut."""
        return int(self.cut_cols.shape[0])

    def dense_matrix(self) -> np.ndarray:
        """The constraint matrix as a dense array (for tests and small problems)."""
        dense = np.zeros((self.num_rows, self.num_cols))
        for j in range(self.num_cols):
            lo, hi = self.col_start[j], self.col_start[j + 1]
            dense[self.row_index[lo:hi], j] = self.values[lo:hi]
        return dense


@dataclass(frozen=True, eq=False)
class ReserveCuts:
    """Active cuts kept out of a stage LP's rows, for the solvers to check after each solve.

    A stage LP may carry only its *working* cuts as rows (see
    :mod:`caudal.sddp.working_set`); the rest of the policy's cuts wait here.
    After every optimal solve the workspaces add the reserve cuts the solution
    violates as rows and solve again, until none is violated, so every solve
    is the solve of the LP with all the cuts.

    The arrays are the pool's own (views, indexed by ``ids``), not copies, so a
    node whose ranks share the pools and stage LPs (:mod:`caudal.sddp.cuts`,
    :mod:`caudal.sddp.shared_stage_cache`) holds no second copy of the cuts per
    rank. A pool only appends, so the views hold the right rows until the pool
    grows; growth frees a node-shared pool's old array, and the stage cache
    rebuilds the stage (new views) right after the pool grows.
    """

    ids: np.ndarray  # int64[R]: the reserve cuts, as positions in the pool's arrays
    intercepts: np.ndarray  # float64[pool size]
    coefficients: np.ndarray  # float64[pool size, n_states]
    targets: np.ndarray  # int32[pool size]: the value-function column each cut bounds (index into cut_cols)

    @property
    def size(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, eq=False)
class StageLP:
    """A stage's LP ready to load: the template with its active cuts as extra rows.

    Rows ``0 .. template.num_rows-1`` are the template's; rows after that are the
    cuts in ``cut_ids`` order. Instances are immutable once built, so every
    thread may read the same one without locks.
    """

    template: StageTemplate
    num_rows: int
    col_start: np.ndarray  # int32[num_cols + 1]
    row_index: np.ndarray  # int32[nnz]
    values: np.ndarray  # float64[nnz]
    row_lower: np.ndarray  # float64[num_rows]
    row_upper: np.ndarray  # float64[num_rows]
    cut_ids: np.ndarray  # int64[num_cuts]: position of each cut row in its pool
    version: int  # increases whenever the set of cuts changes
    reserve: ReserveCuts | None = None  # active cuts that are not rows, checked after each solve

    @property
    def num_cols(self) -> int:
        return self.template.num_cols

    @property
    def num_cuts(self) -> int:
        return int(self.cut_ids.shape[0])

    @cached_property
    def solver_form(self) -> SolverForm:
        """The arrays the solvers load, with the objective scaled (:mod:`caudal.model.objective_scale`).

        Computed once per LP, by the first worker that loads it, and shared.
        """
        return solver_form(self)

    @property
    def nnz(self) -> int:
        return int(self.col_start[-1])

    @property
    def array_bytes(self) -> int:
        """Bytes of the arrays a solver loads: the constraint matrix and the row bounds."""
        return (self.col_start.nbytes + self.row_index.nbytes + self.values.nbytes + self.row_lower.nbytes
                + self.row_upper.nbytes)


def assemble_stage_lp(
    template: StageTemplate,
    intercepts: np.ndarray,
    coefficients: np.ndarray,
    cut_ids: np.ndarray,
    version: int,
    targets: np.ndarray | None = None,
    reserve: ReserveCuts | None = None,
) -> StageLP:
    """Append cuts ``theta_g - coefficients[c] . x_out >= intercepts[c]`` to a template.

    ``intercepts`` has one entry per cut and ``coefficients`` one row per cut
    (``n_states`` columns); ``targets`` (default: all 0) gives each cut's ``g``,
    an index into ``template.cut_cols``. The result is in CSC form: each cut
    adds an entry to its target's value-function column and to every
    outgoing-state column, in cut order within each column. ``reserve`` cuts
    are not rows; they ride along for the solvers to check (:class:`ReserveCuts`).
    """
    n_cuts = int(intercepts.shape[0])
    n_rows = template.num_rows + n_cuts
    if n_cuts == 0:
        return StageLP(
            template=template,
            num_rows=n_rows,
            col_start=template.col_start,
            row_index=template.row_index,
            values=template.values,
            row_lower=template.row_lower,
            row_upper=template.row_upper,
            cut_ids=np.asarray(cut_ids, dtype=np.int64),
            version=version,
            reserve=reserve,
        )
    targets = np.zeros(n_cuts, dtype=np.int64) if targets is None else np.asarray(targets, dtype=np.int64)
    if targets.shape != (n_cuts,) or int(targets.min()) < 0 or int(targets.max()) >= template.n_targets:
        raise ValueError(
            f"stage {template.index}: cut targets must be {n_cuts} indices below {template.n_targets} "
            "(the stage's value-function columns)"
        )
    state_cols = template.state_out_cols.astype(np.int64)
    target_cols = template.cut_cols.astype(np.int64)
    cut_rows = template.num_rows + np.arange(n_cuts, dtype=INDEX)
    per_target = np.bincount(targets, minlength=template.n_targets)
    extra = np.zeros(template.num_cols, dtype=np.int64)
    extra[state_cols] = n_cuts
    extra[target_cols] += per_target
    template_counts = np.diff(template.col_start).astype(np.int64)
    col_start = np.zeros(template.num_cols + 1, dtype=np.int64)
    np.cumsum(template_counts + extra, out=col_start[1:])
    nnz = int(col_start[-1])
    row_index = np.empty(nnz, dtype=INDEX)
    values = np.empty(nnz, dtype=np.float64)
    # template entries keep their order at the head of each column
    offsets = np.repeat(col_start[:-1] - template.col_start[:-1], template_counts)
    positions = np.arange(template.nnz, dtype=np.int64) + offsets
    row_index[positions] = template.row_index
    values[positions] = template.values
    # cut entries follow, in cut order: every cut in each state column ...
    minus_coefficients = -coefficients.T
    for k, j in enumerate(state_cols):
        head = col_start[j] + template_counts[j]
        row_index[head : head + n_cuts] = cut_rows
        values[head : head + n_cuts] = minus_coefficients[k]
    # ... and each cut in its target's column (a stable sort keeps cut order within a target)
    order = np.argsort(targets, kind="stable")
    sorted_targets = targets[order]
    first_of_target = np.cumsum(per_target) - per_target
    columns = target_cols[sorted_targets]
    rank = np.arange(n_cuts, dtype=np.int64) - first_of_target[sorted_targets]
    heads = col_start[columns] + template_counts[columns] + rank
    row_index[heads] = cut_rows[order]
    values[heads] = 1.0
    return StageLP(
        template=template,
        num_rows=n_rows,
        col_start=col_start.astype(INDEX),
        row_index=row_index,
        values=values,
        row_lower=np.concatenate((template.row_lower, intercepts)),
        row_upper=np.concatenate((template.row_upper, np.full(n_cuts, INF))),
        cut_ids=np.asarray(cut_ids, dtype=np.int64),
        version=version,
        reserve=reserve,
    )


def with_opening_columns(template: StageTemplate, probabilities: np.ndarray) -> StageTemplate:
    """The multi-cut layout of a (non-last) stage: one value-function column per next-stage opening.

    Column ``theta_o`` (appended after the template's columns, cost 0, bounded
    below like theta) carries the cost-to-go should the next stage take opening
    ``o``; the appended row ``theta - sum_o p_o theta_o = 0`` makes theta, whose
    cost stays ``discount``, their expectation. Cuts then bound each
    ``theta_o`` separately: the LP keeps every opening's linearisation instead
    of only their average, which tightens the approximation per iteration at
    the price of ``O`` times as many cut rows. Only the expectation can be
    written this way: the weights ``p`` are fixed in the LP.
    """
    if template.n_targets != 1 or template.cut_cols[0] != template.theta_col:
        raise ValueError(f"stage {template.index} already has per-opening value columns")
    probabilities = np.ascontiguousarray(probabilities, dtype=np.float64)
    n_open = int(probabilities.shape[0])
    theta = template.theta_col
    link_row = template.num_rows
    new_cols = template.num_cols + np.arange(n_open, dtype=INDEX)
    # CSC: theta's column gains the link row (the highest row, so rows stay ascending);
    # each theta_o column holds its one link entry.
    counts = np.diff(template.col_start).astype(np.int64)
    counts[theta] += 1
    col_start = np.zeros(template.num_cols + n_open + 1, dtype=np.int64)
    np.cumsum(np.concatenate((counts, np.ones(n_open, dtype=np.int64))), out=col_start[1:])
    insert_at = int(template.col_start[theta + 1])
    row_index = np.concatenate(
        (template.row_index[:insert_at], [link_row], template.row_index[insert_at:], np.full(n_open, link_row))
    ).astype(INDEX)
    values = np.concatenate((template.values[:insert_at], [1.0], template.values[insert_at:], -probabilities))
    bound = template.col_lower[theta]
    return replace(
        template,
        num_cols=template.num_cols + n_open,
        num_rows=template.num_rows + 1,
        col_start=col_start.astype(INDEX),
        row_index=row_index,
        values=values,
        col_cost=np.concatenate((template.col_cost, np.zeros(n_open))),
        col_lower=np.concatenate((template.col_lower, np.full(n_open, bound))),
        col_upper=np.concatenate((template.col_upper, np.full(n_open, INF))),
        row_lower=np.concatenate((template.row_lower, [0.0])),
        row_upper=np.concatenate((template.row_upper, [0.0])),
        cut_cols=new_cols,
        cut_weights=probabilities.copy(),
        col_names=template.col_names + tuple(f"theta[{o}]" for o in range(n_open)),
        row_names=template.row_names + ("theta_link",),
    )
