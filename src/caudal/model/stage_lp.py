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
  ``theta - beta . x_out >= alpha`` appended after the template rows.
* Opening ``o`` of the stage sets, for every row patch ``k``, the row bounds
  ``row_patch_lower[o, k]`` / ``row_patch_upper[o, k]`` of row
  ``row_patch_index[k]``, and likewise for column bounds.
* The objective is always minimised; a maximisation problem is negated by the
  problem layer before it gets here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INF = float("inf")
"""Infinite bound as stored in templates (HiGHS treats >= 1e30 as infinite)."""

INDEX = np.int32
"""Index type of the HiGHS C API in the highspy wheel (HighsInt is 32-bit)."""


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

    def dense_matrix(self) -> np.ndarray:
        """The constraint matrix as a dense array (for tests and small problems)."""
        dense = np.zeros((self.num_rows, self.num_cols))
        for j in range(self.num_cols):
            lo, hi = self.col_start[j], self.col_start[j + 1]
            dense[self.row_index[lo:hi], j] = self.values[lo:hi]
        return dense


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

    @property
    def num_cols(self) -> int:
        return self.template.num_cols

    @property
    def num_cuts(self) -> int:
        return int(self.cut_ids.shape[0])

    @property
    def nnz(self) -> int:
        return int(self.col_start[-1])


def assemble_stage_lp(
    template: StageTemplate,
    intercepts: np.ndarray,
    coefficients: np.ndarray,
    cut_ids: np.ndarray,
    version: int,
) -> StageLP:
    """Append cuts ``theta - coefficients[c] . x_out >= intercepts[c]`` to a template.

    ``intercepts`` has one entry per cut and ``coefficients`` one row per cut
    (``n_states`` columns). The result is in CSC form: each cut adds an entry to
    the value-function column and to every outgoing-state column.
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
        )
    cut_cols = np.concatenate(([template.theta_col], template.state_out_cols)).astype(np.int64)
    cut_rows = template.num_rows + np.arange(n_cuts, dtype=INDEX)
    # values of the cut block, one row of the block per cut column
    cut_values = np.empty((cut_cols.size, n_cuts))
    cut_values[0] = 1.0
    cut_values[1:] = -coefficients.T
    extra = np.zeros(template.num_cols, dtype=np.int64)
    extra[cut_cols] = n_cuts
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
    # cut entries follow, in cut order
    for k, j in enumerate(cut_cols):
        head = col_start[j] + template_counts[j]
        row_index[head : head + n_cuts] = cut_rows
        values[head : head + n_cuts] = cut_values[k]
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
    )
