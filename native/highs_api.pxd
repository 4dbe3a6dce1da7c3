# Cython view of native/highs_api.h: the HiGHS C API functions caudal calls.
#
# Every function is declared nogil: the kernels call them with the GIL
# released, and each HiGHS instance is only ever touched by the thread that
# owns it. The constants are HiGHS's documented values (highs_c_api.h).

from libc.stdint cimport int32_t


cdef extern from "highs_api.h" nogil:
    ctypedef int32_t HighsInt

    void* Highs_create()
    void Highs_destroy(void* highs)

    HighsInt Highs_setBoolOptionValue(void* highs, const char* option, const HighsInt value)
    HighsInt Highs_setIntOptionValue(void* highs, const char* option, const HighsInt value)
    HighsInt Highs_setStringOptionValue(void* highs, const char* option, const char* value)
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


# kHighsStatus: return codes of the calls above
cdef enum:
    HIGHS_STATUS_ERROR = -1
    HIGHS_STATUS_OK = 0
    HIGHS_STATUS_WARNING = 1

# kHighsOptionType, and the size of a string option's buffer
cdef enum:
    HIGHS_OPTION_TYPE_BOOL = 0
    HIGHS_OPTION_TYPE_INT = 1
    HIGHS_OPTION_TYPE_DOUBLE = 2
    HIGHS_OPTION_TYPE_STRING = 3
    HIGHS_MAXIMUM_STRING_LENGTH = 512

# kHighsMatrixFormat and kHighsObjSense
cdef enum:
    HIGHS_MATRIX_COLWISE = 1
    HIGHS_SENSE_MINIMIZE = 1

# kHighsModelStatus values the kernels test for
cdef enum:
    HIGHS_MODEL_STATUS_OPTIMAL = 7

# kHighsSimplexStrategy values used by the retry ladder
cdef enum:
    HIGHS_SIMPLEX_DUAL = 1
    HIGHS_SIMPLEX_PRIMAL = 4

# simplex_scale_strategy and simplex_dual_edge_weight_strategy values (HighsOptions.h)
cdef enum:
    HIGHS_SCALE_EQUILIBRATION = 2  # HiGHS's default; the kernels set it explicitly
    HIGHS_SCALE_MAX_VALUE = 4  # a rung of the retry ladder
    HIGHS_EDGE_WEIGHT_DEVEX = 1
