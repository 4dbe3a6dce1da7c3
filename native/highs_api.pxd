# Cython view of HiGHS's official C API header: the functions and constants caudal calls.
#
# The header (interfaces/highs_c_api.h) and the shared library libhighs.so come
# from the highsbox package (setup.py puts highsbox.highs_include_dir() on the
# include path and links highsbox.highs_lib_dir()/libhighs.so), so the C
# compiler checks every call below against HiGHS's own prototypes; this file
# only tells Cython about the few caudal uses.
#
# Every function is declared nogil: the kernels call them with the GIL
# released, and each HiGHS instance is only ever touched by the thread that
# owns it.

from libc.stdint cimport int32_t


cdef extern from "interfaces/highs_c_api.h" nogil:
    # int in HiGHS's default build, int64_t in a HIGHSINT64 one; the kernels'
    # index and basis buffers are int32, so the build refuses the latter (the
    # assertion below)
    ctypedef int32_t HighsInt

    const char* Highs_version()

    void* Highs_create()
    void Highs_destroy(void* highs)

    HighsInt Highs_setBoolOptionValue(void* highs, const char* option, const HighsInt value)
    HighsInt Highs_setIntOptionValue(void* highs, const char* option, const HighsInt value)
    HighsInt Highs_setStringOptionValue(void* highs, const char* option, const char* value)
    HighsInt Highs_setDoubleOptionValue(void* highs, const char* option, const double value)
    HighsInt Highs_getOptionName(const void* highs, const HighsInt index, char** name)
    HighsInt Highs_getOptionType(const void* highs, const char* option, HighsInt* type)
    HighsInt Highs_getBoolOptionValue(const void* highs, const char* option, HighsInt* value)
    HighsInt Highs_getIntOptionValue(const void* highs, const char* option, HighsInt* value)
    HighsInt Highs_getDoubleOptionValue(const void* highs, const char* option, double* value)
    HighsInt Highs_getStringOptionValue(const void* highs, const char* option, char* value)

    HighsInt Highs_passLp(void* highs, const HighsInt num_col, const HighsInt num_row,
                          const HighsInt num_nz, const HighsInt a_format, const HighsInt sense,
                          const double offset, const double* col_cost, const double* col_lower,
                          const double* col_upper, const double* row_lower,
                          const double* row_upper, const HighsInt* a_start,
                          const HighsInt* a_index, const double* a_value)

    HighsInt Highs_changeColsBoundsBySet(void* highs, const HighsInt num_set_entries,
                                         const HighsInt* set, const double* lower,
                                         const double* upper)
    HighsInt Highs_changeRowsBoundsBySet(void* highs, const HighsInt num_set_entries,
                                         const HighsInt* set, const double* lower,
                                         const double* upper)

    HighsInt Highs_addRows(void* highs, const HighsInt num_new_row, const double* lower,
                           const double* upper, const HighsInt num_new_nz, const HighsInt* starts,
                           const HighsInt* index, const double* value)
    HighsInt Highs_deleteRowsByRange(void* highs, const HighsInt from_row, const HighsInt to_row)

    HighsInt Highs_clearSolver(void* highs)
    HighsInt Highs_setBasis(void* highs, const HighsInt* col_status, const HighsInt* row_status)
    HighsInt Highs_getBasis(const void* highs, HighsInt* col_status, HighsInt* row_status)

    HighsInt Highs_run(void* highs)
    HighsInt Highs_getModelStatus(const void* highs)
    double Highs_getObjectiveValue(const void* highs)
    HighsInt Highs_getIntInfoValue(const void* highs, const char* info, HighsInt* value)
    HighsInt Highs_getSolution(const void* highs, double* col_value, double* col_dual,
                               double* row_value, double* row_dual)
    HighsInt Highs_getBasicVariables(const void* highs, HighsInt* basic_variables)
    HighsInt Highs_getBasisSolve(const void* highs, const double* rhs, double* solution_vector,
                                 HighsInt* solution_num_nz, HighsInt* solution_index)
    HighsInt Highs_getBasisTransposeSolve(const void* highs, const double* rhs, double* solution_vector,
                                          HighsInt* solution_num_nz, HighsInt* solution_index)

    # the header's own constants (static const HighsInt)
    const HighsInt kHighsStatusError
    const HighsInt kHighsOptionTypeBool
    const HighsInt kHighsOptionTypeInt
    const HighsInt kHighsOptionTypeDouble
    const HighsInt kHighsMatrixFormatColwise
    const HighsInt kHighsObjSenseMinimize
    const HighsInt kHighsModelStatusOptimal
    const HighsInt kHighsBasisStatusLower
    const HighsInt kHighsBasisStatusBasic
    const HighsInt kHighsBasisStatusUpper
    const HighsInt kHighsBasisStatusNonbasic  # the largest basis status code


cdef extern from *:
    """
    /* The kernels pass int32 numpy buffers where the C API takes HighsInt*. */
    _Static_assert(sizeof(HighsInt) == 4, "caudal's native kernels need HiGHS built with 32-bit HighsInt");
    """
    # the HiGHS version the kernels are compiled against (HConfig.h, included
    # by the header above); Highs_version() is the version of the library loaded
    const int HIGHS_VERSION_MAJOR
    const int HIGHS_VERSION_MINOR
    const int HIGHS_VERSION_PATCH


# Values of HiGHS options that the C API header does not name (they are
# HiGHS's C++ enums: simplex_strategy in lp_data/HConst.h, the scale and edge
# weight strategies in simplex/SimplexConst.h) and the size of a string
# option's buffer (kHighsMaximumStringLength is a variable, not a constant
# Cython can size an array with).
cdef enum:
    HIGHS_SIMPLEX_DUAL = 1
    HIGHS_SIMPLEX_PRIMAL = 4
    HIGHS_SCALE_OFF = 0  # the kernels' choice (native/sddp_options.pxd)
    HIGHS_SCALE_MAX_VALUE = 4  # a rung of the retry ladder
    HIGHS_EDGE_WEIGHT_DEVEX = 1
    HIGHS_STRING_BUFFER = 512  # kHighsMaximumStringLength
