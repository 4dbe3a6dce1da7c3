"""Stage LP rebuilds with the template's share of the work done once.

The training rebuilds a stage's LP after every backward stage (a new cut, a
new working set): on 4ree with one forward pass that is 2,816 rebuilds in 256
iterations, each of a few dozen numpy calls on arrays of a few hundred
entries, so the calls' fixed cost, not the arithmetic, is the rebuild's time.
:class:`CutRowAssembler` keeps what depends on the template alone (column
counts, where each template entry lands as a function of the cut count, the
state and value-function columns) and fills the cut entries of every state
column with one fancy-indexed assignment instead of one per column. It also
hands each LP its solver form (objective scaled,
:mod:`caudal.model.objective_scale`), built the same way: the columns' costs
and bounds and the template rows' factors are the template's alone, and the
cut entries are scaled as they are written.

The arrays are the very ones :func:`caudal.model.stage_lp.assemble_stage_lp`
builds, element for element (same order of entries in every column: the
template's first, then the cuts in row order), so an LP built here solves
along the same path; ``tests/test_stage_assembly.py`` compares the two. It
covers the single-cut layout (one value-function column); multi-cut stages,
whose cuts are spread over the openings' columns, keep the general builder.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from caudal.model.objective_scale import SolverForm, solver_form
from caudal.model.stage_lp import INDEX, INF, ReserveCuts, StageLP, StageTemplate, assemble_stage_lp

try:
    from caudal._stage_rows import fill_cut_columns
except ImportError:  # not built: CutRowAssembler._cut_columns gives the same arrays in numpy
    fill_cut_columns = None


def serves(template: StageTemplate) -> bool:
    """Whether :class:`CutRowAssembler` builds ``template``'s LPs: one value-function column, not a state's."""
    return template.n_targets == 1 and int(template.cut_cols[0]) not in set(template.state_out_cols.tolist())


class CutRowAssembler:
    """Builds stage LPs of one template (single-cut) from their cut rows."""

    def __init__(self, template: StageTemplate):
        if not serves(template):
            raise ValueError(f"stage {template.index}: the cut-row assembler serves single-cut stages")
        self.template = template
        counts = np.diff(template.col_start).astype(np.int64)
        state_cols = template.state_out_cols.astype(np.int64)
        value_col = int(template.cut_cols[0])
        # columns that gain one entry per cut: every outgoing state and the value-function column
        per_cut = np.zeros(template.num_cols, dtype=np.int64)
        per_cut[state_cols] = 1
        per_cut[value_col] += 1
        # column j of the LP with n cuts starts at template start + n x (columns before j that gain entries)
        self._gaining_before = np.zeros(template.num_cols + 1, dtype=np.int64)
        np.cumsum(per_cut, out=self._gaining_before[1:])
        # Held for the whole training, once per stage: the template's own int32 starts (no int64 copy), and
        # the per-entry shift in int32 (at most one per state plus one); sums are taken in int64 in assemble.
        self._template_start = template.col_start
        entry_cols = np.repeat(np.arange(template.num_cols, dtype=np.int64), counts)
        self._entry_gaining_before = self._gaining_before[entry_cols].astype(np.int32)
        # the cut entries of column j follow its template entries
        self._state_tail = self._template_start[state_cols + 1][:, None]
        self._state_shift = self._gaining_before[state_cols][:, None]
        self._value_tail = int(self._template_start[value_col + 1])
        self._value_shift = int(self._gaining_before[value_col])
        # the solver form of the cut-free LP: its column arrays and value-column flags serve every LP
        # of the template (read-only, shared); its values and row arrays are the head of each LP's
        self._bare_form = solver_form(assemble_stage_lp(template, np.zeros(0), np.zeros((0, template.n_states)),
                                                        np.zeros(0, dtype=np.int64), 0))
        for shared in (self._bare_form.col_cost, self._bare_form.col_lower, self._bare_form.col_upper,
                       self._bare_form.value_cols):
            shared.setflags(write=False)

    def assemble(
        self,
        intercepts: np.ndarray,
        coefficients: np.ndarray,
        cut_ids: np.ndarray,
        version: int,
        reserve: ReserveCuts | None = None,
        native: bool = True,
    ) -> StageLP:
        """``assemble_stage_lp(template, intercepts, coefficients, cut_ids, version, None, reserve)``, faster.

        The CSC arrays come from the compiled kernel (``native/_stage_rows.pyx``)
        when it is built and ``native`` holds, else from :meth:`_cut_columns`,
        its numpy reference: the same arrays element for element.
        """
        template = self.template
        n_cuts = int(intercepts.shape[0])
        if n_cuts == 0:
            # the cut-free LP's solver form is the one already held (one copy per stage, not two)
            lp = assemble_stage_lp(template, intercepts, coefficients, cut_ids, version, None, reserve)
            lp.__dict__["solver_form"] = self._bare_form
            return lp
        bare = self._bare_form
        scale = bare.scale
        if native and fill_cut_columns is not None:
            nnz = template.nnz + n_cuts * self._per_cut_entries
            col_start = np.empty(template.num_cols + 1, dtype=INDEX)
            row_index, values, scaled_values = np.empty(nnz, dtype=INDEX), np.empty(nnz), np.empty(nnz)
            fill_cut_columns(template.col_start, template.row_index, template.values, bare.values,
                             self._state_of_col, self._value_col, template.num_rows,
                             np.ascontiguousarray(coefficients, dtype=np.float64), scale,
                             col_start, row_index, values, scaled_values)
        else:
            col_start, row_index, values, scaled_values = self._cut_columns(coefficients, n_cuts)
        row_upper, form_row_upper, row_dual_factor = self._bound_tails.prefixes(n_cuts)
        lp = StageLP(
            template=template,
            num_rows=template.num_rows + n_cuts,
            col_start=col_start,
            row_index=row_index,
            values=values,
            row_lower=np.concatenate((template.row_lower, intercepts)),
            row_upper=row_upper,
            cut_ids=np.asarray(cut_ids, dtype=np.int64),
            version=version,
            reserve=reserve,
        )
        form = SolverForm(
            scale=scale,
            col_cost=bare.col_cost,
            col_lower=bare.col_lower,
            col_upper=bare.col_upper,
            values=scaled_values,
            row_lower=np.concatenate((bare.row_lower, intercepts * scale)),
            row_upper=form_row_upper,
            value_cols=bare.value_cols,
            row_dual_factor=row_dual_factor,
        )
        # StageLP.solver_form is a cached property: what it would compute from these arrays, computed here
        lp.__dict__["solver_form"] = form
        return lp

    @cached_property
    def _bound_tails(self) -> _RowPrefixes:
        """The row arrays that depend on the number of cuts alone: row uppers (a cut row has none) and dual factors."""
        bare = self._bare_form
        return _RowPrefixes((self.template.row_upper, bare.row_upper, bare.row_dual_factor),
                            (INF, INF * bare.scale, 1.0))

    @cached_property
    def _state_of_col(self) -> np.ndarray:
        """int64[num_cols]: the outgoing state each column holds, -1 for the others (for the kernel)."""
        state_of_col = np.full(self.template.num_cols, -1, dtype=np.int64)
        state_of_col[self.template.state_out_cols] = np.arange(self.template.n_states)
        return state_of_col

    @property
    def _value_col(self) -> int:
        return int(self.template.cut_cols[0])

    @property
    def _per_cut_entries(self) -> int:
        """Entries each cut adds: one per outgoing state, one in the value column."""
        return int(self._gaining_before[-1])

    def _cut_columns(self, coefficients: np.ndarray, n_cuts: int) -> tuple[np.ndarray, ...]:
        """(col_start, row_index, values, scaled values) of the LP with ``n_cuts`` cut rows, in numpy.

        The reference of the compiled ``fill_cut_columns``: each template entry
        lands at its shifted position with one fancy-indexed assignment, the
        cut entries of every state column with another.
        """
        template, scale = self.template, self._bare_form.scale
        col_start = self._template_start + n_cuts * self._gaining_before
        nnz = int(col_start[-1])
        row_index = np.empty(nnz, dtype=INDEX)
        values = np.empty(nnz, dtype=np.float64)
        positions = np.multiply(self._entry_gaining_before, n_cuts, dtype=np.int64)
        positions += np.arange(template.nnz, dtype=np.int64)
        scaled_values = np.empty(nnz, dtype=np.float64)
        row_index[positions] = template.row_index
        values[positions] = template.values
        scaled_values[positions] = self._bare_form.values
        cut_rows = template.num_rows + np.arange(n_cuts, dtype=INDEX)
        # state column k: the cuts' -coefficients[:, k], in cut order
        state_entries = self._state_tail + n_cuts * self._state_shift + np.arange(n_cuts, dtype=np.int64)
        minus_coefficients = -coefficients.T
        row_index[state_entries] = cut_rows
        values[state_entries] = minus_coefficients
        scaled_values[state_entries] = minus_coefficients * scale
        value_head = self._value_tail + n_cuts * self._value_shift
        row_index[value_head : value_head + n_cuts] = cut_rows
        values[value_head : value_head + n_cuts] = 1.0
        scaled_values[value_head : value_head + n_cuts] = 1.0  # the value column holds scale x theta already
        return col_start.astype(INDEX), row_index, values, scaled_values


class _RowPrefixes:
    """Row arrays of a stage LP that depend on its number of cuts alone, each the prefix of one held array.

    Array ``i`` is ``heads[i]`` (the template's rows) followed by one
    ``tails[i]`` per cut row. Held once at the largest number of cuts asked for
    (grown by doubling) and handed out as read-only prefix views, so a rebuild
    neither allocates nor fills them; an LP keeps the array its views are of
    alive when a later rebuild grows it.
    """

    def __init__(self, heads: tuple[np.ndarray, ...], tails: tuple[float, ...]):
        self._heads, self._tails = heads, tails
        self._n_head = int(heads[0].shape[0])
        self._arrays: tuple[np.ndarray, ...] = ()
        self._capacity = -1

    def prefixes(self, n_cuts: int) -> tuple[np.ndarray, ...]:
        if n_cuts > self._capacity:
            self._grow(max(n_cuts, 2 * self._capacity, 16))
        n_rows = self._n_head + n_cuts
        return tuple(array[:n_rows] for array in self._arrays)

    def _grow(self, capacity: int) -> None:
        arrays = []
        for head, tail in zip(self._heads, self._tails, strict=True):
            array = np.full(self._n_head + capacity, tail)
            array[: self._n_head] = head
            array.setflags(write=False)
            arrays.append(array)
        self._arrays, self._capacity = tuple(arrays), capacity
