# Loading a stage LP into HiGHS: the one way both kernels do it.
#
# The engine (_native.pyx) and the benchmark's bare C loop (_bench.pyx) cimport
# this, so the yardstick solves exactly the LP the engine solves: the stage LP
# in its solver form, with the objective scaled (caudal.model.objective_scale).

from libc.stdint cimport int32_t

from highs_api cimport (
    HighsInt,
    Highs_passLp,
    kHighsMatrixFormatColwise,
    kHighsObjSenseMinimize,
    kHighsStatusError,
)


cdef enum:
    # Highs_passLp copies the LP; below this many matrix entries the copy takes
    # microseconds and keeps the GIL: releasing it there hands the GIL to a
    # waking worker in the middle of the caller's load, and the caller then
    # waits for the worker's Python to get it back (measured on 4ree's stage LPs,
    # two workers with one forward pass: a load took 157 us instead of 37 us)
    NOGIL_PASS_NNZ = 20000


cdef inline int pass_stage_lp(void* highs, lp) except -1:
    """Pass ``lp`` (a StageLP) to ``highs`` in its solver form; ValueError names the stage if it cannot."""
    import numpy as np

    form = lp.solver_form
    return pass_lp_arrays(
        highs, lp.template.index, lp.num_cols, lp.num_rows,
        np.ascontiguousarray(lp.col_start, dtype=np.int32), np.ascontiguousarray(lp.row_index, dtype=np.int32),
        np.ascontiguousarray(form.values, dtype=np.float64), np.ascontiguousarray(form.col_cost, dtype=np.float64),
        np.ascontiguousarray(form.col_lower, dtype=np.float64), np.ascontiguousarray(form.col_upper, dtype=np.float64),
        np.ascontiguousarray(form.row_lower, dtype=np.float64), np.ascontiguousarray(form.row_upper, dtype=np.float64),
    )


cdef inline int pass_lp_arrays(
    void* highs, int index, int num_cols, int num_rows,
    const int32_t[::1] col_start, const int32_t[::1] row_index, const double[::1] values,
    const double[::1] col_cost, const double[::1] col_lower, const double[::1] col_upper,
    const double[::1] row_lower, const double[::1] row_upper,
) except -1:
    """Pass stage ``index``'s LP, given as its solver-form arrays, to ``highs``; ValueError if they do not fit.

    The engine keeps these arrays (ranging reads the matrix, costs and bounds
    HiGHS got), so it acquires them once and calls this directly.
    """
    if (col_start.shape[0] != num_cols + 1 or col_cost.shape[0] != num_cols
            or col_lower.shape[0] != num_cols or col_upper.shape[0] != num_cols
            or row_lower.shape[0] != num_rows or row_upper.shape[0] != num_rows):
        raise ValueError(f"stage {index}: the LP's arrays do not match its size")
    cdef int nnz = col_start[num_cols]
    if row_index.shape[0] < nnz or values.shape[0] < nnz:
        raise ValueError(f"stage {index}: the LP's matrix has fewer entries than col_start says")
    cdef HighsInt status
    if nnz < NOGIL_PASS_NNZ:
        status = Highs_passLp(
            highs, num_cols, num_rows, nnz, kHighsMatrixFormatColwise, kHighsObjSenseMinimize, 0.0,
            &col_cost[0], &col_lower[0], &col_upper[0],
            &row_lower[0] if num_rows else NULL, &row_upper[0] if num_rows else NULL,
            &col_start[0], &row_index[0] if nnz else NULL, &values[0] if nnz else NULL,
        )
    else:
        with nogil:
            status = Highs_passLp(
                highs, num_cols, num_rows, nnz, kHighsMatrixFormatColwise, kHighsObjSenseMinimize, 0.0,
                &col_cost[0], &col_lower[0], &col_upper[0],
                &row_lower[0] if num_rows else NULL, &row_upper[0] if num_rows else NULL,
                &col_start[0], &row_index[0] if nnz else NULL, &values[0] if nnz else NULL,
            )
    if status == kHighsStatusError:
        raise ValueError(f"stage {index}: HiGHS rejected the stage LP (Highs_passLp)")
    return 0
