# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""A bare loop over the HiGHS C API: the yardstick of benchmarks/hotpath.py.

:func:`bare_backward_loop` makes exactly the HiGHS calls the engine's
backward kernel makes for a set of trial states (patch, clear + set the
canonical basis before the first opening, run, read the duals and the
objective) and nothing else: no load check, no basis cache, no statistics,
no retry ladder, no output arrays. The engine's solves per second divided by
this loop's is the engine's efficiency.
"""

import numpy as np

from libc.stdint cimport int32_t, uint8_t

from _native cimport now, patch_bounds
from highs_api cimport (
    HighsInt,
    Highs_clearSolver,
    Highs_create,
    Highs_destroy,
    Highs_getIntInfoValue,
    Highs_getModelStatus,
    Highs_getObjectiveValue,
    Highs_getSolution,
    Highs_run,
    Highs_setBasis,
    kHighsModelStatusOptimal,
)
from sddp_options cimport configure_for_sddp
from stage_loading cimport pass_stage_lp


def bare_backward_loop(lp, basis, trial_states, int repeats=1, bint reset=True):
    """Solve every opening of ``lp`` at each row of ``trial_states``, ``repeats`` times.

    With ``reset`` (the engine's sequence) each trial state starts with
    ``Highs_clearSolver`` and ``Highs_setBasis(basis)``; without it, each solve
    simply warm-starts from the previous one. Returns ``(solves, seconds,
    simplex_iterations, non_optimal)``; only the loop is timed.
    """
    template = lp.template
    cdef const double[:, ::1] states = np.ascontiguousarray(trial_states, dtype=np.float64)
    cdef const double[:, ::1] col_patch_lower = np.ascontiguousarray(template.col_patch_lower, dtype=np.float64)
    cdef const double[:, ::1] col_patch_upper = np.ascontiguousarray(template.col_patch_upper, dtype=np.float64)
    cdef const double[:, ::1] row_patch_lower = np.ascontiguousarray(template.row_patch_lower, dtype=np.float64)
    cdef const double[:, ::1] row_patch_upper = np.ascontiguousarray(template.row_patch_upper, dtype=np.float64)
    cdef const int32_t[::1] row_patch_index = np.ascontiguousarray(template.row_patch_index, dtype=np.int32)
    cdef int32_t[::1] patch_index = np.ascontiguousarray(
        np.concatenate((template.state_in_cols, template.col_patch_index)), dtype=np.int32
    )
    cdef int32_t[::1] col_status = np.ascontiguousarray(basis.col_status, dtype=np.int32)
    cdef int32_t[::1] row_status = np.ascontiguousarray(basis.row_status, dtype=np.int32)
    cdef int n_states = template.state_in_cols.shape[0]
    cdef int n_col = n_states + template.col_patch_index.shape[0]
    cdef int n_row = row_patch_index.shape[0]
    cdef int n_open = template.probabilities.shape[0]
    cdef int num_cols = lp.num_cols
    cdef double[::1] lower = np.zeros(max(n_col, 1))
    cdef double[::1] upper = np.zeros(max(n_col, 1))
    cdef double[::1] col_dual = np.zeros(max(num_cols, 1))
    cdef double sink = 0.0, start, seconds
    cdef long solves = 0, iterations = 0, non_optimal = 0
    cdef HighsInt count
    cdef int r, k, o
    cdef void* highs = Highs_create()
    try:
        configure_for_sddp(highs)  # the engine's options
        pass_stage_lp(highs, lp)  # as the engine loads it
        Highs_setBasis(highs, &col_status[0], &row_status[0])
        with nogil:
            start = now()
            for r in range(repeats):
                for k in range(states.shape[0]):
                    for o in range(n_open):
                        patch_bounds(
                            highs, &states[k, 0], n_states,
                            &col_patch_lower[o, 0], &col_patch_upper[o, 0], n_col - n_states,
                            &patch_index[0], &lower[0], &upper[0],
                            n_row, &row_patch_index[0], &row_patch_lower[o, 0], &row_patch_upper[o, 0],
                        )
                        if reset and o == 0:
                            Highs_clearSolver(highs)
                            Highs_setBasis(highs, &col_status[0], &row_status[0])
                        Highs_run(highs)
                        solves += 1
                        if Highs_getModelStatus(highs) != kHighsModelStatusOptimal:
                            non_optimal += 1
                        Highs_getIntInfoValue(highs, "simplex_iteration_count", &count)
                        iterations += count
                        Highs_getSolution(highs, NULL, &col_dual[0], NULL, NULL)
                        sink += Highs_getObjectiveValue(highs) + col_dual[0]
            seconds = now() - start
    finally:
        Highs_destroy(highs)
    return solves, seconds, iterations, non_optimal
