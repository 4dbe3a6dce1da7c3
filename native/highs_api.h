/*
 * Prototypes of the few HiGHS C API functions caudal calls.
 *
 * The highspy wheel ships libhighs.so.1 (which exports the whole C API) but no
 * header files, so caudal declares what it uses here. The signatures follow
 * HiGHS 1.15's C API; HighsInt is 32-bit in the wheel. Keep this file in step
 * with highs_api.pxd, which tells Cython the same thing.
 */
#ifndef CAUDAL_HIGHS_API_H
#define CAUDAL_HIGHS_API_H

#include <stdint.h>

typedef int32_t HighsInt;

#ifdef __cplusplus
extern "C" {
#endif

void* Highs_create(void);
void Highs_destroy(void* highs);

HighsInt Highs_setBoolOptionValue(void* highs, const char* option, const HighsInt value);
HighsInt Highs_setIntOptionValue(void* highs, const char* option, const HighsInt value);
HighsInt Highs_setStringOptionValue(void* highs, const char* option, const char* value);
HighsInt Highs_getOptionName(const void* highs, const HighsInt index, char** name);
HighsInt Highs_getOptionType(const void* highs, const char* option, HighsInt* type);
HighsInt Highs_getBoolOptionValue(const void* highs, const char* option, HighsInt* value);
HighsInt Highs_getIntOptionValue(const void* highs, const char* option, HighsInt* value);
HighsInt Highs_getDoubleOptionValue(const void* highs, const char* option, double* value);
HighsInt Highs_getStringOptionValue(const void* highs, const char* option, char* value);

HighsInt Highs_passLp(void* highs, const HighsInt num_col, const HighsInt num_row,
                      const HighsInt num_nz, const HighsInt a_format, const HighsInt sense,
                      const double offset, const double* col_cost, const double* col_lower,
                      const double* col_upper, const double* row_lower, const double* row_upper,
                      const HighsInt* a_start, const HighsInt* a_index, const double* a_value);

HighsInt Highs_changeColsBoundsBySet(void* highs, const HighsInt num_set_entries,
                                     const HighsInt* set, const double* lower,
                                     const double* upper);
HighsInt Highs_changeRowsBoundsBySet(void* highs, const HighsInt num_set_entries,
                                     const HighsInt* set, const double* lower,
                                     const double* upper);
HighsInt Highs_addRows(void* highs, const HighsInt num_new_row, const double* lower,
                       const double* upper, const HighsInt num_new_nz, const HighsInt* starts,
                       const HighsInt* index, const double* value);
HighsInt Highs_deleteRowsByRange(void* highs, const HighsInt from_row, const HighsInt to_row);

HighsInt Highs_clearSolver(void* highs);
HighsInt Highs_setBasis(void* highs, const HighsInt* col_status, const HighsInt* row_status);
HighsInt Highs_getBasis(const void* highs, HighsInt* col_status, HighsInt* row_status);

HighsInt Highs_run(void* highs);
HighsInt Highs_getModelStatus(const void* highs);
double Highs_getObjectiveValue(const void* highs);
HighsInt Highs_getIntInfoValue(const void* highs, const char* info, HighsInt* value);
HighsInt Highs_getSolution(const void* highs, double* col_value, double* col_dual,
                           double* row_value, double* row_dual);

#ifdef __cplusplus
}
#endif

#endif /* CAUDAL_HIGHS_API_H */
