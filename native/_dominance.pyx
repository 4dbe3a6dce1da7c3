# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Level-1 dominance without the GIL and without temporaries: the highest cut at each state.

:func:`caudal.sddp.selection.dominating_cuts` spends its time here at
production size (10,000 cuts, hundreds of states, hundreds of new states or
cuts per stage and iteration). Each value is the same chain of roundings as
the numpy reference, ``intercept``, then ``+ x_i * coef_ci`` for ``i = 0, 1,
...``; the build turns off contraction into fused multiply-adds
(``-ffp-contract=off``) so the bits do not depend on the CPU; ties go to the
oldest cut.

Two loop orders, one per shape, so that only the smaller operand is ever
transposed: :func:`dominating_cuts_native` runs along the cuts (few cuts against
many states: the new cuts of an iteration at every visited state) and
:func:`dominating_cuts_by_state` along the states (few states against many cuts:
the new states against the whole pool, read in place).
"""

from libc.math cimport INFINITY

import numpy as np

DEF ROWS = 8  # the narrow operand's block: its rows are kept in registers
DEF WIDTH = 256  # the wide operand's block: one row of it is read contiguously


def dominating_cuts_native(
    const double[::1] intercepts,
    const double[:, ::1] by_coordinate,
    const double[:, ::1] states,
    long long[::1] best_cut,
    double[::1] best_value,
):
    """Fill ``best_cut`` and ``best_value`` (one per row of ``states``, float64[rows, n]).

    ``by_coordinate`` is the cuts' coefficients transposed, float64[n, cuts], so
    one coordinate of a block of cuts is contiguous.
    """
    cdef Py_ssize_t n_rows = states.shape[0], n = states.shape[1], n_cuts = intercepts.shape[0]
    cdef double values[ROWS][WIDTH]
    cdef double best[ROWS]
    cdef long long arg[ROWS]
    cdef Py_ssize_t lo, r, rows, first, width, c
    cdef double value
    if by_coordinate.shape[0] != n or by_coordinate.shape[1] != n_cuts:
        raise ValueError("by_coordinate must be the coefficients transposed, float64[n, cuts]")
    _check_outputs(best_cut, best_value, n_rows)
    with nogil:
        for lo in range(0, n_rows, ROWS):
            rows = min(ROWS, n_rows - lo)
            for r in range(rows):
                best[r] = -INFINITY
                arg[r] = 0
            for first in range(0, n_cuts, WIDTH):
                width = min(WIDTH, n_cuts - first)
                for r in range(rows):
                    for c in range(width):
                        values[r][c] = intercepts[first + c]
                _add_products(values, &states[lo, 0], rows, &by_coordinate[0, first], n_cuts, width, n)
                for r in range(rows):
                    for c in range(width):
                        value = values[r][c]
                        if value > best[r]:
                            best[r] = value
                            arg[r] = first + c
            for r in range(rows):
                best_cut[lo + r] = arg[r]
                best_value[lo + r] = best[r]


def dominating_cuts_by_state(
    const double[::1] intercepts,
    const double[:, ::1] coefficients,
    const double[:, ::1] by_coordinate,
    long long[::1] best_cut,
    double[::1] best_value,
):
    """Fill ``best_cut`` and ``best_value`` for the states whose coordinates are the rows of ``by_coordinate``.

    ``coefficients`` is float64[cuts, n] as the pool holds them; ``by_coordinate``
    the states transposed, float64[n, states]. Eight cuts at a time share each
    read of a block of states; cuts are visited oldest first and a later one
    wins only when strictly higher.
    """
    cdef Py_ssize_t n_cuts = coefficients.shape[0], n = coefficients.shape[1], n_rows = by_coordinate.shape[1]
    cdef double values[ROWS][WIDTH]
    cdef Py_ssize_t lo, cuts, first, width, k, w
    cdef double value
    if by_coordinate.shape[0] != n or intercepts.shape[0] != n_cuts:
        raise ValueError("by_coordinate must be the states transposed, float64[n, states]")
    _check_outputs(best_cut, best_value, n_rows)
    with nogil:
        for w in range(n_rows):
            best_value[w] = -INFINITY
            best_cut[w] = 0
        for first in range(0, n_rows, WIDTH):
            width = min(WIDTH, n_rows - first)
            for lo in range(0, n_cuts, ROWS):
                cuts = min(ROWS, n_cuts - lo)
                for k in range(cuts):
                    for w in range(width):
                        values[k][w] = intercepts[lo + k]
                _add_products(values, &coefficients[lo, 0], cuts, &by_coordinate[0, first], n_rows, width, n)
                for k in range(cuts):
                    for w in range(width):
                        value = values[k][w]
                        if value > best_value[first + w]:
                            best_value[first + w] = value
                            best_cut[first + w] = lo + k


cdef int _check_outputs(long long[::1] best_cut, double[::1] best_value, Py_ssize_t n_rows) except -1:
    if best_cut.shape[0] != n_rows or best_value.shape[0] != n_rows:
        raise ValueError("best_cut and best_value need one entry per state")
    return 0


cdef inline void _add_products(
    double (*values)[WIDTH],
    const double* narrow,
    Py_ssize_t rows,
    const double* wide,
    Py_ssize_t wide_stride,
    Py_ssize_t width,
    Py_ssize_t n,
) noexcept nogil:
    """``values[r][c] += narrow[r, i] * wide[i, c]`` for ``i = 0, 1, ..., n - 1`` in turn: each value's roundings.

    ``narrow`` points at ``rows`` (at most ROWS) consecutive rows of a
    float64[*, n] array; ``wide`` at column ``first`` of a float64[n, *] array
    whose rows are ``wide_stride`` apart, of which ``width`` (at most WIDTH)
    columns are read. Both dominance kernels share this loop; they differ only in
    which operand (cuts or states) is the narrow one.
    """
    cdef double x[ROWS]
    cdef double y
    cdef Py_ssize_t i, r, c
    for i in range(n):
        for r in range(rows):
            x[r] = narrow[r * n + i]
        for c in range(width):
            y = wide[i * wide_stride + c]
            for r in range(rows):
                values[r][c] = values[r][c] + x[r] * y
