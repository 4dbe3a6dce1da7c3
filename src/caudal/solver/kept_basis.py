"""Backward openings answered from the basis the previous opening ended at: the highspy reference of the kernel's rule.

The openings of a backward work item differ in a few bounds (inflows), so the
optimal basis of one is often optimal for the next, or a few dual simplex
pivots from it: costs do not change, so the basis stays dual feasible and only
its primal values move. :class:`KeptBasis` holds the last optimal solve of a
work item and answers the next opening with the factorisation HiGHS left
(``getBasisSolve``/``getBasisTransposeSolve``), pivoting at most
:data:`KEPT_PIVOTS` times; the basis changes since HiGHS factorised are kept in
product form (eta vectors), at most :data:`KEPT_ETAS` of them. Anything
unusual leaves the opening to ``Highs::run``, which starts from HiGHS's own
basis. The native kernel (``native/_native.pyx``, "openings the kept basis
answers") implements the same rule; this module follows it step by step, with
the same right-hand sides handed to HiGHS and the sums that decide pivots taken
in the kernel's order, so both answer the same openings with the same pivots.

Variables are HiGHS's: column ``j`` (index ``j``), and the logical of row
``i`` (index ``n + i``, numbered ``-1 - i`` among basic variables), which is
minus the row's activity, with the unit column ``e_i`` in the basis matrix.
A logical's bounds are ``[-upper, -lower]`` of its row, its reduced cost is
minus the row dual, and a row at its lower bound has its logical at its upper.
"""

from __future__ import annotations

import highspy
import numpy as np

from caudal.model.stage_lp import StageLP
from caudal.solver.workspace import BASIC, LOWER, UPPER

KEPT_PIVOTS = 4
"""Dual simplex pivots an opening may take on the kept factorisation before it is left to ``Highs::run``."""

PIVOT_PATIENCE = 2
"""A backward work item whose pivots have failed this many times, none succeeding, stops pivoting (see the kernel)."""

KEPT_ETAS = 16
"""Pivots a work item may stack on the factorisation of its last ``Highs::run`` before it runs again."""

PIVOT_TOLERANCE = 1e-7
"""A pivot row entry at most this large (absolute) never enters: HiGHS's own dual simplex pivot threshold."""

_FLIPPED = {LOWER: UPPER, UPPER: LOWER}


def _sequential_sums(initial: np.ndarray, starts: np.ndarray, lengths: np.ndarray, terms: np.ndarray) -> np.ndarray:
    """``initial[s] + terms[starts[s]] + terms[starts[s] + 1] + ...``, each segment added up in order.

    The kernel adds term by term in a C loop; numpy's reductions sum pairwise,
    which rounds differently. A running sum (``np.add.accumulate``) along each
    row of a zero-padded table gives the kernel's sums to the bit.
    """
    width = int(lengths.max(initial=0))
    table = np.zeros((initial.size, width + 1))
    table[:, 0] = initial
    segment = np.repeat(np.arange(initial.size), lengths)
    offset = np.arange(segment.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)  # within its segment
    table[segment, offset + 1] = terms[np.repeat(starts, lengths) + offset]
    return np.add.accumulate(table, axis=1)[:, -1]


def _column_dots(lp: StageLP, values: np.ndarray, vector: np.ndarray, columns: np.ndarray,
                 initial: np.ndarray) -> np.ndarray:
    """``initial + sum over column j's entries of vector[row] * values[entry]``, in the matrix's order."""
    starts = lp.col_start[columns]
    terms = vector[lp.row_index] * values
    return _sequential_sums(initial, starts, lp.col_start[columns + 1] - starts, terms)


def _running_sum(first: float, terms: np.ndarray) -> float:
    """``first + terms[0] + terms[1] + ...`` added in order, as a C loop does."""
    return float(np.add.accumulate(np.concatenate(([first], terms)))[-1])


class KeptBasis:
    """The last optimal solve of a backward work item, updated in place as it answers later openings."""

    def __init__(self, highs: highspy.Highs, lp: StageLP, incoming: np.ndarray, opening: int,
                 primal_tolerance: float, dual_tolerance: float) -> None:
        self.highs, self.lp, self.incoming = highs, lp, incoming
        self.primal_tolerance, self.dual_tolerance = primal_tolerance, dual_tolerance
        solution, basis = highs.getSolution(), highs.getBasis()
        self.opening = opening
        self.objective = highs.getInfo().objective_function_value  # in the solver form
        self.col_value = np.array(solution.col_value)
        self.col_dual = np.array(solution.col_dual)
        self.row_value = np.array(solution.row_value)  # the stage LP's rows, then reserve cuts added as rows
        self.row_dual = np.array(solution.row_dual)
        self.col_status = np.array([int(s) for s in basis.col_status])
        self.row_status = np.array([int(s) for s in basis.row_status])
        self.basic = np.asarray(highs.getBasicVariables()[1], dtype=np.int64)  # column j, or row i as -1 - i
        self.etas: list[tuple[int, np.ndarray]] = []
        self.pivots = 0  # those the last answer took
        self.pivot_failed = False  # whether the last answer needed pivots and they failed
        # the LP's constant: HiGHS's objective less the columns' costs
        self.offset = _running_sum(self.objective, -(lp.solver_form.col_cost * self.col_value))
        self._rows: tuple[np.ndarray, ...] | None = None  # the matrix row by row, made when first needed

    # -- the variables -------------------------------------------------------------
    def _bounds(self, opening: int) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds at ``opening`` of every variable: columns, then logicals."""
        template, form = self.lp.template, self.lp.solver_form
        col_lower, col_upper = form.col_lower.copy(), form.col_upper.copy()
        col_lower[template.state_in_cols] = col_upper[template.state_in_cols] = self.incoming
        col_lower[template.col_patch_index] = template.col_patch_lower[opening]
        col_upper[template.col_patch_index] = template.col_patch_upper[opening]
        row_lower, row_upper = form.row_lower.copy(), form.row_upper.copy()
        row_lower[template.row_patch_index] = template.row_patch_lower[opening]
        row_upper[template.row_patch_index] = template.row_patch_upper[opening]
        return np.concatenate((col_lower, -row_upper)), np.concatenate((col_upper, -row_lower))

    def _status(self) -> np.ndarray:
        """Every variable's basis status, a logical's flipped from its row's."""
        rows = self.row_status
        logical = np.where(rows == LOWER, UPPER, np.where(rows == UPPER, LOWER, rows))
        return np.concatenate((self.col_status, logical))

    def _set_status(self, var: int, status: int) -> None:
        n = self.lp.num_cols
        if var < n:
            self.col_status[var] = status
        else:
            self.row_status[var - n] = _FLIPPED.get(status, status)

    def _value(self, var: int) -> float:
        n = self.lp.num_cols
        return float(self.col_value[var]) if var < n else -float(self.row_value[var - n])

    def _shift(self, var: int, delta: float) -> None:
        n = self.lp.num_cols
        if var < n:
            self.col_value[var] += delta
        else:
            self.row_value[var - n] -= delta

    def _basic_index(self) -> np.ndarray:
        """The basic variables as indices: columns ``j``, logicals ``n + i``."""
        return np.where(self.basic >= 0, self.basic, self.lp.num_cols - 1 - self.basic)

    def _add_column(self, rhs: np.ndarray, var: int, times: float) -> None:
        lp, n = self.lp, self.lp.num_cols
        if var < n:
            start, end = lp.col_start[var], lp.col_start[var + 1]
            rhs[lp.row_index[start:end]] += lp.solver_form.values[start:end] * times
        else:
            rhs[var - n] += times

    # -- solves with the kept factorisation and the etas ---------------------------------
    def _basis_solve(self, rhs: np.ndarray) -> np.ndarray:
        """``B^-1 rhs``: HiGHS's factorisation, then the etas in order."""
        y = np.array(self.highs.getBasisSolve(rhs)[1])
        for p, eta in self.etas:
            pivot_value = y[p] / eta[p]
            if pivot_value != 0.0:
                y -= eta * pivot_value
            y[p] = pivot_value
        return y

    def _transpose_solve(self, rhs: np.ndarray) -> np.ndarray:
        """``B^-T rhs``: the etas transposed, newest first, then HiGHS's factorisation."""
        v = rhs.copy()
        for p, eta in reversed(self.etas):
            terms = eta * v
            terms[p] = 0.0  # the kernel sums over i != p
            v[p] = (v[p] - _running_sum(0.0, terms)) / eta[p]
        return np.asarray(self.highs.getBasisTransposeSolve(v)[1])

    def _row_wise(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The matrix's entries row by row, columns ascending: their columns, each row's start and length, and
        where each sits in the column-wise arrays."""
        if self._rows is None:
            lp = self.lp
            columns = np.repeat(np.arange(lp.num_cols), np.diff(lp.col_start))
            order = np.lexsort((columns, lp.row_index))  # the kernel adds column after column into each row
            lengths = np.bincount(lp.row_index, minlength=lp.num_rows)
            starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
            self._rows = (columns[order], starts, lengths, order)
        return self._rows

    def _primal_values(self) -> None:
        """Basic values from the nonbasic ones, ``x_B = -B^-1 (A_N x_N + s_N)``."""
        columns, starts, lengths, entries = self._row_wise()
        nonbasic = (self.col_status != BASIC)[columns]
        terms = np.where(nonbasic, self.lp.solver_form.values[entries] * -self.col_value[columns], 0.0)
        rhs = _sequential_sums(np.zeros(self.lp.num_rows), starts, lengths, terms)
        nonbasic_rows = self.row_status != BASIC
        rhs[nonbasic_rows] += self.row_value[nonbasic_rows]
        x = self._basis_solve(rhs)
        is_col = self.basic >= 0
        self.col_value[self.basic[is_col]] = x[is_col]
        self.row_value[-1 - self.basic[~is_col]] = -x[~is_col]

    def _dual_values(self, lower: np.ndarray, upper: np.ndarray) -> bool:
        """Reduced costs from the basis; False if one is of the wrong sign beyond the dual tolerance."""
        lp = self.lp
        cost = lp.solver_form.col_cost
        c_basic = np.where(self.basic >= 0, cost[np.maximum(self.basic, 0)], 0.0)
        y = self._transpose_solve(c_basic)
        columns = np.flatnonzero(self.col_status != BASIC)
        self.col_dual[:] = 0.0
        self.col_dual[columns] = _column_dots(lp, -lp.solver_form.values, y, columns, cost[columns])
        self.row_dual = np.where(self.row_status == BASIC, 0.0, y)
        status = self._status()
        reduced = np.concatenate((self.col_dual, -self.row_dual))
        movable = (status != BASIC) & (lower != upper)
        wrong = (((status == LOWER) & (reduced < -self.dual_tolerance))
                 | ((status == UPPER) & (reduced > self.dual_tolerance)))
        return not np.any(movable & wrong)

    def _most_infeasible(self, lower: np.ndarray, upper: np.ndarray) -> tuple[int, float]:
        """The position whose basic variable lies furthest beyond its bounds (first of equals), or -1; the bound."""
        basic = self._basic_index()
        value = np.concatenate((self.col_value, -self.row_value))[basic]
        below, above = lower[basic] - value, value - upper[basic]
        worst = np.maximum(below, above)
        r = int(np.argmax(worst))
        if not worst[r] > self.primal_tolerance:
            return -1, 0.0
        return r, float(lower[basic[r]] if below[r] > self.primal_tolerance else upper[basic[r]])

    # -- one dual simplex pivot ---------------------------------------------------------------
    def _dual_pivot(self, r: int, target: float, lower: np.ndarray, upper: np.ndarray) -> bool:
        """The variable at position ``r`` leaves to ``target`` (see ``NativeKernel._dual_pivot``)."""
        lp, n, m = self.lp, self.lp.num_cols, self.lp.num_rows
        basic = self._basic_index()
        leaving = int(basic[r])
        value = self._value(leaving)
        direction = 1.0 if value < target else -1.0
        e = np.zeros(m)
        e[r] = 1.0
        rho = self._transpose_solve(e)
        status = self._status()
        alpha = np.zeros(n + m)
        columns = np.flatnonzero(self.col_status != BASIC)
        alpha[columns] = _column_dots(lp, lp.solver_form.values, rho, columns, np.zeros(columns.size))
        alpha[n:] = rho
        reduced = np.concatenate((self.col_dual, -self.row_dual))
        size = np.abs(alpha)
        entering = ((status != BASIC) & (size > PIVOT_TOLERANCE) & (lower != upper)
                    & ~((status == LOWER) & (direction * alpha >= 0.0))
                    & ~((status == UPPER) & (direction * alpha <= 0.0)))
        if np.any(entering & (status != LOWER) & (status != UPPER)):
            return False  # a free nonbasic variable could enter either way
        candidates = np.flatnonzero(entering)
        ratio = np.abs(reduced[candidates]) / size[candidates]
        # smaller ratio, then larger pivot entry, then smaller index: the kernel's order
        candidates = candidates[np.lexsort((candidates, -size[candidates], ratio))]
        slope, flips, q = abs(value - target), [], -1
        for j in candidates:
            width = upper[j] - lower[j]
            if width != np.inf and slope - size[j] * width > 0.0:
                slope -= size[j] * width
                flips.append(int(j))
                continue
            q = int(j)
            break
        if q < 0:
            return False
        if flips:
            rhs = np.zeros(m)
            for j in flips:
                delta = (upper[j] if status[j] == LOWER else lower[j]) - self._value(j)
                self._shift(j, delta)
                self._set_status(j, _FLIPPED[int(status[j])])
                self._add_column(rhs, j, delta)
            shift = self._basis_solve(rhs)
            for p in np.flatnonzero(shift):
                self._shift(int(basic[p]), -shift[p])
        rhs = np.zeros(m)
        self._add_column(rhs, q, 1.0)
        w = self._basis_solve(rhs)
        if abs(w[r] - alpha[q]) > 1e-9 * (1.0 + abs(alpha[q])):
            return False
        value = self._value(leaving)
        theta_primal = (value - target) / w[r]
        for p in np.flatnonzero(w):
            if p != r:
                self._shift(int(basic[p]), -theta_primal * w[p])
        self._shift(q, theta_primal)
        self._shift(leaving, target - value)
        theta_dual = reduced[q] / alpha[q]
        self.col_dual[columns] -= theta_dual * alpha[columns]
        rows = np.flatnonzero(self.row_status != BASIC)
        self.row_dual[rows] += theta_dual * alpha[n + rows]
        if q < n:
            self.col_dual[q] = 0.0
        else:
            self.row_dual[q - n] = 0.0
        if leaving < n:
            self.col_dual[leaving] = -theta_dual
        else:
            self.row_dual[leaving - n] = theta_dual
        self._set_status(q, BASIC)
        self._set_status(leaving, LOWER if target == lower[leaving] else UPPER)
        self.basic[r] = q if q < n else n - 1 - q
        self.etas.append((r, w))
        return True

    # -- an opening -----------------------------------------------------------------------------
    def answer(self, opening: int, col_moves: list[tuple[int, float]], row_moves: list[tuple[int, float]],
               may_pivot: bool = True) -> bool:
        """Answer ``opening`` after its nonbasic ``col_moves``/``row_moves``; False leaves it to ``Highs::run``.

        True: values, basis and reduced costs are the opening's optimal ones
        and ``objective`` its objective (solver form). False: this object is
        spoilt and must be replaced after the run. Reserve cuts added as rows
        are not in the LP's matrix, so an item that added some stops here.
        """
        self.pivots, self.pivot_failed = 0, False
        if self.row_value.size != self.lp.num_rows:
            return False
        for j, new in col_moves:
            self.col_value[j] = new
        for i, new in row_moves:
            self.row_value[i] = new
        self.opening = opening
        moved = bool(col_moves or row_moves)
        if moved:
            self._primal_values()
        lower, upper = self._bounds(opening)
        pivots = 0
        r, target = self._most_infeasible(lower, upper)
        while r >= 0:
            if not may_pivot:
                return False
            if pivots == KEPT_PIVOTS or len(self.etas) == KEPT_ETAS or not self._dual_pivot(r, target, lower, upper):
                self.pivot_failed = True
                return False
            pivots += 1
            r, target = self._most_infeasible(lower, upper)
            if r < 0:  # optimal: values afresh, checked again
                self._primal_values()
                if not self._dual_values(lower, upper):
                    self.pivot_failed = True
                    return False
                r, target = self._most_infeasible(lower, upper)
        if moved or pivots:
            self.objective = _running_sum(self.offset, self.lp.solver_form.col_cost * self.col_value)
        self.pivots = pivots
        return True
