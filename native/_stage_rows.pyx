# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""The serial work between two backward stages, one pass each instead of a dozen numpy calls.

After every backward stage the training rebuilds the stage LP that received
the new cuts and carries bases onto it, on the main thread while the workers
wait. On a small case (4ree: a few hundred nonzeros, a few dozen cuts) each
numpy call costs more in its fixed overhead than in its arithmetic, so a
rebuild of some twenty calls is mostly overhead. These kernels do each job
in one pass:

* :func:`fill_cut_columns`: the CSC arrays of a single-cut stage LP, each
  column its template entries then its cut entries in cut order
  (:meth:`caudal.sddp.stage_assembly.CutRowAssembler.assemble`);
* :func:`carry_row_statuses`: a basis's cut-row statuses carried onto another
  set of cut rows (:func:`caudal.sddp.stage_cache.carry_cut_rows`);
* :func:`update_level1`: the highest cut at each visited state, brought up to
  date for the new cuts and states (:class:`caudal.sddp.selection.LimitedMemoryLevel1`);
* :func:`split_by_dominance`: the active cuts dealt into a working set and a
  reserve (:meth:`caudal.sddp.working_set.WorkingSets.split`).

Each writes exactly what its numpy reference writes (values are copied,
negated or multiplied by the same power of two; cut values summed in the
reference's order, without fused multiply-adds: the build passes
``-ffp-contract=off``), which ``tests/test_stage_rows.py`` checks element for
element.
"""

from libc.math cimport INFINITY
from libc.stdlib cimport calloc, free

ctypedef signed int index_t  # caudal.model.stage_lp.INDEX (int32)

DEF BASIC = 1  # caudal.solver.workspace.BASIC


def fill_cut_columns(
    const index_t[::1] template_start,
    const index_t[::1] template_rows,
    const double[::1] template_values,
    const double[::1] template_scaled,
    const long long[::1] state_of_col,
    Py_ssize_t value_col,
    index_t first_cut_row,
    const double[:, ::1] coefficients,
    double scale,
    index_t[::1] col_start,
    index_t[::1] row_index,
    double[::1] values,
    double[::1] scaled,
):
    """Fill the CSC arrays (``col_start``, ``row_index``, ``values``, ``scaled``) of a template plus cut rows.

    Column ``j`` holds its template entries, then, when it is outgoing state
    ``k = state_of_col[j] >= 0``, entry ``-coefficients[c, k]`` in row
    ``first_cut_row + c`` for every cut ``c``; the value column ``value_col`` holds
    ``1.0`` in every cut row. ``scaled`` is the solver form's copy: the template's
    own scaled values, the cut entries times ``scale``, the value column's 1.0 as is.
    """
    cdef Py_ssize_t n_cols = template_start.shape[0] - 1
    cdef Py_ssize_t n_cuts = coefficients.shape[0]
    cdef Py_ssize_t j, e, c, k, out = 0, gaining = 1
    cdef double entry
    if state_of_col.shape[0] != n_cols or not 0 <= value_col < n_cols or state_of_col[value_col] >= 0:
        raise ValueError("state_of_col needs one entry per column, and the value column must not be a state's")
    for j in range(n_cols):
        if state_of_col[j] >= coefficients.shape[1]:
            raise ValueError(f"column {j} is state {state_of_col[j]}, the cuts have {coefficients.shape[1]}")
        gaining += state_of_col[j] >= 0
    e = template_rows.shape[0] + n_cuts * gaining
    if (template_values.shape[0] != template_rows.shape[0] or template_scaled.shape[0] != template_rows.shape[0]
            or template_start[n_cols] != template_rows.shape[0] or col_start.shape[0] != n_cols + 1
            or row_index.shape[0] != e or values.shape[0] != e or scaled.shape[0] != e):
        raise ValueError(f"fill_cut_columns: arrays do not fit {n_cols} columns and {n_cuts} cuts")
    with nogil:
        for j in range(n_cols):
            col_start[j] = <index_t>out
            for e in range(template_start[j], template_start[j + 1]):
                row_index[out] = template_rows[e]
                values[out] = template_values[e]
                scaled[out] = template_scaled[e]
                out += 1
            k = state_of_col[j]
            if k >= 0:
                for c in range(n_cuts):
                    entry = -coefficients[c, k]
                    row_index[out] = <index_t>(first_cut_row + c)
                    values[out] = entry
                    scaled[out] = entry * scale
                    out += 1
            elif j == value_col:
                for c in range(n_cuts):
                    row_index[out] = <index_t>(first_cut_row + c)
                    values[out] = 1.0
                    scaled[out] = 1.0
                    out += 1
        col_start[n_cols] = <index_t>out


def carry_row_statuses(
    const unsigned char[::1] old_rows,
    Py_ssize_t n_template,
    const long long[::1] old_cut_ids,
    const long long[::1] new_cut_ids,
    unsigned char[::1] rows,
):
    """Fill ``rows`` (uint8[n_template + new cuts]) and return how many of its rows are basic.

    The template rows keep their status from ``old_rows``; cut row ``i`` takes
    the status of the old row holding cut ``new_cut_ids[i]`` when there is one
    (``old_cut_ids`` ascending, found by bisection), else it is basic.
    """
    cdef Py_ssize_t n_old = old_cut_ids.shape[0], n_new = new_cut_ids.shape[0]
    cdef Py_ssize_t i, lo, hi, mid, n_basic = 0
    cdef long long wanted
    cdef unsigned char status
    if rows.shape[0] != n_template + n_new or old_rows.shape[0] < n_template + n_old or n_template < 0:
        raise ValueError("carry_row_statuses: rows must hold the template's and the new cuts', "
                         "old_rows the template's and the old cuts'")
    with nogil:
        for i in range(n_template):
            rows[i] = old_rows[i]
            n_basic += old_rows[i] == BASIC
        for i in range(n_new):
            wanted = new_cut_ids[i]
            lo, hi = 0, n_old  # the first old id >= wanted, as numpy's searchsorted finds it
            while lo < hi:
                mid = (lo + hi) >> 1
                if old_cut_ids[mid] < wanted:
                    lo = mid + 1
                else:
                    hi = mid
            status = old_rows[n_template + lo] if lo < n_old and old_cut_ids[lo] == wanted else BASIC
            rows[n_template + i] = status
            n_basic += status == BASIC
    return n_basic


def update_level1(
    const double[::1] intercepts,
    const double[:, ::1] coefficients,
    const double[:, ::1] states,
    Py_ssize_t seen_cuts,
    Py_ssize_t seen_states,
    long long[::1] best_cut,
    double[::1] best_value,
):
    """Bring the highest cut at each state up to date, in place, for a few new cuts and states.

    ``best_cut[:seen_states]`` and ``best_value[:seen_states]`` hold the highest
    of cuts ``[0, seen_cuts)`` at states ``[0, seen_states)``; afterwards the
    first ``len(states)`` entries hold the highest of every cut at every state.
    Known states meet only the new cuts, each winning when strictly higher (ties
    stay with the older cut); new states meet every cut from -inf. Each value is
    ``intercept``, then ``+ x_i * coef_ci`` for ``i = 0, 1, ...``, the chain of
    roundings of :func:`caudal.sddp.selection.cut_values`, so the answers are
    those of :func:`~caudal.sddp.selection.dominating_cuts`. One loop, no
    blocking: for the few cuts and states of one backward stage of a small
    case, where the blocked kernels' calls cost more than their arithmetic.
    """
    cdef Py_ssize_t n_cuts = intercepts.shape[0], n = coefficients.shape[1], n_states = states.shape[0]
    cdef Py_ssize_t s, c, first
    if (coefficients.shape[0] != n_cuts or states.shape[1] != n or not 0 <= seen_cuts <= n_cuts
            or not 0 <= seen_states <= n_states or best_cut.shape[0] < n_states or best_value.shape[0] < n_states):
        raise ValueError("update_level1: arrays do not fit the cuts and states")
    with nogil:
        for s in range(n_states):
            if s < seen_states:
                first = seen_cuts
            else:
                first = 0
                best_cut[s] = 0
                best_value[s] = -INFINITY
            for c in range(first, n_cuts):
                _challenge(intercepts, coefficients, states, c, s, best_cut, best_value)


cdef inline void _challenge(
    const double[::1] intercepts,
    const double[:, ::1] coefficients,
    const double[:, ::1] states,
    Py_ssize_t c,
    Py_ssize_t s,
    long long[::1] best_cut,
    double[::1] best_value,
) noexcept nogil:
    """Cut ``c`` takes state ``s`` when its value there is strictly higher than the best so far."""
    cdef double value = intercepts[c]
    cdef Py_ssize_t i
    for i in range(coefficients.shape[1]):
        value = value + states[s, i] * coefficients[c, i]
    if value > best_value[s]:
        best_value[s] = value
        best_cut[s] = c


def split_by_dominance(
    const long long[::1] best_cut,
    const unsigned char[::1] active,
    long long[::1] working,
    long long[::1] reserve,
):
    """Deal the active cuts (``active``, one flag per cut) into ``working`` and ``reserve``, ascending.

    A cut is working when it is the highest at one of the states
    (``best_cut``, one cut id per state), reserve otherwise; returns the
    number of each. Each output needs room for every active cut.
    """
    cdef Py_ssize_t n_cuts = active.shape[0], s, c, n_working = 0, n_reserve = 0
    cdef unsigned char* dominant
    for s in range(best_cut.shape[0]):
        if not 0 <= best_cut[s] < n_cuts:
            raise ValueError(f"state {s}'s highest cut {best_cut[s]} is not one of the {n_cuts} cuts")
    if working.shape[0] < n_cuts or reserve.shape[0] < n_cuts:
        raise ValueError("split_by_dominance: working and reserve need room for every cut")
    dominant = <unsigned char*>calloc(n_cuts if n_cuts else 1, 1)
    if dominant == NULL:
        raise MemoryError()
    with nogil:
        for s in range(best_cut.shape[0]):
            dominant[best_cut[s]] = 1
        for c in range(n_cuts):
            if active[c]:
                if dominant[c]:
                    working[n_working] = c
                    n_working += 1
                else:
                    reserve[n_reserve] = c
                    n_reserve += 1
    free(dominant)
    return n_working, n_reserve
