# What the native kernels share with other Cython code: the clock and the bound patch.
#
# _native.pyx (the engine) uses these through this, its own definition file;
# _bench.pyx (the benchmark's bare C loop) cimports them, so the yardstick
# times and patches exactly as the engine does. Both are inline: cimporting
# them adds no run-time dependency between the two extension modules.

from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from highs_api cimport HighsInt, Highs_changeColsBoundsBySet, Highs_changeRowsBoundsBySet


cdef inline double now() noexcept nogil:
    """Seconds on the monotonic clock: cheap (vDSO) and callable without the GIL."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <double>ts.tv_sec + 1e-9 * <double>ts.tv_nsec


cdef inline void patch_bounds(
    void* highs,
    const double* incoming,
    int n_states,
    const double* col_patch_lower,
    const double* col_patch_upper,
    int n_col_patches,
    const HighsInt* patch_index,
    double* lower,
    double* upper,
    int n_row_patches,
    const HighsInt* row_patch_index,
    const double* row_patch_lower,
    const double* row_patch_upper,
) noexcept nogil:
    """Fix the incoming-state columns to ``incoming`` and apply one opening's patch-table rows.

    ``patch_index`` lists the incoming-state columns, then the opening's
    patched columns (``n_states + n_col_patches`` entries); ``lower`` and
    ``upper`` are scratch buffers of that length, filled here in the same order
    and passed to HiGHS in one call. The ``*_patch_*`` pointers are the
    opening's rows of the stage template's patch tables.
    """
    cdef int i
    for i in range(n_states):
        lower[i] = incoming[i]
        upper[i] = incoming[i]
    for i in range(n_col_patches):
        lower[n_states + i] = col_patch_lower[i]
        upper[n_states + i] = col_patch_upper[i]
    if n_states + n_col_patches:
        Highs_changeColsBoundsBySet(highs, n_states + n_col_patches, patch_index, lower, upper)
    if n_row_patches:
        Highs_changeRowsBoundsBySet(highs, n_row_patches, row_patch_index, row_patch_lower, row_patch_upper)
