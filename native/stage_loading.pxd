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

    index = lp.template.index
    form = lp.solver_form
    cdef const int32_t[::1] col_start = np.ascontiguousarray(lp.col_start, dtype=np.int32)
    cdef const int32_t[::1] row_index = np.ascontiguousarray(lp.row_index, dtype=np.int32)
    cdef const double[::1] values = np.ascontiguousarray(form.values, dtype=np.float64)
    cdef const double[::1] col_cost = np.ascontiguousarray(form.col_cost, dtype=np.float64)
    cdef const double[::1] col_lower = np.ascontiguousarray(form.col_lower, dtype=np.float64)
    cdef const double[::1] col_upper = np.ascontiguousarray(form.col_upper, dtype=np.float64)
    cdef const double[::1] row_lower = np.ascontiguousarray(form.row_lower, dtype=np.float64)
    cdef const double[::1] row_upper = np.ascontiguousarray(form.row_upper, dtype=np.float64)
    cdef int num_cols = lp.num_cols
    cdef int num_rows = lp.num_rows
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
