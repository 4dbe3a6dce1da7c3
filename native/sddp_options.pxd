# The HiGHS options of an SDDP stage solver, in one place for every kernel.
#
# The engine (_native.pyx) and the benchmark's bare C loop (_bench.pyx) both
# cimport these, so the yardstick always solves with the engine's settings.
# The highspy reference workspace mirrors them in SDDP_OPTIONS
# (src/caudal/solver/highspy_workspace.py); a test checks the two agree.

from highs_api cimport (
    HIGHS_EDGE_WEIGHT_DEVEX,
    HIGHS_SCALE_OFF,
    HIGHS_SIMPLEX_DUAL,
    Highs_setBoolOptionValue,
    Highs_setDoubleOptionValue,
    Highs_setIntOptionValue,
    Highs_setStringOptionValue,
    kHighsStatusError,
)


cdef inline int configure_for_sddp(void* highs) noexcept nogil:
    """Set the options of an SDDP stage solver; returns the number of options HiGHS refused.

    Dual simplex warm-started from a basis, no presolve (it would discard the
    basis), one thread (parallelism is across work items), silent, and a fixed
    random seed. Devex pricing rather than HiGHS's choice (dual steepest edge):
    a stage solve from a warm basis takes a handful of iterations, and steepest
    edge would first spend a solve's worth of work computing its weights for
    the new basis (on 4ree, Devex took 21% fewer iterations, and less time per
    solve).

    No scaling and no cost perturbation (HiGHS's defaults are equilibration
    scaling and perturbation on). A backward work item hot-starts every
    opening after the first from the previous one's factorisation, and a
    change of bounds moves the optimum a few pivots: perturbing the costs
    makes the dual simplex walk further and then clean the perturbation up,
    and scaling makes every solve pay the scaled/unscaled copies and the
    first solve of a work item recompute the factors. Without scaling, HiGHS's
    feasibility tolerances (1e-7 by default) apply to the stage's own units,
    and on brazil4 the lower bound then rose 1.2e-7 above the deterministic
    equivalent's optimum (tests/test_known_values.py): both tolerances are
    1e-9, which keeps it within 2e-12. Measured side by side
    (benchmarks/solver_choices.py, shared machine): 19% fewer simplex
    iterations on 4ree (256 iterations, 1 forward pass) and 30% fewer on the
    national system (12 stages, 4 iterations x 4 forward passes). A solve
    that fails without perturbation gets it back for the whole retry ladder
    (_native.pyx, NativeKernel._solve), and the ladder's max-value scaling
    rung covers LPs that need scaling.

    HiGHS's refactoring check stays on (``rebuild_refactor_solution_error_tolerance``
    at its default): when the dual simplex believes it is optimal, HiGHS tests
    its updated factorisation on a random right-hand side and refactorises if
    the error is too large. Skipping the test saved 11% of HiGHS's
    instructions on 4ree, but one solve in about 100000 then came back
    "Optimal" with a wrong objective (7.14e10 where a fresh factorisation of
    the same basis gives 5.00e10), and its cut lifted the lower bound 28%
    above the true value; see docs/hot-path.md.

    ``log_dev_level`` is 1, with output off, so that nothing is printed:
    HiGHS 1.15 ends every simplex solve by formatting a progress line into a
    string stream (``HEkk::returnFromSolve``, ``userInvertReport``) whenever
    the developer log level is 0, even with ``output_flag`` off, and any other
    level skips it. A stage LP's fixed cost per ``Highs_run`` dominates its
    two or three pivots, so that line was 3% of the solve time on 4ree (128
    iterations x 1 forward pass, 81.1 against 78.6 us per solve, four
    alternating rounds; benchmarks/solver_choices.py, variant ``log-dev-0``).
    Nothing else in the simplex reads the level: bounds and iteration counts
    stay bit-identical.
    """
    cdef int refused = 0
    refused += Highs_setBoolOptionValue(highs, "output_flag", 0) == kHighsStatusError
    refused += Highs_setStringOptionValue(highs, "presolve", "off") == kHighsStatusError
    refused += Highs_setStringOptionValue(highs, "solver", "simplex") == kHighsStatusError
    refused += Highs_setIntOptionValue(highs, "simplex_strategy", HIGHS_SIMPLEX_DUAL) == kHighsStatusError
    refused += Highs_setIntOptionValue(highs, "simplex_dual_edge_weight_strategy", HIGHS_EDGE_WEIGHT_DEVEX) == kHighsStatusError
    refused += Highs_setIntOptionValue(highs, "simplex_scale_strategy", HIGHS_SCALE_OFF) == kHighsStatusError
    refused += Highs_setDoubleOptionValue(highs, "dual_simplex_cost_perturbation_multiplier", 0.0) == kHighsStatusError
    refused += Highs_setDoubleOptionValue(highs, "primal_feasibility_tolerance", 1e-9) == kHighsStatusError
    refused += Highs_setDoubleOptionValue(highs, "dual_feasibility_tolerance", 1e-9) == kHighsStatusError
    refused += Highs_setIntOptionValue(highs, "threads", 1) == kHighsStatusError
    refused += Highs_setIntOptionValue(highs, "random_seed", 0) == kHighsStatusError
    refused += Highs_setIntOptionValue(highs, "log_dev_level", 1) == kHighsStatusError  # output stays off
    return refused
