# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The native hot path: one thread's HiGHS workspace, driven without the GIL.

:class:`NativeKernel` does the work of the solver-workspace protocol of
:mod:`caudal.solver.workspace` with the same semantics as the highspy
reference (:mod:`caudal.solver.highspy_workspace`), but its inner loops are C:
a work item (a block of forward passes at one stage, or every opening of one
trial state) is one Python call, and inside it every LP is patched, solved and
read back with the GIL released, through HiGHS's C API (the shared library
``libhighs.so`` of the highsbox package, see ``setup.py``).

This module is the bottom of the solver layer: it imports nothing of caudal.
It reports plain values (:meth:`NativeKernel.counters`, :class:`StageSolveFailed`
with HiGHS's model status code), and :mod:`caudal.solver.native_workspace`
wraps them in the protocol's types (``SolverStats``, ``SolverError``).

The stage solve sequence, per work item:

1. *load* the stage LP, only when (template, LP version) differs from the one
   loaded (``Highs_passLp``);
2. *patch* the incoming state and the opening's values into bound buffers
   allocated once (``Highs_changeColsBoundsBySet``/``...RowsBoundsBySet``);
3. *reset* HiGHS to the canonical basis: ``Highs_clearSolver`` then
   ``Highs_setBasis``. The clear is what makes results independent of the
   workspace's history: ``Highs_setBasis`` alone keeps the simplex engine's
   state (its scaled LP copy, factor, pivot records and counters) from earlier
   solves, and then a solve can end at a different optimal vertex - measured,
   see tests/test_native_workspace.py. The basis is set after the patch,
   because HiGHS checks a basis against the bounds in force;
4. *solve* (``Highs_run``), walking the retry ladder if the LP is not optimal,
   unless the opening is one of a backward item's later ones and the basis
   the previous opening ended optimal at stays optimal under its bounds, or
   becomes so in a few dual simplex pivots on the kept factorisation
   (*ranging*, see "openings the kept basis answers" below);
   then, if the LP carries reserve cuts (:mod:`caudal.sddp.working_set`), add
   those the solution violates as rows (``Highs_addRows``) and solve again,
   hot, until none is violated;
5. *extract* the values the algorithm needs into preallocated buffers, in the
   stage's own units (HiGHS solves the LP with its objective scaled by a power
   of two, :mod:`caudal.model.objective_scale`; unscaling is exact).

A backward work item solves its openings in the order it is given (see
:mod:`caudal.sddp.opening_order`); those after the first skip step 3: each
starts from the basis the previous one ended at, which the work item alone
determines. Reserve cuts added during a work item stay for its later openings
and leave (``Highs_deleteRowsByRange``) when it ends, so the next work item
starts from the stage LP as loaded; a forward solve removes them before the
next one.

Buffers are numpy arrays allocated and zero-filled by the thread that owns the
workspace (NUMA first touch); they grow, geometrically, only when an LP larger
than any seen before is loaded, never per solve.
"""

import numpy as np

from libc.math cimport INFINITY, fabs, fmax
from libc.stdint cimport int32_t, int64_t, uint8_t
from libc.stdlib cimport free
from libc.string cimport memcmp, memcpy

from _native cimport now, patch_bounds
from highs_api cimport (
    HIGHS_SCALE_MAX_VALUE,
    HIGHS_SIMPLEX_DUAL,
    HIGHS_SIMPLEX_PRIMAL,
    HIGHS_STRING_BUFFER,
    HIGHS_VERSION_MAJOR,
    HIGHS_VERSION_MINOR,
    HIGHS_VERSION_PATCH,
    HighsInt,
    Highs_addRows,
    Highs_clearSolver,
    Highs_create,
    Highs_deleteRowsByRange,
    Highs_destroy,
    Highs_getBasicVariables,
    Highs_getBasis,
    Highs_getBasisSolve,
    Highs_getBasisTransposeSolve,
    Highs_getBoolOptionValue,
    Highs_getDoubleOptionValue,
    Highs_getIntInfoValue,
    Highs_getIntOptionValue,
    Highs_getModelStatus,
    Highs_getObjectiveValue,
    Highs_getOptionName,
    Highs_getOptionType,
    Highs_getSolution,
    Highs_getStringOptionValue,
    Highs_run,
    Highs_setBasis,
    Highs_setBoolOptionValue,
    Highs_setDoubleOptionValue,
    Highs_setIntOptionValue,
    Highs_setStringOptionValue,
    Highs_version,
    kHighsBasisStatusBasic,
    kHighsBasisStatusLower,
    kHighsBasisStatusNonbasic,
    kHighsBasisStatusUpper,
    kHighsModelStatusOptimal,
    kHighsOptionTypeBool,
    kHighsOptionTypeDouble,
    kHighsOptionTypeInt,
    kHighsStatusError,
)
from sddp_options cimport configure_for_sddp
from spin_wait cimport (
    counters_spin,
    fork_signal_load,
    fork_signal_store,
    fork_signal_wait,
    gil_free_wait,
    gil_left_free_enter,
    gil_left_free_leave,
)
from stage_loading cimport pass_lp_arrays

RETRY_LADDER = (
    "warm start", "refactorised restart", "cold start", "presolve on", "max-value scaling", "primal simplex",
)
"""The attempts at a stage solve, in order; the error after the last names them all."""

# the signal of a fork point (caudal.solver.workspace.ForkPoint)
cdef enum:
    FORK_PENDING = 0
    FORK_HEAD_BASIS = 1
    FORK_OWN_START = 2
    FORK_FAILED = -1

cdef int RANGING_PATIENCE = 8
"""A backward work item that has missed this many times without a hit stops ranging.

On the national system no opening ever stays at the previous one's basis (each
moves 160 inflows), and keeping a solve and checking the next cost 1.5 to 2%
of the solve time there (20 openings, 19 checks per item); eight misses bring
that under 1%. On brazil4 about half the openings hit, and the first eight
checks of an item rarely all miss. The count is the item's own, so results
stay independent of the layout.
"""

cdef int KEPT_PIVOTS = 4
"""Dual simplex pivots an opening may take on the kept factorisation before it is left to ``Highs_run``.

On 4ree, 92% of the openings the kept basis does not answer as it is reach
their optimum in at most four pivots (with bound flips); most of the rest take
HiGHS several iterations too, and each pivot here costs a pass over the matrix.
"""

cdef int PIVOT_PATIENCE = 2
"""A backward work item whose pivots on the kept basis have failed this many times, none succeeding, stops pivoting.

On the national system (160 inflows move per opening) four pivots never
answer an opening, and trying them at every check cost 4% of its training
time; on 4ree and brazil4 pivoting items succeed from their first tries. Its
checks go on without pivots (RANGING_PATIENCE). Counted within the item, so
results stay independent of the layout.
"""

cdef int KEPT_ETAS = 16
"""Pivots a work item may stack on the factorisation of its last ``Highs_run`` (product form) before it runs again."""

cdef double PIVOT_TOLERANCE = 1e-7
"""A pivot row entry at most this large (absolute) never enters: HiGHS's own dual simplex pivot threshold."""

cdef double VIOLATION_TOLERANCE = 1e-9
"""A reserve cut is added when its row falls short of its bound by more than this, relative to max(1, |bound|).

Far below HiGHS's own feasibility tolerance (1e-7, absolute), so a solve never
keeps a solution that the LP with every cut as a row would have rejected.
"""


cdef inline bint _nonbasic_value(int status, double lower, double upper, bint was_fixed, double* value) noexcept nogil:
    """Where a nonbasic variable of the kept basis sits under new bounds; False if the basis cannot keep it.

    A variable that was fixed may have a reduced cost of either sign, so once
    its bounds open the basis may no longer be optimal; a free nonbasic one
    (status zero) or an infinite bound cannot be sat at either.
    """
    if was_fixed and lower != upper:
        return False
    if status == kHighsBasisStatusLower:
        value[0] = lower
    elif status == kHighsBasisStatusUpper:
        value[0] = upper
    else:
        return False
    return value[0] != INFINITY and value[0] != -INFINITY


cdef inline int _nonbasic_move(
    int status, double kept_value, double lower, double upper, double was_lower, double was_upper, double* value,
) noexcept nogil:
    """Whether a patched variable of the kept basis moves: 1 (to ``value``), 0 (basic, or not moved), -1 (cannot stay).

    ``lower``/``upper`` are its bounds at the opening, ``was_*`` at the kept
    opening (patch-table entries).
    """
    if status == kHighsBasisStatusBasic or (lower == was_lower and upper == was_upper):
        return 0
    if not _nonbasic_value(status, lower, upper, was_lower == was_upper, value):
        return -1
    return value[0] != kept_value


cdef inline bint _enters_before(double ratio, double size, int var, double other_ratio, double other_size,
                                int other) noexcept nogil:
    """The dual ratio test's order: smaller ratio first, then the larger pivot entry, then the smaller index."""
    if ratio != other_ratio:
        return ratio < other_ratio
    if size != other_size:
        return size > other_size
    return var < other


cdef inline int _index_variable(int j, int n) noexcept nogil:
    """The variable of pivot index ``j`` (``j`` for column j, ``n + i`` for row i's logical): ``j``, or ``-1 - i``."""
    return j if j < n else n - 1 - j


def _owned_zeros(n, dtype):
    """A buffer written once by the calling thread, so its pages are first touched there."""
    buffer = np.empty(max(int(n), 1), dtype=dtype)
    buffer.fill(0)
    return buffer


def _grown(current, needed):
    """Capacity for ``needed`` items: at least double ``current`` so growth stays rare."""
    return needed if needed <= current else max(needed, 2 * current)


def spin_while_total_is(
    const int64_t[::1] counters, int64_t total, int64_t limit_ns, int64_t gil_wait_ns=0
) -> int:
    """Spin without the GIL while the counters sum to ``total``, for at most ``limit_ns``; their sum then.

    The thread pool's short wait before it blocks on a queue (``native/spin_wait.pxd``).
    ``gil_wait_ns`` > 0 (a worker waiting for a job): once the sum has
    changed, spin up to that long more until another thread has left the GIL
    free (a kernel solving), so that the GIL is free when this returns.
    0 (the caller waiting for reports): this spin leaves the GIL free itself.
    """
    cdef int64_t value
    cdef bint waits_for_gil = gil_wait_ns > 0
    with nogil:
        if not waits_for_gil:
            gil_left_free_enter()
        value = counters_spin(&counters[0] if counters.shape[0] else NULL, counters.shape[0], total, limit_ns)
        if waits_for_gil:
            if value != total:
                gil_free_wait(gil_wait_ns)
        else:
            gil_left_free_leave()
    return value


def highs_versions() -> tuple:
    """(HiGHS version the kernels were compiled against, version of the libhighs loaded), as "major.minor.patch"."""
    compiled = f"{HIGHS_VERSION_MAJOR}.{HIGHS_VERSION_MINOR}.{HIGHS_VERSION_PATCH}"
    return compiled, Highs_version().decode()


class StageSolveFailed(RuntimeError):
    """A stage LP stayed non-optimal after the whole retry ladder.

    Carries where (stage, opening, forward pass or trial state, the kernel's
    ``iteration``) and HiGHS's model status code; the solver layer turns it
    into its ``SolverError``, the same error the highspy reference raises.
    """

    def __init__(self, stage: int, opening: int, forward_pass: int, status: int, iteration: int):
        super().__init__(
            f"stage {stage}, opening {opening}, forward pass {forward_pass}: HiGHS model status {status}"
        )
        self.stage = stage
        self.opening = opening
        self.forward_pass = forward_pass
        self.status = status
        self.iteration = iteration


_option_overrides = {}
_ranging = True  # what set_ranging last said: kernels created from then on range or not


def set_option_overrides(options: dict) -> None:
    """For benchmarks: HiGHS options set over ``configure_for_sddp``'s by every kernel created after this call.

    ``benchmarks/solver_choices.py`` uses it to compare option choices in one
    process without a rebuild; ``{}`` restores the engine's own. The retry
    ladder puts back the scaling a kernel was created with, overrides
    included. An unknown name or a value of the wrong type raises ValueError here.
    """
    cdef void* highs = Highs_create()
    try:
        for name, value in options.items():
            if _set_option(highs, name, value) != 0:
                raise ValueError(f"HiGHS refused option {name}={value!r}")
    finally:
        Highs_destroy(highs)
    _option_overrides.clear()
    _option_overrides.update(options)


def set_ranging(on: bool) -> None:
    """For benchmarks: whether kernels created after this call answer openings from a kept basis (ranging).

    ``benchmarks/solver_choices.py`` compares training with and without it in
    one process; a kernel's own ``ranging`` attribute can be changed too.
    """
    global _ranging
    _ranging = bool(on)


def set_kept_pivots(pivots: int) -> int:
    """For benchmarks and tests: the dual pivots an opening may take on the kept basis (KEPT_PIVOTS); returns the old.

    0 answers only openings whose kept basis stays optimal as it is (ranging
    alone). The highspy reference reads ``caudal.solver.kept_basis.KEPT_PIVOTS``.
    """
    global KEPT_PIVOTS
    if pivots < 0:
        raise ValueError(f"pivots must be at least 0, not {pivots}")
    old, KEPT_PIVOTS = KEPT_PIVOTS, pivots
    return old


cdef int _set_option(void* highs, name, value):
    """Set one HiGHS option by its type; returns 1 if HiGHS refused it."""
    cdef bytes key = name.encode()
    cdef HighsInt kind
    if Highs_getOptionType(highs, key, &kind) == kHighsStatusError:
        return 1
    if kind == kHighsOptionTypeBool:
        return Highs_setBoolOptionValue(highs, key, bool(value)) == kHighsStatusError
    if kind == kHighsOptionTypeInt:
        return Highs_setIntOptionValue(highs, key, int(value)) == kHighsStatusError
    if kind == kHighsOptionTypeDouble:
        return Highs_setDoubleOptionValue(highs, key, float(value)) == kHighsStatusError
    return Highs_setStringOptionValue(highs, key, str(value).encode()) == kHighsStatusError


def engine_options(bint configured=True) -> dict:
    """Every HiGHS option of a stage solver as the engine sets them, by name.

    With ``configured=False``, HiGHS's defaults instead. Tests compare the two
    with the highspy reference's ``SDDP_OPTIONS``, so the paths cannot drift
    apart.
    """
    cdef void* highs = Highs_create()
    if highs == NULL:
        raise MemoryError("Highs_create failed")
    cdef char* name = NULL
    cdef HighsInt kind, int_value
    cdef double double_value
    cdef char text[HIGHS_STRING_BUFFER]
    options = {}
    try:
        if configured and configure_for_sddp(highs) != 0:
            raise RuntimeError("HiGHS refused a stage solver option")
        # Highs_getNumOptions counts only the user-settable options; the
        # advanced ones follow them, up to the first index HiGHS refuses
        index = 0
        while Highs_getOptionName(highs, index, &name) != kHighsStatusError:
            index += 1
            try:
                Highs_getOptionType(highs, name, &kind)
                if kind == kHighsOptionTypeBool:
                    Highs_getBoolOptionValue(highs, name, &int_value)
                    value = bool(int_value)
                elif kind == kHighsOptionTypeInt:
                    Highs_getIntOptionValue(highs, name, &int_value)
                    value = int_value
                elif kind == kHighsOptionTypeDouble:
                    Highs_getDoubleOptionValue(highs, name, &double_value)
                    value = double_value
                else:
                    Highs_getStringOptionValue(highs, name, text)
                    value = text.decode()
                options[name.decode()] = value
            finally:
                free(name)
                name = NULL
    finally:
        free(name)  # the C API allocates a name even for the index it refuses
        Highs_destroy(highs)
    return options


cdef class _BasisSlot:
    """One stage's entry of the basis cache: status bytes, columns first, then rows."""

    cdef uint8_t[::1] status
    cdef int num_cols
    cdef int num_rows
    cdef bint valid


cdef class NativeKernel:
    """One worker thread's solver: a HiGHS instance, buffers, basis cache, statistics.

    Create it in the thread that will use it; it must not be shared between
    threads. ``numa_node`` records the NUMA node the owning thread is pinned
    to (-1 when unknown). ``iteration`` is only used in error messages.
    """

    cdef void* _highs
    cdef int _scale_strategy  # as configured: the retry ladder changes it and puts it back
    cdef double _perturbation  # the dual simplex's cost perturbation multiplier, as configured
    cdef public int numa_node
    cdef public long iteration

    # statistics (the fields of caudal.solver.workspace.SolverStats)
    cdef int64_t _solves, _simplex_iterations, _retries, _basis_hits, _loads, _cuts_added, _ranged
    cdef double _time_load, _time_patch, _time_basis, _time_solve, _time_extract, _time_wait

    # the loaded LP: what was passed to HiGHS, and views of its template
    cdef object _template  # None when nothing valid is loaded
    cdef object _version
    cdef int _stage, _num_cols, _num_rows, _n_states, _n_col_patches, _n_row_patches, _n_openings
    cdef int _theta_col
    cdef double _unscale  # 1 / the loaded LP's objective scale: turns solver values into the stage's
    cdef const int32_t[::1] _state_in_cols
    cdef const int32_t[::1] _state_out_cols
    cdef const int32_t[::1] _row_patch_index
    cdef const double[:, ::1] _col_patch_lower
    cdef const double[:, ::1] _col_patch_upper
    cdef const double[:, ::1] _row_patch_lower
    cdef const double[:, ::1] _row_patch_upper
    cdef const int32_t[::1] _index_order  # openings 0, 1, ...: the order when none is given
    cdef uint8_t[::1] _order_seen  # scratch for checking that an order is a permutation

    # buffers, sized to the largest LP loaded so far
    cdef int _cap_cols, _cap_rows, _cap_patches, _cap_variables
    cdef int32_t[::1] _patch_index  # incoming-state columns, then patched columns
    cdef double[::1] _patch_lower
    cdef double[::1] _patch_upper
    cdef int32_t[::1] _col_status  # HighsInt basis status, for setBasis/getBasis
    cdef int32_t[::1] _row_status
    cdef int32_t[::1] _kept_col_status  # a basis read back: a forward solve's (out_bases), a failed attempt's
    cdef int32_t[::1] _kept_row_status
    cdef double[::1] _col_value  # primal values (forward: outgoing states, theta)
    cdef double[::1] _col_dual  # reduced costs (backward: subgradients)
    # the loaded LP's reserve cuts (the pool's arrays, StageLP.reserve) and those added as rows
    cdef int _n_reserve, _n_added, _cap_reserve, _cap_reserve_nnz
    cdef double _scale  # the LP's objective scale: a reserve cut is added in the solver form
    cdef const int64_t[::1] _reserve_ids
    cdef const double[::1] _cut_intercepts
    cdef const double[:, ::1] _cut_coefficients
    cdef const int32_t[::1] _cut_targets
    cdef const int32_t[::1] _cut_cols
    cdef uint8_t[::1] _reserve_in  # 1 while reserve cut r is a row
    cdef int32_t[::1] _added  # reserve indices of the rows added, in order
    cdef int32_t[::1] _add_start  # Highs_addRows buffers
    cdef int32_t[::1] _add_index
    cdef double[::1] _add_values
    cdef double[::1] _add_lower
    cdef double[::1] _add_upper

    # basis cache: one slot per stage
    cdef list _slots

    # ranging (see "openings the kept basis answers" below): the loaded LP's arrays as HiGHS got them
    # (kept by the load), where each column's and row's bounds come from, and the last optimal solve of
    # a backward item
    cdef public bint ranging  # answer openings from the kept basis when it stays optimal (default True)
    cdef double _primal_tolerance  # HiGHS's, as configured: the bound check of a kept basis uses it
    cdef const int32_t[::1] _a_start
    cdef const int32_t[::1] _a_index
    cdef const double[::1] _a_value
    cdef const double[::1] _cost
    cdef const double[::1] _lp_col_lower
    cdef const double[::1] _lp_col_upper
    cdef const double[::1] _lp_row_lower
    cdef const double[::1] _lp_row_upper
    cdef int32_t[::1] _col_slot  # -1: the LP's bounds; k < n_states: incoming state k; else patch k - n_states
    cdef int32_t[::1] _row_slot  # -1: the LP's bounds; else row patch k
    cdef bint _kept_valid
    cdef int _kept_opening, _kept_rows
    cdef double _kept_objective
    cdef double _objective_offset  # HiGHS's objective less the costs of the columns: the LP's constant
    cdef double _dual_tolerance  # HiGHS's, as configured
    cdef double[::1] _kept_col_value
    cdef double[::1] _kept_row_value
    cdef int32_t[::1] _kept_basis_cols
    cdef int32_t[::1] _kept_basis_rows
    cdef int32_t[::1] _basic  # the basic variable of each basis position (Highs_getBasicVariables)
    cdef double[::1] _kept_row_dual
    cdef double[::1] _rhs
    cdef double[::1] _ftran
    cdef double[::1] _rho  # a row of the basis inverse (the pivot's)
    cdef double[::1] _alpha  # the pivot row: columns, then logicals
    cdef double[::1] _ratio  # |reduced cost / pivot row entry| of each entering candidate
    cdef double[::1] _size  # |pivot row entry| of each entering candidate
    cdef int32_t[::1] _candidates
    cdef int32_t[::1] _flips
    cdef double[:, ::1] _eta  # the kept basis's changes since HiGHS factorised it: entering column through B^-1
    cdef int32_t[::1] _eta_pos  # and the position it entered at
    cdef int _n_etas
    cdef int _pivot_hits, _pivot_misses  # the work item's openings pivoting answered, and pivoting failed

    # the last failure, filled by the kernels for the error message
    cdef int _failed_opening
    cdef int64_t _failed_pass
    cdef int _failed_status

    def __cinit__(self, int numa_node=-1):
        self._highs = Highs_create()
        if self._highs == NULL:
            raise MemoryError("Highs_create returned NULL")
        if configure_for_sddp(self._highs) != 0:
            raise RuntimeError(f"HiGHS {Highs_version().decode()} refused a stage solver option (native/sddp_options.pxd)")
        for name, value in _option_overrides.items():
            _set_option(self._highs, name, value)
        cdef HighsInt scale_strategy
        Highs_getIntOptionValue(self._highs, "simplex_scale_strategy", &scale_strategy)
        self._scale_strategy = scale_strategy
        Highs_getDoubleOptionValue(self._highs, "dual_simplex_cost_perturbation_multiplier", &self._perturbation)
        Highs_getDoubleOptionValue(self._highs, "primal_feasibility_tolerance", &self._primal_tolerance)
        Highs_getDoubleOptionValue(self._highs, "dual_feasibility_tolerance", &self._dual_tolerance)
        self.ranging = _ranging
        self.numa_node = numa_node
        self.iteration = -1
        self._template = None
        self._version = None
        self._slots = []
        self.reserve(1, 1, 1)
        self._reserve_cut_buffers(1, 1)

    def __dealloc__(self):
        if self._highs != NULL:
            Highs_destroy(self._highs)
            self._highs = NULL

    # -- buffers -----------------------------------------------------------------
    def reserve(self, num_cols: int, num_rows: int, num_col_patches: int) -> None:
        """Make the buffers hold an LP of this size (rows including cuts).

        Called by the owning thread, so that its pages are first touched there.
        Buffers only ever grow, at least doubling, so a growing cut pool
        reallocates them a handful of times per run, never per solve.
        """
        if num_cols > self._cap_cols:
            self._cap_cols = _grown(self._cap_cols, num_cols)
            self._col_value = _owned_zeros(self._cap_cols, np.float64)
            self._col_dual = _owned_zeros(self._cap_cols, np.float64)
            self._col_status = _owned_zeros(self._cap_cols, np.int32)
            self._kept_col_status = _owned_zeros(self._cap_cols, np.int32)
            self._col_slot = _owned_zeros(self._cap_cols, np.int32)
            self._kept_col_value = _owned_zeros(self._cap_cols, np.float64)
            self._kept_basis_cols = _owned_zeros(self._cap_cols, np.int32)
        if num_rows > self._cap_rows:
            self._cap_rows = _grown(self._cap_rows, num_rows)
            self._row_status = _owned_zeros(self._cap_rows, np.int32)
            self._kept_row_status = _owned_zeros(self._cap_rows, np.int32)
            self._row_slot = _owned_zeros(self._cap_rows, np.int32)
            self._kept_row_value = _owned_zeros(self._cap_rows, np.float64)
            self._kept_basis_rows = _owned_zeros(self._cap_rows, np.int32)
            self._basic = _owned_zeros(self._cap_rows, np.int32)
            self._kept_row_dual = _owned_zeros(self._cap_rows, np.float64)
            self._rhs = _owned_zeros(self._cap_rows, np.float64)
            self._ftran = _owned_zeros(self._cap_rows, np.float64)
            self._rho = _owned_zeros(self._cap_rows, np.float64)
            self._eta = _owned_zeros(KEPT_ETAS * self._cap_rows, np.float64).reshape(KEPT_ETAS, self._cap_rows)
            self._eta_pos = _owned_zeros(KEPT_ETAS, np.int32)
            self._n_etas = 0
        if self._cap_variables < self._cap_cols + self._cap_rows:
            self._cap_variables = self._cap_cols + self._cap_rows
            self._alpha = _owned_zeros(self._cap_cols + self._cap_rows, np.float64)
            self._ratio = _owned_zeros(self._cap_cols + self._cap_rows, np.float64)
            self._size = _owned_zeros(self._cap_cols + self._cap_rows, np.float64)
            self._candidates = _owned_zeros(self._cap_cols + self._cap_rows, np.int32)
            self._flips = _owned_zeros(self._cap_cols + self._cap_rows, np.int32)
        if num_col_patches > self._cap_patches:
            self._cap_patches = _grown(self._cap_patches, num_col_patches)
            self._patch_index = _owned_zeros(self._cap_patches, np.int32)
            self._patch_lower = _owned_zeros(self._cap_patches, np.float64)
            self._patch_upper = _owned_zeros(self._cap_patches, np.float64)

    cdef void _reserve_cut_buffers(self, int n_rows, int nnz):
        """Room to add ``n_rows`` reserve cuts of ``nnz`` entries in all (grown like the others)."""
        if n_rows > self._cap_reserve:
            self._cap_reserve = _grown(self._cap_reserve, n_rows)
            self._reserve_in = _owned_zeros(self._cap_reserve, np.uint8)
            self._added = _owned_zeros(self._cap_reserve, np.int32)
            self._add_start = _owned_zeros(self._cap_reserve + 1, np.int32)
            self._add_lower = _owned_zeros(self._cap_reserve, np.float64)
            self._add_upper = _owned_zeros(self._cap_reserve, np.float64)
        if nnz > self._cap_reserve_nnz:
            self._cap_reserve_nnz = _grown(self._cap_reserve_nnz, nnz)
            self._add_index = _owned_zeros(self._cap_reserve_nnz, np.int32)
            self._add_values = _owned_zeros(self._cap_reserve_nnz, np.float64)

    @property
    def capacity(self) -> tuple:
        """(columns, rows, patched columns) the buffers hold without growing."""
        return (self._cap_cols, self._cap_rows, self._cap_patches)

    @property
    def buffer_bytes(self) -> int:
        """Bytes of the buffers this workspace allocated, the basis cache's included (not HiGHS's own memory)."""
        cdef Py_ssize_t total = 0
        total += self._add_index.nbytes
        total += self._add_lower.nbytes
        total += self._add_start.nbytes
        total += self._add_upper.nbytes
        total += self._add_values.nbytes
        total += self._added.nbytes
        total += self._alpha.nbytes
        total += self._basic.nbytes
        total += self._candidates.nbytes
        total += self._col_dual.nbytes
        total += self._col_slot.nbytes
        total += self._col_status.nbytes
        total += self._col_value.nbytes
        total += self._eta.nbytes
        total += self._eta_pos.nbytes
        total += self._flips.nbytes
        total += self._ftran.nbytes
        total += self._kept_basis_cols.nbytes
        total += self._kept_basis_rows.nbytes
        total += self._kept_col_status.nbytes
        total += self._kept_col_value.nbytes
        total += self._kept_row_dual.nbytes
        total += self._kept_row_status.nbytes
        total += self._kept_row_value.nbytes
        total += self._patch_index.nbytes
        total += self._patch_lower.nbytes
        total += self._patch_upper.nbytes
        total += self._ratio.nbytes
        total += self._reserve_in.nbytes
        total += self._rho.nbytes
        total += self._rhs.nbytes
        total += self._row_slot.nbytes
        total += self._row_status.nbytes
        total += self._size.nbytes
        cdef _BasisSlot slot
        for entry in self._slots:  # _BasisSlot's fields are C-level: read them through a typed name
            if entry is not None:
                slot = entry
                total += slot.status.nbytes
        return total

    # -- statistics --------------------------------------------------------------
    def counters(self) -> dict:
        """A snapshot of this workspace's counters, named as the fields of ``SolverStats``."""
        return dict(
            solves=self._solves,
            simplex_iterations=self._simplex_iterations,
            retries=self._retries,
            basis_hits=self._basis_hits,
            loads=self._loads,
            cuts_added=self._cuts_added,
            ranged=self._ranged,
            time_load=self._time_load,
            time_patch=self._time_patch,
            time_basis=self._time_basis,
            time_solve=self._time_solve,
            time_extract=self._time_extract,
            time_wait=self._time_wait,
        )

    def reset_stats(self) -> None:
        self._solves = self._simplex_iterations = self._retries = self._basis_hits = self._loads = 0
        self._cuts_added = self._ranged = 0
        self._time_load = self._time_patch = self._time_basis = self._time_solve = self._time_extract = self._time_wait = 0.0

    # -- step 1: load --------------------------------------------------------------
    cdef int _load(self, lp) except -1:
        """Pass ``lp`` to HiGHS unless it is the LP already loaded."""
        template = lp.template
        if template is self._template and lp.version == self._version:
            return 0
        cdef double start = now()
        self._template = None  # until the load succeeds
        n_states = template.state_in_cols.shape[0]
        n_col_patches = template.col_patch_index.shape[0]
        reserve_cuts = lp.reserve
        n_reserve = 0 if reserve_cuts is None else reserve_cuts.size
        # bases are read back with every reserve cut added at worst
        self.reserve(lp.num_cols, lp.num_rows + n_reserve, n_states + n_col_patches)
        self._reserve_cut_buffers(n_reserve, n_reserve * (n_states + 1))

        # in its solver form: objective scaled (caudal.model.objective_scale); ranging reads these arrays too
        form = lp.solver_form
        self._a_start = np.ascontiguousarray(lp.col_start, dtype=np.int32)
        self._a_index = np.ascontiguousarray(lp.row_index, dtype=np.int32)
        self._a_value = np.ascontiguousarray(form.values, dtype=np.float64)
        self._cost = np.ascontiguousarray(form.col_cost, dtype=np.float64)
        self._lp_col_lower = np.ascontiguousarray(form.col_lower, dtype=np.float64)
        self._lp_col_upper = np.ascontiguousarray(form.col_upper, dtype=np.float64)
        self._lp_row_lower = np.ascontiguousarray(form.row_lower, dtype=np.float64)
        self._lp_row_upper = np.ascontiguousarray(form.row_upper, dtype=np.float64)
        cdef int num_cols = lp.num_cols
        cdef int num_rows = lp.num_rows
        pass_lp_arrays(
            self._highs, template.index, num_cols, num_rows, self._a_start, self._a_index, self._a_value,
            self._cost, self._lp_col_lower, self._lp_col_upper, self._lp_row_lower, self._lp_row_upper,
        )
        self._n_reserve = n_reserve
        if n_reserve:
            self._reserve_ids = np.ascontiguousarray(reserve_cuts.ids, dtype=np.int64)
            self._cut_intercepts = np.ascontiguousarray(reserve_cuts.intercepts, dtype=np.float64)
            self._cut_coefficients = np.ascontiguousarray(reserve_cuts.coefficients, dtype=np.float64)
            self._cut_targets = np.ascontiguousarray(reserve_cuts.targets, dtype=np.int32)
            self._cut_cols = np.ascontiguousarray(template.cut_cols, dtype=np.int32)
            ids = reserve_cuts.ids
            if (self._cut_coefficients.shape[1] != n_states or ids.min() < 0
                    or ids.max() >= min(self._cut_intercepts.shape[0], self._cut_targets.shape[0])):
                raise ValueError(f"stage {template.index}: the reserve cuts do not fit the stage or their pool")
        self._scale = lp.solver_form.scale
        self._n_added = 0
        self._reserve_in[:] = 0

        self._stage = template.index
        self._num_cols = num_cols
        self._num_rows = num_rows
        self._n_states = n_states
        self._n_col_patches = n_col_patches
        self._n_row_patches = template.row_patch_index.shape[0]
        self._n_openings = template.probabilities.shape[0]
        self._index_order = np.arange(self._n_openings, dtype=np.int32)
        self._order_seen = np.zeros(self._n_openings, dtype=np.uint8)
        self._theta_col = template.theta_col
        self._unscale = 1.0 / lp.solver_form.scale
        self._state_in_cols = np.ascontiguousarray(template.state_in_cols, dtype=np.int32)
        self._state_out_cols = np.ascontiguousarray(template.state_out_cols, dtype=np.int32)
        self._row_patch_index = np.ascontiguousarray(template.row_patch_index, dtype=np.int32)
        self._col_patch_lower = np.ascontiguousarray(template.col_patch_lower, dtype=np.float64)
        self._col_patch_upper = np.ascontiguousarray(template.col_patch_upper, dtype=np.float64)
        self._row_patch_lower = np.ascontiguousarray(template.row_patch_lower, dtype=np.float64)
        self._row_patch_upper = np.ascontiguousarray(template.row_patch_upper, dtype=np.float64)
        # the patched columns never change while this LP is loaded: the incoming
        # states first, then the opening's columns (the reference's order)
        cdef const int32_t[::1] col_patch_index = np.ascontiguousarray(template.col_patch_index, dtype=np.int32)
        cdef int i
        for i in range(n_states):
            self._patch_index[i] = self._state_in_cols[i]
        for i in range(n_col_patches):
            self._patch_index[n_states + i] = col_patch_index[i]
        self._locate_patched_bounds()

        self._template = template
        self._version = lp.version
        self._loads += 1
        self._time_load += now() - start
        return 0

    cdef void _locate_patched_bounds(self):
        """Where each column's and row's bounds come from while this LP is loaded (ranging reads them)."""
        cdef int i
        for i in range(self._num_cols):
            self._col_slot[i] = -1
        for i in range(self._n_states + self._n_col_patches):
            self._col_slot[self._patch_index[i]] = i
        for i in range(self._num_rows):
            self._row_slot[i] = -1
        for i in range(self._n_row_patches):
            self._row_slot[self._row_patch_index[i]] = i

    # -- the basis cache -------------------------------------------------------------
    cdef int _stage_basis(self, basis) except -1:
        """Put the canonical ``basis`` of the loaded stage into the setBasis buffers.

        Slot ``t`` of the cache keeps the status bytes this workspace last
        started stage ``t`` from. The determinism rule forbids warm-starting a
        work item from a thread's own history, so the slot only ever holds a
        canonical basis; a hit (the algorithm handed over the same basis as
        last time, the common case within a pass) skips the copy and the
        validation and counts in ``basis_hits``.
        """
        cdef const uint8_t[::1] cols = basis.col_status
        cdef const uint8_t[::1] rows = basis.row_status
        cdef int nc = self._num_cols, nr = self._num_rows, i
        if cols.shape[0] != nc or rows.shape[0] != nr:
            raise ValueError(
                f"stage {self._stage}: basis has {cols.shape[0]} columns and {rows.shape[0]} rows, "
                f"the LP has {nc} and {nr}"
            )
        while len(self._slots) <= self._stage:
            self._slots.append(None)
        cdef _BasisSlot slot = self._slots[self._stage]
        cdef Py_ssize_t capacity = 0 if slot is None else slot.status.shape[0]
        if capacity < nc + nr:  # first use of the slot, or the stage gained cuts
            slot = _BasisSlot()
            slot.status = _owned_zeros(_grown(capacity, nc + nr), np.uint8)
            slot.valid = False
            self._slots[self._stage] = slot
        cdef bint hit = (
            slot.valid and slot.num_cols == nc and slot.num_rows == nr
            and (nc == 0 or memcmp(&slot.status[0], &cols[0], nc) == 0)
            and (nr == 0 or memcmp(&slot.status[nc], &rows[0], nr) == 0)
        )
        if hit:
            self._basis_hits += 1
        else:
            for i in range(nc):
                if cols[i] > kHighsBasisStatusNonbasic:
                    raise ValueError(f"stage {self._stage}: column {i} has basis status {cols[i]}")
            for i in range(nr):
                if rows[i] > kHighsBasisStatusNonbasic:
                    raise ValueError(f"stage {self._stage}: row {i} has basis status {rows[i]}")
            if nc:
                memcpy(&slot.status[0], &cols[0], nc)
            if nr:
                memcpy(&slot.status[nc], &rows[0], nr)
            slot.num_cols = nc
            slot.num_rows = nr
            slot.valid = True
        for i in range(nc):
            self._col_status[i] = slot.status[i]
        for i in range(nr):
            self._row_status[i] = slot.status[nc + i]
        return 0

    cdef void _forget_stage(self):
        """After a failure: drop the stage's basis slot and force a reload."""
        if self._stage < len(self._slots) and self._slots[self._stage] is not None:
            (<_BasisSlot>self._slots[self._stage]).valid = False
        self._template = None

    # -- steps 2 to 4, without the GIL -----------------------------------------------
    cdef void _patch(self, const double* incoming, int opening) noexcept nogil:
        """Fix the incoming-state columns to ``incoming`` and apply ``opening``'s values."""
        cdef double start = now()
        patch_bounds(
            self._highs, incoming, self._n_states,
            &self._col_patch_lower[opening, 0], &self._col_patch_upper[opening, 0], self._n_col_patches,
            &self._patch_index[0], &self._patch_lower[0], &self._patch_upper[0],
            self._n_row_patches, &self._row_patch_index[0],
            &self._row_patch_lower[opening, 0], &self._row_patch_upper[opening, 0],
        )
        self._time_patch += now() - start

    cdef void _reset_to_basis(self) noexcept nogil:
        """Forget everything HiGHS derived from earlier solves, then set the canonical basis."""
        cdef double start = now()
        Highs_clearSolver(self._highs)
        Highs_setBasis(self._highs, &self._col_status[0], &self._row_status[0])
        self._time_basis += now() - start

    cdef int _run_once(self) noexcept nogil:
        cdef double start = now()
        cdef HighsInt iterations = 0
        Highs_run(self._highs)
        self._time_solve += now() - start
        if Highs_getIntInfoValue(self._highs, "simplex_iteration_count", &iterations) != kHighsStatusError:
            self._simplex_iterations += iterations
        return Highs_getModelStatus(self._highs)

    cdef int _solve(self) noexcept nogil:
        """Solve the patched LP; walk the retry ladder until optimal. Returns the model status.

        When the kernel runs without cost perturbation, every rung of the
        ladder runs with HiGHS's default perturbation: a dual simplex without
        it can stall on a degenerate LP, and the rungs alone (restarts,
        presolve, other scaling) do not cure that. The ladder is a function of
        the failed LP and the basis it ended at only, so it stays deterministic.
        """
        self._solves += 1
        cdef int status = self._run_once()
        if status == kHighsModelStatusOptimal:
            return status
        if self._perturbation != 1.0:
            Highs_setDoubleOptionValue(self._highs, "dual_simplex_cost_perturbation_multiplier", 1.0)
        status = self._climb_ladder()
        if self._perturbation != 1.0:
            Highs_setDoubleOptionValue(self._highs, "dual_simplex_cost_perturbation_multiplier", self._perturbation)
        return status

    cdef int _climb_ladder(self) noexcept nogil:
        """The rungs after a failed attempt, in the order of RETRY_LADDER; returns the last model status."""
        cdef int status
        # refactorised restart: the basis the attempt ended with, factorised
        # afresh. An attempt that ends "Unknown" is usually at or next to the
        # optimum with round-off above tolerance; a new factorisation clears it
        # in a few pivots, where a cold start would redo the whole solve.
        self._retries += 1
        if Highs_getBasis(self._highs, &self._kept_col_status[0], &self._kept_row_status[0]) != kHighsStatusError:
            Highs_clearSolver(self._highs)
            if Highs_setBasis(self._highs, &self._kept_col_status[0], &self._kept_row_status[0]) != kHighsStatusError:
                status = self._run_once()
                if status == kHighsModelStatusOptimal:
                    return status
        # cold start: from a logical basis, with a fresh factorisation
        self._retries += 1
        Highs_clearSolver(self._highs)
        status = self._run_once()
        if status == kHighsModelStatusOptimal:
            return status
        # presolve on: a smaller, often better conditioned LP
        self._retries += 1
        Highs_setStringOptionValue(self._highs, "presolve", "on")
        Highs_clearSolver(self._highs)
        status = self._run_once()
        Highs_setStringOptionValue(self._highs, "presolve", "off")
        if status == kHighsModelStatusOptimal:
            return status
        # another scaling: when cut right-hand sides reach 1e10 and more, HiGHS's
        # default scaling can leave round-off above its feasibility tolerance
        # and the status "Unknown"; scaling by the largest values fixes it
        self._retries += 1
        Highs_setIntOptionValue(self._highs, "simplex_scale_strategy", HIGHS_SCALE_MAX_VALUE)
        Highs_clearSolver(self._highs)
        status = self._run_once()
        Highs_setIntOptionValue(self._highs, "simplex_scale_strategy", self._scale_strategy)
        if status == kHighsModelStatusOptimal:
            return status
        # primal simplex, with presolve
        self._retries += 1
        Highs_setStringOptionValue(self._highs, "presolve", "on")
        Highs_setIntOptionValue(self._highs, "simplex_strategy", HIGHS_SIMPLEX_PRIMAL)
        Highs_clearSolver(self._highs)
        status = self._run_once()
        Highs_setStringOptionValue(self._highs, "presolve", "off")
        Highs_setIntOptionValue(self._highs, "simplex_strategy", HIGHS_SIMPLEX_DUAL)
        return status

    cdef int _add_violated_cuts(self, bint read_solution=True) noexcept nogil:
        """Add the reserve cuts the current solution violates as rows; returns how many.

        Reserve cut ``c`` enters in the solver form, like the LP's own cut rows:
        ``theta'_g - scale beta_c . x >= scale alpha_c``. Its activity is summed
        over the outgoing states in order, then its value column, as the highspy
        reference sums it. The column values are HiGHS's, or, without
        ``read_solution``, those already in ``_col_value`` (a ranged opening's).
        """
        if self._n_reserve == self._n_added:
            return 0
        if read_solution:
            Highs_getSolution(self._highs, &self._col_value[0], NULL, NULL, NULL)
        cdef int r, i, k = 0, nnz = 0, n = self._n_states, value_col
        cdef int64_t cut
        cdef double activity, bound, scale = self._scale
        for r in range(self._n_reserve):
            if self._reserve_in[r]:
                continue
            cut = self._reserve_ids[r]
            value_col = self._cut_cols[self._cut_targets[cut]]
            activity = 0.0
            for i in range(n):
                activity += (-scale * self._cut_coefficients[cut, i]) * self._col_value[self._state_out_cols[i]]
            activity += self._col_value[value_col]
            bound = scale * self._cut_intercepts[cut]
            if bound - activity <= VIOLATION_TOLERANCE * fmax(1.0, fabs(bound)):
                continue
            self._reserve_in[r] = 1
            self._added[self._n_added + k] = r
            self._add_start[k] = nnz
            self._add_lower[k] = bound
            self._add_upper[k] = INFINITY
            for i in range(n):
                self._add_index[nnz] = self._state_out_cols[i]
                self._add_values[nnz] = -scale * self._cut_coefficients[cut, i]
                nnz += 1
            self._add_index[nnz] = value_col
            self._add_values[nnz] = 1.0
            nnz += 1
            k += 1
        if k:
            Highs_addRows(
                self._highs, k, &self._add_lower[0], &self._add_upper[0], nnz, &self._add_start[0],
                &self._add_index[0], &self._add_values[0],
            )
            self._n_added += k
            self._cuts_added += k
        return k

    cdef int _solve_with_reserve(self) noexcept nogil:
        """Solve; while the solution violates reserve cuts, add them and solve again (hot)."""
        cdef int status = self._solve()
        while status == kHighsModelStatusOptimal and self._add_violated_cuts():
            status = self._solve()
        return status

    cdef void _drop_added_cuts(self) noexcept nogil:
        """Remove the reserve cuts added since the LP was loaded: back to the stage LP as loaded."""
        if self._n_added == 0:
            return
        Highs_deleteRowsByRange(self._highs, self._num_rows, self._num_rows + self._n_added - 1)
        cdef int i
        for i in range(self._n_added):
            self._reserve_in[self._added[i]] = 0
        self._n_added = 0

    # -- openings the kept basis answers (ranging and a few dual pivots) -----------------
    # The openings of a backward work item differ in a few bounds only (inflows), and
    # walked in a short tour (caudal.sddp.opening_order) the optimal basis of one is often
    # optimal for the next, or a few dual simplex pivots from it: its costs, hence its
    # reduced costs, are unchanged, so it stays dual feasible and only its primal values
    # move. Moving them is one solve with the kept factorisation (Highs_getBasisSolve);
    # a pivot is one solve with its transpose, a pass over the matrix for the pivot row
    # and one or two solves more, where a Highs_run costs about 700,000 instructions
    # whatever it pivots (docs/hot-path.md). The pivots are those of a textbook dual
    # simplex: the most infeasible basic variable leaves, the entering one comes from a
    # ratio test with bound flips, and the basis changes are kept in product form (eta
    # vectors) on top of the factorisation HiGHS left; they also serve the next openings'
    # checks, up to KEPT_ETAS of them. Anything unusual (a free nonbasic variable, no
    # candidate, a pivot whose row and column disagree, too many pivots) leaves the
    # opening to Highs_run, which starts from HiGHS's own basis as before. Only a
    # successful solve without retries is kept, and only within one work item, so the
    # answer depends on the work item alone. The kept values, basis and reduced costs are
    # updated in place: after an answered opening they are that opening's.

    cdef void _keep_solution(self, int opening) noexcept nogil:
        """Keep the optimal solve just ended: values, reduced costs (``_col_dual``), basis and basic variables."""
        Highs_getSolution(
            self._highs, &self._kept_col_value[0], &self._col_dual[0], &self._kept_row_value[0],
            &self._kept_row_dual[0],
        )
        Highs_getBasis(self._highs, &self._kept_basis_cols[0], &self._kept_basis_rows[0])
        self._kept_valid = Highs_getBasicVariables(self._highs, &self._basic[0]) != kHighsStatusError
        self._kept_opening = opening
        self._kept_rows = self._num_rows + self._n_added
        self._kept_objective = Highs_getObjectiveValue(self._highs)
        self._objective_offset = self._kept_objective
        cdef int j
        for j in range(self._num_cols):
            self._objective_offset -= self._cost[j] * self._kept_col_value[j]
        self._n_etas = 0

    cdef void _bounds_of(self, int var, const double* incoming, int opening, double* lower, double* upper) noexcept nogil:
        """The bounds at ``opening`` of a variable as HiGHS numbers basic ones: column ``var`` or row ``-1 - var``."""
        cdef int k, row
        if var >= 0:
            k = self._col_slot[var]
            if k < 0:
                lower[0], upper[0] = self._lp_col_lower[var], self._lp_col_upper[var]
            elif k < self._n_states:
                lower[0] = upper[0] = incoming[k]
            else:
                k -= self._n_states
                lower[0], upper[0] = self._col_patch_lower[opening, k], self._col_patch_upper[opening, k]
            return
        row = -1 - var
        if row >= self._num_rows:  # a reserve cut added as a row: scale alpha <= row
            lower[0] = self._scale * self._cut_intercepts[self._reserve_ids[self._added[row - self._num_rows]]]
            upper[0] = INFINITY
            return
        k = self._row_slot[row]
        if k < 0:
            lower[0], upper[0] = self._lp_row_lower[row], self._lp_row_upper[row]
        else:
            lower[0], upper[0] = self._row_patch_lower[opening, k], self._row_patch_upper[opening, k]

    # The pivots work on HiGHS's variables: column j, and the logical of row i, which
    # is minus the row's activity and has the unit column e_i in the basis matrix.
    # For a logical, bounds, value and reduced cost are those of minus the row: bounds
    # [-upper, -lower], value -activity, reduced cost -row dual, and a row at its lower
    # bound has its logical at its upper one.

    cdef void _variable(
        self, int var, const double* incoming, int opening, double* lower, double* upper, double* value,
    ) noexcept nogil:
        """Bounds and current value of variable ``var`` (column ``var``, or the logical of row ``-1 - var``)."""
        cdef double row_lower, row_upper
        if var >= 0:
            self._bounds_of(var, incoming, opening, lower, upper)
            value[0] = self._kept_col_value[var]
        else:
            self._bounds_of(var, incoming, opening, &row_lower, &row_upper)
            lower[0], upper[0] = -row_upper, -row_lower
            value[0] = -self._kept_row_value[-1 - var]

    cdef int _logical_status(self, int row) noexcept nogil:
        """The basis status of row ``row``'s logical: a row at its lower bound has its logical at the upper one."""
        cdef int status = self._kept_basis_rows[row]
        if status == kHighsBasisStatusLower:
            return kHighsBasisStatusUpper
        if status == kHighsBasisStatusUpper:
            return kHighsBasisStatusLower
        return status

    cdef int _index_status(self, int j) noexcept nogil:
        """The basis status of pivot index ``j``: column ``j``, or row ``j - n``'s logical (see ``_index_variable``)."""
        cdef int n = self._num_cols
        return self._kept_basis_cols[j] if j < n else self._logical_status(j - n)

    cdef double _index_reduced_cost(self, int j) noexcept nogil:
        """The reduced cost of pivot index ``j``: column ``j``'s, or minus row ``j - n``'s dual (its logical's)."""
        cdef int n = self._num_cols
        return self._col_dual[j] if j < n else -self._kept_row_dual[j - n]

    cdef void _set_status(self, int var, int status) noexcept nogil:
        """Set variable ``var``'s basis status (given for its logical when ``var`` is a row)."""
        if var >= 0:
            self._kept_basis_cols[var] = status
        elif status == kHighsBasisStatusLower:
            self._kept_basis_rows[-1 - var] = kHighsBasisStatusUpper
        elif status == kHighsBasisStatusUpper:
            self._kept_basis_rows[-1 - var] = kHighsBasisStatusLower
        else:
            self._kept_basis_rows[-1 - var] = status

    cdef void _shift(self, int var, double delta) noexcept nogil:
        """Add ``delta`` to variable ``var``'s value (a logical's: the row's activity moves by ``-delta``)."""
        if var >= 0:
            self._kept_col_value[var] += delta
        else:
            self._kept_row_value[-1 - var] -= delta

    cdef void _add_column(self, int var, double times) noexcept nogil:
        """``_rhs += times`` x the basis-matrix column of variable ``var``."""
        cdef int p
        if var >= 0:
            for p in range(self._a_start[var], self._a_start[var + 1]):
                self._rhs[self._a_index[p]] += self._a_value[p] * times
        else:
            self._rhs[-1 - var] += times

    cdef bint _basis_solve(self, int m) noexcept nogil:
        """``_ftran`` = B^-1 ``_rhs`` for the current basis: HiGHS's factorisation, then the etas in order."""
        cdef HighsInt nnz = 0
        cdef int k, i, p
        cdef double pivot_value
        cdef double* eta
        if Highs_getBasisSolve(self._highs, &self._rhs[0], &self._ftran[0], &nnz, NULL) == kHighsStatusError:
            return False
        for k in range(self._n_etas):
            p = self._eta_pos[k]
            eta = &self._eta[k, 0]
            pivot_value = self._ftran[p] / eta[p]
            if pivot_value != 0.0:
                for i in range(m):
                    self._ftran[i] -= eta[i] * pivot_value
            self._ftran[p] = pivot_value
        return True

    cdef bint _transpose_solve(self, int m) noexcept nogil:
        """``_rho`` = B^-T ``_rhs`` for the current basis: the etas transposed, newest first, then HiGHS's factorisation.

        Overwrites ``_rhs``.
        """
        cdef HighsInt nnz = 0
        cdef int k, i, p
        cdef double total
        cdef double* eta
        for k in range(self._n_etas - 1, -1, -1):
            p = self._eta_pos[k]
            eta = &self._eta[k, 0]
            total = 0.0
            for i in range(m):
                if i != p:
                    total += eta[i] * self._rhs[i]
            self._rhs[p] = (self._rhs[p] - total) / eta[p]
        return Highs_getBasisTransposeSolve(self._highs, &self._rhs[0], &self._rho[0], &nnz, NULL) != kHighsStatusError

    cdef bint _basis_row(self, int r, int m) noexcept nogil:
        """``_rho`` = B^-T e_r: row ``r`` of the current basis inverse."""
        cdef int i
        for i in range(m):
            self._rhs[i] = 0.0
        self._rhs[r] = 1.0
        return self._transpose_solve(m)

    cdef int _most_infeasible(self, const double* incoming, int opening, int m, double* target) noexcept nogil:
        """The basis position whose variable lies furthest outside its bounds (beyond the tolerance), or -1.

        ``target`` is the bound it lies beyond. Ties go to the first position.
        """
        cdef int p, r = -1
        cdef double lower, upper, value, worst = self._primal_tolerance
        for p in range(m):
            self._variable(self._basic[p], incoming, opening, &lower, &upper, &value)
            if lower - value > worst:
                worst, r, target[0] = lower - value, p, lower
            elif value - upper > worst:
                worst, r, target[0] = value - upper, p, upper
        return r

    cdef bint _dual_pivot(
        self, int r, double target, const double* incoming, int opening, int m,
    ) noexcept nogil:
        """One dual simplex pivot: the variable at position ``r`` leaves to ``target``. False: leave it to HiGHS.

        Pivot row ``alpha = e_r B^-1 [A I]`` over the nonbasic variables (index
        ``j`` for column j, ``n + i`` for row i's logical); a candidate moves
        the leaving variable towards ``target`` from the bound it sits at, and
        enters in order of ``|d_j / alpha_j|``. A boxed candidate whose flip to
        its other bound leaves the leaving variable still short of ``target``
        is flipped instead (bound-flipping ratio test), so one pivot does what
        several would.
        """
        cdef int n = self._num_cols, j, i, p, var, status, leaving = self._basic[r], q = -1, n_candidates = 0
        cdef int n_flips = 0, best, c, entering
        cdef double lower, upper, value, a, direction, slope, width, delta, theta_primal, theta_dual
        self._variable(leaving, incoming, opening, &lower, &upper, &value)
        direction = 1.0 if value < target else -1.0
        slope = fabs(value - target)  # how far the leaving variable lies short of its bound
        if not self._basis_row(r, m):
            return False
        for j in range(n + m):
            if j < n:
                status = self._kept_basis_cols[j]
                if status == kHighsBasisStatusBasic:
                    continue
                a = 0.0
                for p in range(self._a_start[j], self._a_start[j + 1]):
                    a += self._rho[self._a_index[p]] * self._a_value[p]
            else:
                status = self._logical_status(j - n)
                if status == kHighsBasisStatusBasic:
                    continue
                a = self._rho[j - n]
            self._alpha[j] = a
            if fabs(a) <= PIVOT_TOLERANCE:
                continue
            if status == kHighsBasisStatusLower:
                if direction * a >= 0.0:
                    continue
            elif status == kHighsBasisStatusUpper:
                if direction * a <= 0.0:
                    continue
            self._variable(_index_variable(j, n), incoming, opening, &lower, &upper, &value)
            if lower == upper:
                continue
            if status != kHighsBasisStatusLower and status != kHighsBasisStatusUpper:
                return False  # a free nonbasic variable could enter either way
            self._candidates[n_candidates] = j
            self._ratio[n_candidates] = fabs(self._index_reduced_cost(j)) / fabs(a)
            self._size[n_candidates] = fabs(a)
            n_candidates += 1
        # walk the candidates in entering order, flipping the boxed ones while the leaving one stays short
        while n_candidates:
            best = 0
            for c in range(1, n_candidates):
                if _enters_before(self._ratio[c], self._size[c], self._candidates[c],
                                  self._ratio[best], self._size[best], self._candidates[best]):
                    best = c
            j = self._candidates[best]
            self._variable(_index_variable(j, n), incoming, opening, &lower, &upper, &value)
            width = upper - lower
            if width != INFINITY and slope - self._size[best] * width > 0.0:
                slope -= self._size[best] * width
                self._flips[n_flips] = j
                n_flips += 1
                n_candidates -= 1
                self._candidates[best] = self._candidates[n_candidates]
                self._ratio[best] = self._ratio[n_candidates]
                self._size[best] = self._size[n_candidates]
                continue
            q = j
            break
        if q < 0:
            return False
        entering = _index_variable(q, n)
        if n_flips:
            for i in range(m):
                self._rhs[i] = 0.0
            for c in range(n_flips):
                j = self._flips[c]
                var = _index_variable(j, n)
                self._variable(var, incoming, opening, &lower, &upper, &value)
                status = self._index_status(j)
                delta = (upper if status == kHighsBasisStatusLower else lower) - value
                self._shift(var, delta)
                self._set_status(var, kHighsBasisStatusUpper if status == kHighsBasisStatusLower else kHighsBasisStatusLower)
                self._add_column(var, delta)
            if not self._basis_solve(m):
                return False
            for p in range(m):
                if self._ftran[p] != 0.0:
                    self._shift(self._basic[p], -self._ftran[p])
        # the entering column, through the current basis; its pivot must agree with the row's
        for i in range(m):
            self._rhs[i] = 0.0
        self._add_column(entering, 1.0)
        if not self._basis_solve(m):
            return False
        if fabs(self._ftran[r] - self._alpha[q]) > 1e-9 * (1.0 + fabs(self._alpha[q])):
            return False
        self._variable(leaving, incoming, opening, &lower, &upper, &value)
        theta_primal = (value - target) / self._ftran[r]
        for p in range(m):
            if p != r and self._ftran[p] != 0.0:
                self._shift(self._basic[p], -theta_primal * self._ftran[p])
        self._shift(entering, theta_primal)
        self._shift(leaving, target - value)
        # reduced costs: every nonbasic one moves by theta_dual x its pivot row entry
        theta_dual = self._index_reduced_cost(q) / self._alpha[q]
        for j in range(n):
            if self._kept_basis_cols[j] != kHighsBasisStatusBasic:
                self._col_dual[j] -= theta_dual * self._alpha[j]
        for i in range(m):
            if self._kept_basis_rows[i] != kHighsBasisStatusBasic:
                self._kept_row_dual[i] += theta_dual * self._alpha[n + i]  # the logical's is minus the row's
        if q < n:
            self._col_dual[q] = 0.0
        else:
            self._kept_row_dual[q - n] = 0.0
        if leaving >= 0:
            self._col_dual[leaving] = -theta_dual
        else:
            self._kept_row_dual[-1 - leaving] = theta_dual
        self._set_status(entering, kHighsBasisStatusBasic)
        self._set_status(leaving, kHighsBasisStatusLower if target == lower else kHighsBasisStatusUpper)
        self._basic[r] = entering
        self._eta_pos[self._n_etas] = r
        memcpy(&self._eta[self._n_etas, 0], &self._ftran[0], m * sizeof(double))
        self._n_etas += 1
        return True

    cdef bint _primal_values(self, int m) noexcept nogil:
        """Set the basic variables' values from the nonbasic ones: ``x_B = -B^-1 (A_N x_N + s_N)``, as HiGHS does."""
        cdef int j, i, p
        cdef double value
        for i in range(m):
            self._rhs[i] = 0.0
        for j in range(self._num_cols):
            value = self._kept_col_value[j]
            if self._kept_basis_cols[j] != kHighsBasisStatusBasic and value != 0.0:
                self._add_column(j, -value)
        for i in range(m):
            if self._kept_basis_rows[i] != kHighsBasisStatusBasic:
                self._rhs[i] += self._kept_row_value[i]  # minus the logical's value
        if not self._basis_solve(m):
            return False
        for p in range(m):
            if self._basic[p] >= 0:
                self._kept_col_value[self._basic[p]] = self._ftran[p]
            else:
                self._kept_row_value[-1 - self._basic[p]] = -self._ftran[p]
        return True

    cdef bint _dual_values(self, const double* incoming, int opening, int m) noexcept nogil:
        """Set the reduced costs from the basis: ``y = B^-T c_B``, ``d = c - A^T y`` (a logical's: ``-y_i``).

        False when a nonbasic variable that is not fixed has a reduced cost of
        the wrong sign beyond HiGHS's dual feasibility tolerance.
        """
        cdef int n = self._num_cols, j, i, p, status
        cdef double total, lower, upper, value
        for p in range(m):
            self._rhs[p] = self._cost[self._basic[p]] if self._basic[p] >= 0 else 0.0
        if not self._transpose_solve(m):
            return False
        for j in range(n):
            if self._kept_basis_cols[j] == kHighsBasisStatusBasic:
                self._col_dual[j] = 0.0
                continue
            total = self._cost[j]
            for p in range(self._a_start[j], self._a_start[j + 1]):
                total -= self._a_value[p] * self._rho[self._a_index[p]]
            self._col_dual[j] = total
        for i in range(m):
            self._kept_row_dual[i] = 0.0 if self._kept_basis_rows[i] == kHighsBasisStatusBasic else self._rho[i]
        for j in range(n + m):
            status = self._index_status(j)
            if status == kHighsBasisStatusBasic:
                continue
            self._variable(_index_variable(j, n), incoming, opening, &lower, &upper, &value)
            if lower == upper:
                continue
            total = self._index_reduced_cost(j)
            if ((status == kHighsBasisStatusLower and total < -self._dual_tolerance)
                    or (status == kHighsBasisStatusUpper and total > self._dual_tolerance)):
                return False
        return True

    cdef int _move_nonbasics(
        self, const int32_t[::1] index, int offset, int32_t[::1] status, double[::1] value,
        const double[:, ::1] lower, const double[:, ::1] upper, int count, int opening,
    ) noexcept nogil:
        """Move a patch table's nonbasic variables from the kept opening's bounds to ``opening``'s.

        The table's entry k is variable ``index[offset + k]`` (a column, or a
        row with its activity as value). Returns 1 if any moved, 0 if none,
        -1 if one cannot stay nonbasic (see ``_nonbasic_value``).
        """
        cdef int k, j, move, kept = self._kept_opening, moved = 0
        cdef double new_value
        for k in range(count):
            j = index[offset + k]
            move = _nonbasic_move(
                status[j], value[j], lower[opening, k], upper[opening, k], lower[kept, k], upper[kept, k], &new_value,
            )
            if move < 0:
                return -1
            if move:
                moved = 1
                value[j] = new_value
        return moved

    cdef bint _kept_answer(self, const double* incoming, int opening) noexcept nogil:
        """Answer ``opening`` (patched in already) from the kept basis, with at most KEPT_PIVOTS dual pivots.

        True: the kept values, basis and reduced costs are the opening's
        optimal ones, its objective in ``_kept_objective`` and, when reserve
        cuts wait, its column values in ``_col_value``. False: the kept state
        is spoilt and the opening is left to ``Highs_run``. Values and reduced
        costs are computed afresh from the basis whenever they change, as
        HiGHS computes them after a solve, so no error piles up along a tour.
        """
        cdef int ns = self._n_states, m = self._kept_rows
        cdef bint moved
        cdef int j, r, moved_cols, moved_rows, pivots = 0
        cdef double objective, target = 0.0
        if self._n_added:  # the reserve cuts added as rows are not in the matrix arrays kept
            return False
        # the opening's nonbasic columns and rows move to their new bounds
        moved_cols = self._move_nonbasics(
            self._patch_index, ns, self._kept_basis_cols, self._kept_col_value,
            self._col_patch_lower, self._col_patch_upper, self._n_col_patches, opening,
        )
        if moved_cols < 0:
            return False
        moved_rows = self._move_nonbasics(
            self._row_patch_index, 0, self._kept_basis_rows, self._kept_row_value,
            self._row_patch_lower, self._row_patch_upper, self._n_row_patches, opening,
        )
        if moved_rows < 0:
            return False
        moved = moved_cols or moved_rows
        self._kept_opening = opening
        if moved and not self._primal_values(m):
            return False
        # pivot while a basic variable lies outside its bounds at the opening
        r = self._most_infeasible(incoming, opening, m, &target)
        while r >= 0:
            if self._pivot_hits == 0 and self._pivot_misses >= PIVOT_PATIENCE:
                return False
            if pivots == KEPT_PIVOTS or self._n_etas == KEPT_ETAS or not self._dual_pivot(r, target, incoming, opening, m):
                self._pivot_misses += 1
                return False
            pivots += 1
            r = self._most_infeasible(incoming, opening, m, &target)
            if r < 0:  # optimal: values afresh, checked again
                if not (self._primal_values(m) and self._dual_values(incoming, opening, m)):
                    self._pivot_misses += 1
                    return False
                r = self._most_infeasible(incoming, opening, m, &target)
        if pivots:
            self._pivot_hits += 1
        if moved or pivots:
            objective = self._objective_offset
            for j in range(self._num_cols):
                objective += self._cost[j] * self._kept_col_value[j]
            self._kept_objective = objective
        self._simplex_iterations += pivots
        if self._n_reserve > self._n_added:
            memcpy(&self._col_value[0], &self._kept_col_value[0], self._num_cols * sizeof(double))
        return True

    cdef int _fail(self, int opening, int64_t forward_pass, int status) noexcept nogil:
        self._failed_opening = opening
        self._failed_pass = forward_pass
        self._failed_status = status
        return -1

    cdef int _forward_kernel(
        self,
        const double[:, ::1] incoming,
        const int32_t[::1] openings,
        const int64_t[::1] pass_ids,
        double[:, ::1] out_states,
        double[::1] out_objective,
        double[::1] out_theta,
        uint8_t[:, ::1] out_bases,
        bint want_bases,
    ) noexcept nogil:
        cdef Py_ssize_t k
        cdef int i, opening, status, nc = self._num_cols
        cdef double start
        for k in range(incoming.shape[0]):
            opening = openings[k]
            self._patch(&incoming[k, 0], opening)
            self._reset_to_basis()
            status = self._solve_with_reserve()
            if status != kHighsModelStatusOptimal:
                return self._fail(opening, pass_ids[k], status)
            start = now()
            Highs_getSolution(self._highs, &self._col_value[0], NULL, NULL, NULL)
            for i in range(self._n_states):
                out_states[k, i] = self._col_value[self._state_out_cols[i]]
            out_theta[k] = self._col_value[self._theta_col] * self._unscale
            out_objective[k] = Highs_getObjectiveValue(self._highs) * self._unscale
            if want_bases:  # the stage LP's rows only: an added reserve cut leaves with its status
                Highs_getBasis(self._highs, &self._kept_col_status[0], &self._kept_row_status[0])
                for i in range(nc):
                    out_bases[k, i] = <uint8_t>self._kept_col_status[i]
                for i in range(self._num_rows):
                    out_bases[k, nc + i] = <uint8_t>self._kept_row_status[i]
            self._time_extract += now() - start
            self._drop_added_cuts()
        return 0

    cdef int _backward_kernel(
        self,
        const double* incoming,
        int64_t trial_id,
        double[::1] out_values,
        double[:, ::1] out_subgradients,
        bint want_basis,
        const int32_t[::1] order,
        int first,
        int stop,
        int32_t* publish_signal,
        uint8_t* publish_status,
    ) noexcept nogil:
        cdef int opening, i, status, position, hits = 0, misses = 0
        cdef int64_t retries
        cdef double start
        cdef bint ranged
        for position in range(first, stop):
            opening = order[position]
            # an opening the kept basis answers needs no bounds in HiGHS: they are patched for a run only
            if position != first and self._kept_valid:
                start = now()
                ranged = self._kept_answer(incoming, opening)
                # a reserve cut that cuts the kept vertex off becomes a row, and the LP is solved
                if ranged and not self._add_violated_cuts(False):
                    self._ranged += 1
                    hits += 1
                    out_values[opening] = self._kept_objective * self._unscale
                    for i in range(self._n_states):
                        out_subgradients[opening, i] = self._col_dual[self._state_in_cols[i]] * self._unscale
                    self._time_solve += now() - start
                    continue
                misses += 1
                self._time_solve += now() - start
            self._patch(incoming, opening)
            if position == first:
                self._reset_to_basis()
                self._kept_valid = False
                self._pivot_hits = self._pivot_misses = 0
            retries = self._retries
            status = self._solve_with_reserve()
            if status != kHighsModelStatusOptimal:
                return self._fail(opening, trial_id, status)
            start = now()
            if (self.ranging and position + 1 < stop and self._retries == retries
                    and (hits > 0 or misses < RANGING_PATIENCE)):
                self._keep_solution(opening)
            else:
                self._kept_valid = False
                Highs_getSolution(self._highs, NULL, &self._col_dual[0], NULL, NULL)
            out_values[opening] = Highs_getObjectiveValue(self._highs) * self._unscale
            for i in range(self._n_states):
                out_subgradients[opening, i] = self._col_dual[self._state_in_cols[i]] * self._unscale
            if position == first and publish_signal != NULL:
                self._publish(publish_signal, publish_status)
            self._time_extract += now() - start
        if want_basis:  # the caller copies the stage LP's rows only
            start = now()
            Highs_getBasis(self._highs, &self._col_status[0], &self._row_status[0])
            self._time_extract += now() - start
        self._drop_added_cuts()
        return 0

    cdef void _publish(self, int32_t* signal, uint8_t* status) noexcept nogil:
        """Publish the basis of the solve just ended at a fork point: the stage LP's rows, then the signal.

        Rows past the stage LP's (reserve cuts added) are left out; the basis
        is then complete only if none of them was basic, otherwise the signal
        tells the walk to start from its own start basis.
        """
        cdef int nc = self._num_cols, nr = self._num_rows, i, n_basic = 0
        Highs_getBasis(self._highs, &self._kept_col_status[0], &self._kept_row_status[0])
        for i in range(nc):
            status[i] = <uint8_t>self._kept_col_status[i]
            n_basic += self._kept_col_status[i] == kHighsBasisStatusBasic
        for i in range(nr):
            status[nc + i] = <uint8_t>self._kept_row_status[i]
            n_basic += self._kept_row_status[i] == kHighsBasisStatusBasic
        fork_signal_store(signal, FORK_HEAD_BASIS if n_basic == nr else FORK_OWN_START)

    cdef bint _start_after(self, const int32_t* signal, const uint8_t* status) noexcept nogil:
        """Wait for a fork point's head; False if it failed, else start from its basis if it has a complete one."""
        cdef double start = now()
        cdef int32_t state = fork_signal_wait(signal, FORK_PENDING)
        cdef int nc = self._num_cols, i
        if state == FORK_HEAD_BASIS:
            for i in range(nc):
                self._col_status[i] = status[i]
            for i in range(self._num_rows):
                self._row_status[i] = status[nc + i]
        self._time_wait += now() - start
        return state != FORK_FAILED

    cdef bint _is_permutation(self, const int32_t[::1] order) noexcept:
        cdef int n = self._n_openings, i
        if order.shape[0] != n:
            return False
        for i in range(n):
            self._order_seen[i] = 0
        for i in range(n):
            if order[i] < 0 or order[i] >= n or self._order_seen[order[i]]:
                return False
            self._order_seen[order[i]] = 1
        return True

    cdef int _raise_failure(self) except -1:
        failure = StageSolveFailed(
            self._stage, self._failed_opening, self._failed_pass, self._failed_status, self.iteration
        )
        self._forget_stage()
        raise failure

    # -- work items (the SolverWorkspace protocol) --------------------------------------
    def solve_forward(
        self,
        lp,
        basis,
        const double[:, ::1] incoming,
        openings,
        const int64_t[::1] pass_ids,
        double[:, ::1] out_states,
        double[::1] out_objective,
        double[::1] out_theta,
        out_bases=None,
    ) -> None:
        """Solve ``lp`` once per row of ``incoming``; see ``SolverWorkspace.solve_forward``."""
        self._load(lp)
        cdef const int32_t[::1] opening_ids = np.ascontiguousarray(openings, dtype=np.int32)
        cdef Py_ssize_t n_items = incoming.shape[0], k
        if (incoming.shape[1] != self._n_states or opening_ids.shape[0] != n_items
                or pass_ids.shape[0] != n_items or out_states.shape[0] != n_items
                or out_states.shape[1] != self._n_states or out_objective.shape[0] != n_items
                or out_theta.shape[0] != n_items):
            raise ValueError(f"stage {self._stage}: forward work item arrays have inconsistent shapes")
        cdef bint want_bases = out_bases is not None
        cdef uint8_t[:, ::1] bases_view = None
        if want_bases:
            bases_view = out_bases
            if bases_view.shape[0] != n_items or bases_view.shape[1] != self._num_cols + self._num_rows:
                raise ValueError(f"stage {self._stage}: out_bases is not one basis of the LP per forward pass")
        # forward passes may visit realisations past the openings (out-of-sample,
        # historical): every row of the patch tables is a valid target
        cdef Py_ssize_t n_rows = self._col_patch_lower.shape[0]
        for k in range(n_items):
            if not 0 <= opening_ids[k] < n_rows:
                raise ValueError(
                    f"stage {self._stage}, forward pass {pass_ids[k]}: realisation {opening_ids[k]} "
                    f"out of range (the stage has {n_rows})"
                )
        if n_items == 0:
            return
        self._stage_basis(basis)
        cdef int result
        with nogil:
            gil_left_free_enter()
            result = self._forward_kernel(
                incoming, opening_ids, pass_ids, out_states, out_objective, out_theta, bases_view, want_bases
            )
            gil_left_free_leave()
        if result != 0:
            self._raise_failure()

    def solve_backward(
        self,
        lp,
        basis,
        const double[::1] incoming,
        int64_t trial_id,
        double[::1] out_values,
        double[:, ::1] out_subgradients,
        out_basis,
        order=None,
        int first=0,
        stop=None,
        publish=None,
        after=None,
    ) -> bool:
        """Solve the openings ``order[first:stop]`` of ``lp`` at ``incoming``; see ``SolverWorkspace.solve_backward``."""
        self._load(lp)
        cdef const int32_t[::1] opening_order = self._index_order if order is None else order
        if order is not None and not self._is_permutation(opening_order):
            raise ValueError(f"stage {self._stage}: order is not a permutation of the {self._n_openings} openings")
        cdef int last = self._n_openings if stop is None else stop
        if not 0 <= first <= last <= self._n_openings:
            raise ValueError(
                f"stage {self._stage}: positions [{first}, {last}) are not within the {self._n_openings} openings"
            )
        if (incoming.shape[0] != self._n_states or out_values.shape[0] != self._n_openings
                or out_subgradients.shape[0] != self._n_openings
                or out_subgradients.shape[1] != self._n_states):
            raise ValueError(f"stage {self._stage}: backward work item arrays have inconsistent shapes")
        cdef uint8_t[::1] basis_cols
        cdef uint8_t[::1] basis_rows
        cdef bint want_basis = out_basis is not None
        if want_basis:
            basis_cols = out_basis.col_status
            basis_rows = out_basis.row_status
            if basis_cols.shape[0] != self._num_cols or basis_rows.shape[0] != self._num_rows:
                raise ValueError(f"stage {self._stage}: out_basis does not have the LP's shape")
        cdef int32_t[::1] publish_signal = None, after_signal = None
        cdef uint8_t[::1] publish_status = None, after_status = None
        if publish is not None:
            publish_signal, publish_status = self._checked_fork(publish)
        if after is not None:
            after_signal, after_status = self._checked_fork(after)
        self._stage_basis(basis)
        cdef const double* state = &incoming[0] if self._n_states else NULL
        cdef int result = 0, i
        cdef bint started = True
        cdef int32_t* published = NULL
        cdef uint8_t* published_status = NULL
        cdef bint waits = after is not None
        if publish is not None:
            published, published_status = &publish_signal[0], &publish_status[0]
        with nogil:
            gil_left_free_enter()
            if waits:
                started = self._start_after(&after_signal[0], &after_status[0])
            if started:
                result = self._backward_kernel(
                    state, trial_id, out_values, out_subgradients, want_basis, opening_order, first, last,
                    published, published_status,
                )
            if started and result == 0 and want_basis:
                for i in range(self._num_cols):
                    basis_cols[i] = <uint8_t>self._col_status[i]
                for i in range(self._num_rows):
                    basis_rows[i] = <uint8_t>self._row_status[i]
            if published != NULL and fork_signal_load(published) == FORK_PENDING:
                # before raising, no walk waits on a failed head; a head of no opening has no basis to give
                fork_signal_store(published, FORK_FAILED if result != 0 else FORK_OWN_START)
            gil_left_free_leave()
        if result != 0:
            self._raise_failure()
        return started

    cdef tuple _checked_fork(self, fork):
        """A fork point's signal and status bytes (columns, then rows), checked against the loaded LP."""
        cdef int32_t[::1] signal = fork.signal
        cdef uint8_t[::1] status = fork.status
        if signal.shape[0] != 1 or status.shape[0] != self._num_cols + self._num_rows:
            raise ValueError(f"stage {self._stage}: the fork point does not have the LP's shape")
        return signal, status

    # -- simulation: every column value and row dual (SolverWorkspace.solve_detailed) ----
    # Appended as one block: the training kernels above never read these.

    cdef int _detailed_kernel(
        self,
        const double[:, ::1] incoming,
        const int32_t[::1] openings,
        const int64_t[::1] scenario_ids,
        double[::1] out_objective,
        double[:, ::1] out_values,
        double[:, ::1] out_row_duals,
        double[::1] row_dual_scratch,
        bint want_duals,
    ) noexcept nogil:
        """The forward kernel's solve sequence, reading back every column value (and the row duals)."""
        cdef Py_ssize_t k
        cdef int i, opening, status, nc = self._num_cols, n_duals = 0
        cdef double start
        if want_duals:
            n_duals = out_row_duals.shape[1]
        for k in range(incoming.shape[0]):
            opening = openings[k]
            self._patch(&incoming[k, 0] if self._n_states else NULL, opening)
            self._reset_to_basis()
            status = self._solve_with_reserve()
            if status != kHighsModelStatusOptimal:
                return self._fail(opening, scenario_ids[k], status)
            start = now()
            Highs_getSolution(
                self._highs, &self._col_value[0], NULL, NULL, &row_dual_scratch[0] if want_duals else NULL
            )
            for i in range(nc):
                out_values[k, i] = self._col_value[i]
            for i in range(n_duals):
                out_row_duals[k, i] = row_dual_scratch[i]
            out_objective[k] = Highs_getObjectiveValue(self._highs) * self._unscale
            self._time_extract += now() - start
            self._drop_added_cuts()
        return 0

    def solve_detailed(
        self,
        lp,
        basis,
        const double[:, ::1] incoming,
        openings,
        const int64_t[::1] scenario_ids,
        double[::1] out_objective,
        out_values,
        out_row_duals=None,
    ) -> None:
        """Solve ``lp`` once per row of ``incoming``, keeping every value; see ``SolverWorkspace.solve_detailed``."""
        self._load(lp)
        cdef const int32_t[::1] opening_ids = np.ascontiguousarray(openings, dtype=np.int32)
        cdef double[:, ::1] values_view = out_values
        cdef Py_ssize_t n_items = incoming.shape[0], k
        template = lp.template
        cdef bint want_duals = out_row_duals is not None
        cdef double[:, ::1] duals_view = None
        if want_duals:
            duals_view = out_row_duals
        if (incoming.shape[1] != self._n_states or opening_ids.shape[0] != n_items
                or scenario_ids.shape[0] != n_items or out_objective.shape[0] != n_items
                or values_view.shape[0] != n_items or values_view.shape[1] != self._num_cols
                or (want_duals and (duals_view.shape[0] != n_items
                                    or duals_view.shape[1] != template.num_rows))):
            raise ValueError(f"stage {self._stage}: simulation work item arrays have inconsistent shapes")
        cdef Py_ssize_t n_rows = self._col_patch_lower.shape[0]
        for k in range(n_items):
            if not 0 <= opening_ids[k] < n_rows:
                raise ValueError(
                    f"stage {self._stage}, scenario {scenario_ids[k]}: realisation {opening_ids[k]} "
                    f"out of range (the stage has {n_rows})"
                )
        if n_items == 0:
            return
        self._stage_basis(basis)
        # HiGHS writes a dual for every row, the reserve cuts added included
        cdef double[::1] scratch = np.empty(max(1, self._num_rows + self._n_reserve))
        cdef int result
        with nogil:
            gil_left_free_enter()
            result = self._detailed_kernel(
                incoming, opening_ids, scenario_ids, out_objective, values_view, duals_view, scratch, want_duals
            )
            gil_left_free_leave()
        if result != 0:
            self._raise_failure()
        # in the stage's own units: the cost-to-go columns hold scale x theta, and the
        # template rows' duals carry the objective's scale (caudal.model.objective_scale)
        form = lp.solver_form
        values = np.asarray(out_values)
        values[:, form.value_cols] *= self._unscale
        if want_duals:
            duals = np.asarray(out_row_duals)
            duals *= form.row_dual_factor[: template.num_rows]
