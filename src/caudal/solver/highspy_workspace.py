"""Reference workspace written against highspy's Python API.

It follows the same protocol as the native workspace (load only when the LP
changes, patch, warm start, solve or range, extract, retry ladder) and takes
the same ranging decisions, so HiGHS sees the same calls, but pays Python's
price on every LP. Tests use it as an independent check of the native kernel,
and it is the fallback when the native extension is not built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np

from caudal.model.objective_scale import SolverForm, unscaled_solution
from caudal.model.stage_lp import StageLP
from caudal.solver.kept_basis import PIVOT_PATIENCE, KeptBasis
from caudal.solver.workspace import BASIC, LOWER, UPPER, Basis, ForkPoint, SolveFailure, SolverError, SolverStats

RANGING_PATIENCE = 8
"""As in native/_native.pyx: a backward item that has missed this many times without a hit stops ranging."""

VIOLATION_TOLERANCE = 1e-9
"""As in native/_native.pyx: a reserve cut is added when its row falls short by more than this x max(1, |bound|)."""

_STATUS = list(highspy.HighsBasisStatus.__members__.values())
_OPTIMAL = highspy.HighsModelStatus.kOptimal

# Each rung changes the options for one more attempt at a solve that failed.
RETRY_LADDER: tuple[tuple[str, dict], ...] = (
    ("refactorised restart", {}),  # from the basis the failed attempt ended with (see native/_native.pyx)
    ("cold start", {}),
    ("presolve on", {"presolve": "on"}),
    ("max-value scaling", {"simplex_scale_strategy": 4}),  # huge cut right-hand sides (see native/_native.pyx)
    ("primal simplex", {"presolve": "on", "simplex_strategy": 4}),
)

PERTURBATION = "dual_simplex_cost_perturbation_multiplier"

SDDP_OPTIONS = {
    "output_flag": False,
    "presolve": "off",
    "solver": "simplex",
    "simplex_strategy": 1,  # dual simplex
    "threads": 1,
    "random_seed": 0,
    "simplex_scale_strategy": 0,  # no scaling (see configure_for_sddp in native/sddp_options.pxd)
    "dual_simplex_cost_perturbation_multiplier": 0.0,  # no cost perturbation, but on for the retry ladder
    "primal_feasibility_tolerance": 1e-9,  # unscaled LPs need them tighter than HiGHS's 1e-7
    "dual_feasibility_tolerance": 1e-9,
    "simplex_dual_edge_weight_strategy": 1,  # Devex (see configure_for_sddp in native/sddp_options.pxd)
    "log_dev_level": 1,  # skips a progress line HiGHS formats after every solve (output stays off)
}
"""The engine's options, as ``configure_for_sddp`` in ``native/sddp_options.pxd`` sets them."""

RANGING = True
"""Whether new workspaces answer openings from a kept basis (for benchmarks, like ``caudal._native.set_ranging``)."""


def new_highs() -> highspy.Highs:
    """A HiGHS instance configured for SDDP stage solves."""
    highs = highspy.Highs()
    for name, value in SDDP_OPTIONS.items():
        highs.setOptionValue(name, value)
    return highs


def to_highs_lp(lp: StageLP, form: SolverForm | None = None) -> highspy.HighsLp:
    """Copy a :class:`StageLP` into a highspy model, as it is or in its solver ``form``."""
    template = lp.template
    model = highspy.HighsLp()
    model.num_col_ = lp.num_cols
    model.num_row_ = lp.num_rows
    model.col_cost_ = template.col_cost if form is None else form.col_cost
    model.col_lower_ = template.col_lower if form is None else form.col_lower
    model.col_upper_ = template.col_upper if form is None else form.col_upper
    model.row_lower_ = lp.row_lower if form is None else form.row_lower
    model.row_upper_ = lp.row_upper if form is None else form.row_upper
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_ = lp.col_start
    model.a_matrix_.index_ = lp.row_index
    model.a_matrix_.value_ = lp.values if form is None else form.values
    return model


@dataclass(frozen=True)
class _ReserveRows:
    """An LP's reserve cuts as the solver-form rows ``theta'_g - scale beta . x >= scale alpha``."""

    coefficients: np.ndarray  # float64[R, n_states]: -scale beta, the rows' state entries as in the LP
    bounds: np.ndarray  # float64[R]: scale alpha
    value_cols: np.ndarray  # int[R]: each row's value column

    @classmethod
    def of(cls, lp: StageLP) -> _ReserveRows:
        reserve, scale = lp.reserve, lp.solver_form.scale
        return cls(
            coefficients=-scale * reserve.coefficients[reserve.ids],
            bounds=scale * reserve.intercepts[reserve.ids],
            value_cols=lp.template.cut_cols[reserve.targets[reserve.ids]],
        )


def _nonbasic_value(status: int, lower: float, upper: float, was_fixed: bool) -> float | None:
    """Where a nonbasic variable of the kept basis sits under new bounds; None if the basis cannot keep it."""
    if was_fixed and lower != upper:
        return None  # its reduced cost may have either sign
    value = lower if status == LOWER else upper if status == UPPER else None
    return value if value is not None and np.isfinite(value) else None


def _nonbasic_moves(
    index: np.ndarray, status: np.ndarray, value: np.ndarray,
    patch_lower: np.ndarray, patch_upper: np.ndarray, opening: int, kept_opening: int,
) -> list[tuple[int, float]] | None:
    """Each nonbasic variable of a patch table that moves from the kept opening to ``opening``, and where to.

    ``None`` when one of them cannot stay nonbasic (see :func:`_nonbasic_value`).
    """
    moves = []
    for k, j in enumerate(index):
        lower, upper = patch_lower[opening, k], patch_upper[opening, k]
        was_lower, was_upper = patch_lower[kept_opening, k], patch_upper[kept_opening, k]
        if status[j] == BASIC or (lower == was_lower and upper == was_upper):
            continue
        new = _nonbasic_value(status[j], lower, upper, was_lower == was_upper)
        if new is None:
            return None
        if new != value[j]:
            moves.append((int(j), new))
    return moves


class HighspyWorkspace:
    """One thread's solver, implemented through highspy (reference path)."""

    def __init__(self) -> None:
        self.highs = new_highs()
        self.stats = SolverStats()
        self._loaded: tuple[int, int] | None = None  # (id of template, lp version)
        self._reserve: _ReserveRows | None = None  # the loaded LP's reserve cuts, in solver form
        self._added = np.zeros(0, dtype=bool)  # reserve cuts of the loaded LP that are rows now
        self.iteration = -1
        self.ranging = RANGING  # answer openings from the kept basis when it stays optimal, as the native kernel does
        self._tolerance = float(self.highs.getOptionValue("primal_feasibility_tolerance")[1])
        self._dual_tolerance = float(self.highs.getOptionValue("dual_feasibility_tolerance")[1])

    # -- the stage solve sequence -------------------------------------------
    def _load(self, lp: StageLP) -> None:
        key = (id(lp.template), lp.version)
        if self._loaded == key:
            return
        start = time.perf_counter()
        self.highs.passModel(to_highs_lp(lp, lp.solver_form))  # objective scaled, as the native kernel loads it
        self._loaded = key
        self._reserve = None if lp.reserve is None else _ReserveRows.of(lp)
        self._added = np.zeros(0 if lp.reserve is None else lp.reserve.size, dtype=bool)
        self.stats.loads += 1
        self.stats.time_load += time.perf_counter() - start

    def _set_basis(self, basis: Basis) -> None:
        start = time.perf_counter()
        self.highs.clearSolver()
        hb = highspy.HighsBasis()
        hb.col_status = [_STATUS[s] for s in basis.col_status]
        hb.row_status = [_STATUS[s] for s in basis.row_status]
        hb.valid = True
        self.highs.setBasis(hb)
        self.stats.time_basis += time.perf_counter() - start

    def _patch(self, lp: StageLP, incoming: np.ndarray, opening: int) -> None:
        start = time.perf_counter()
        template = lp.template
        cols = np.concatenate((template.state_in_cols, template.col_patch_index))
        lower = np.concatenate((incoming, template.col_patch_lower[opening]))
        upper = np.concatenate((incoming, template.col_patch_upper[opening]))
        self.highs.changeColsBounds(cols.size, cols, lower, upper)
        rows = template.row_patch_index
        if rows.size:
            self.highs.changeRowsBounds(
                rows.size, rows, template.row_patch_lower[opening], template.row_patch_upper[opening]
            )
        self.stats.time_patch += time.perf_counter() - start

    def _set_options(self, options: dict) -> None:
        for name, value in options.items():
            self.highs.setOptionValue(name, value)

    def _run(self, lp: StageLP, basis: Basis, opening: int, forward_pass: int) -> None:
        start = time.perf_counter()
        self.highs.run()
        self.stats.time_solve += time.perf_counter() - start
        self.stats.solves += 1
        self.stats.simplex_iterations += self.highs.getInfo().simplex_iteration_count
        if self.highs.getModelStatus() == _OPTIMAL:
            return
        self._set_options({PERTURBATION: 1.0})  # every rung perturbs the costs (see native/_native.pyx)
        for rung, options in RETRY_LADDER:
            self.stats.retries += 1
            self._set_options(options)
            ended_with = self.highs.getBasis() if rung == "refactorised restart" else None
            self.highs.clearSolver()
            if ended_with is not None and ended_with.valid:
                self.highs.setBasis(ended_with)
            self.highs.run()
            self._set_options({name: SDDP_OPTIONS[name] for name in options})
            if self.highs.getModelStatus() == _OPTIMAL:
                self._set_options({PERTURBATION: SDDP_OPTIONS[PERTURBATION]})
                return
        self._set_options({PERTURBATION: SDDP_OPTIONS[PERTURBATION]})
        status = self.highs.modelStatusToString(self.highs.getModelStatus())
        self._loaded = None
        raise SolverError(SolveFailure(lp.template.index, opening, forward_pass, status, self.iteration))

    def _solve_with_reserve(self, lp: StageLP, basis: Basis, opening: int, forward_pass: int) -> None:
        """Solve; while the solution violates reserve cuts, add them as rows (solver form) and solve again."""
        self._run(lp, basis, opening, forward_pass)
        while self._reserve is not None and not self._added.all():
            if not self._add_violated_cuts(lp, np.asarray(self.highs.getSolution().col_value)):
                return
            self._run(lp, basis, opening, forward_pass)

    def _add_violated_cuts(self, lp: StageLP, col_value: np.ndarray) -> bool:
        """Add the reserve cuts ``col_value`` violates as rows; whether there were any."""
        rows = self._reserve
        if rows is None or self._added.all():
            return False
        state_cols = lp.template.state_out_cols
        activity = np.zeros(self._added.size)
        for i, col in enumerate(state_cols):  # state by state, the native kernel's order
            activity += rows.coefficients[:, i] * col_value[col]
        activity += col_value[rows.value_cols]
        shortfall = rows.bounds - activity
        violated = ~self._added & (shortfall > VIOLATION_TOLERANCE * np.maximum(1.0, np.abs(rows.bounds)))
        if not violated.any():
            return False
        chosen = np.flatnonzero(violated)
        width = state_cols.size + 1
        index = np.empty((chosen.size, width), dtype=np.int32)
        index[:, :-1] = state_cols
        index[:, -1] = rows.value_cols[chosen]
        values = np.empty((chosen.size, width))
        values[:, :-1] = rows.coefficients[chosen]
        values[:, -1] = 1.0
        self.highs.addRows(
            chosen.size, rows.bounds[chosen], np.full(chosen.size, highspy.kHighsInf), index.size,
            (np.arange(chosen.size) * width).astype(np.int32), index.reshape(-1), values.reshape(-1),
        )
        self._added[chosen] = True
        self.stats.cuts_added += int(chosen.size)
        return True

    # -- openings the kept basis answers (the native kernel's rule, see caudal.solver.kept_basis) --------
    def _kept_answer(self, lp: StageLP, kept: KeptBasis, opening: int, may_pivot: bool) -> bool:
        """Whether ``kept`` answers ``opening`` (patched in already): its nonbasic moves, then at most a few pivots."""
        template = lp.template
        col_moves = _nonbasic_moves(template.col_patch_index, kept.col_status, kept.col_value,
                                    template.col_patch_lower, template.col_patch_upper, opening, kept.opening)
        row_moves = _nonbasic_moves(template.row_patch_index, kept.row_status, kept.row_value,
                                    template.row_patch_lower, template.row_patch_upper, opening, kept.opening)
        if col_moves is None or row_moves is None:
            return False
        if not kept.answer(opening, col_moves, row_moves, may_pivot):
            return False
        self.stats.simplex_iterations += kept.pivots
        return True

    def _drop_added_cuts(self, lp: StageLP) -> None:
        """Back to the stage LP as loaded: remove the reserve cuts added as rows."""
        n_added = int(self._added.sum())
        if n_added:
            self.highs.deleteRows(n_added, np.arange(lp.num_rows, lp.num_rows + n_added, dtype=np.int32))
            self._added[:] = False

    # -- work items ------------------------------------------------------------
    def solve_forward(
        self,
        lp: StageLP,
        basis: Basis,
        incoming: np.ndarray,
        openings: np.ndarray,
        pass_ids: np.ndarray,
        out_states: np.ndarray,
        out_objective: np.ndarray,
        out_theta: np.ndarray,
        out_bases: np.ndarray | None = None,
    ) -> None:
        self._load(lp)
        template = lp.template
        for k in range(incoming.shape[0]):
            # Patch before setting the basis: HiGHS checks a basis against the
            # bounds in force, so setting it first would make the outcome
            # depend on what this workspace solved before.
            self._patch(lp, incoming[k], int(openings[k]))
            self._set_basis(basis)
            self._solve_with_reserve(lp, basis, int(openings[k]), int(pass_ids[k]))
            start = time.perf_counter()
            col_value = np.asarray(self.highs.getSolution().col_value)
            out_states[k] = col_value[template.state_out_cols]
            out_theta[k] = col_value[template.theta_col] / lp.solver_form.scale
            out_objective[k] = self.highs.getInfo().objective_function_value / lp.solver_form.scale
            if out_bases is not None:  # the stage LP's rows only
                hb = self.highs.getBasis()
                out_bases[k, : lp.num_cols] = [int(s) for s in hb.col_status]
                out_bases[k, lp.num_cols :] = [int(s) for s in hb.row_status[: lp.num_rows]]
            self.stats.time_extract += time.perf_counter() - start
            self._drop_added_cuts(lp)

    def solve_backward(
        self,
        lp: StageLP,
        basis: Basis,
        incoming: np.ndarray,
        trial_id: int,
        out_values: np.ndarray,
        out_subgradients: np.ndarray,
        out_basis: Basis | None,
        order: np.ndarray | None = None,
        first: int = 0,
        stop: int | None = None,
        publish: ForkPoint | None = None,
        after: ForkPoint | None = None,
    ) -> bool:
        self._load(lp)
        template = lp.template
        n_open = template.n_openings
        if order is None:
            order = np.arange(n_open)
        elif sorted(int(o) for o in order) != list(range(n_open)):
            raise ValueError(f"stage {template.index}: order is not a permutation of the {n_open} openings")
        stop = n_open if stop is None else stop
        if not 0 <= first <= stop <= n_open:
            raise ValueError(
                f"stage {template.index}: positions [{first}, {stop}) are not within the {n_open} openings"
            )
        if after is not None:
            start = time.perf_counter()
            basis = after.wait(basis)
            self.stats.time_wait += time.perf_counter() - start
            if basis is None:
                return False
        kept: KeptBasis | None = None
        hits = misses = pivot_hits = pivot_misses = 0  # this item's: see RANGING_PATIENCE and PIVOT_PATIENCE
        try:
            for position, opening in enumerate((int(o) for o in order[first:stop]), start=first):
                # an opening the kept basis answers needs no bounds in HiGHS: they are patched for a run only
                if position != first and kept is not None:
                    start = time.perf_counter()
                    may_pivot = pivot_hits > 0 or pivot_misses < PIVOT_PATIENCE
                    answered = self._kept_answer(lp, kept, opening, may_pivot)
                    pivot_misses += kept.pivot_failed
                    pivot_hits += answered and kept.pivots > 0
                    # a reserve cut that cuts the kept vertex off becomes a row, and the LP is solved
                    if answered and not self._add_violated_cuts(lp, kept.col_value):
                        self.stats.ranged += 1
                        hits += 1
                        out_values[opening] = kept.objective / lp.solver_form.scale
                        out_subgradients[opening] = kept.col_dual[template.state_in_cols] / lp.solver_form.scale
                        self.stats.time_solve += time.perf_counter() - start
                        continue
                    misses += 1
                    self.stats.time_solve += time.perf_counter() - start
                self._patch(lp, incoming, opening)
                if position == first:
                    self._set_basis(basis)  # after the patch, as in solve_forward
                retries = self.stats.retries
                self._solve_with_reserve(lp, basis, opening, trial_id)
                start = time.perf_counter()
                col_dual = np.asarray(self.highs.getSolution().col_dual)
                out_values[opening] = self.highs.getInfo().objective_function_value / lp.solver_form.scale
                out_subgradients[opening] = col_dual[template.state_in_cols] / lp.solver_form.scale
                kept = None
                if (self.ranging and position + 1 < stop and self.stats.retries == retries
                        and (hits > 0 or misses < RANGING_PATIENCE)):
                    kept = KeptBasis(self.highs, lp, incoming, opening, self._tolerance, self._dual_tolerance)
                if position == first and publish is not None:
                    hb = self.highs.getBasis()
                    publish.publish(np.array([int(s) for s in hb.col_status], dtype=np.uint8),
                                    np.array([int(s) for s in hb.row_status], dtype=np.uint8))
                self.stats.time_extract += time.perf_counter() - start
        except BaseException:
            if publish is not None:
                publish.fail()
            raise
        if publish is not None and first == stop:
            publish.publish_nothing()
        if out_basis is not None:
            hb = self.highs.getBasis()
            out_basis.col_status[:] = [int(s) for s in hb.col_status]
            out_basis.row_status[:] = [int(s) for s in hb.row_status[: lp.num_rows]]
        self._drop_added_cuts(lp)
        return True

    def solve_detailed(
        self,
        lp: StageLP,
        basis: Basis,
        incoming: np.ndarray,
        openings: np.ndarray,
        scenario_ids: np.ndarray,
        out_objective: np.ndarray,
        out_values: np.ndarray,
        out_row_duals: np.ndarray | None = None,
    ) -> None:
        self._load(lp)
        n_template_rows = lp.template.num_rows
        for k in range(incoming.shape[0]):
            self._patch(lp, incoming[k], int(openings[k]))
            self._set_basis(basis)  # after the patch, as in solve_forward
            self._solve_with_reserve(lp, basis, int(openings[k]), int(scenario_ids[k]))
            start = time.perf_counter()
            solution = self.highs.getSolution()
            objective, values, duals = unscaled_solution(
                lp.solver_form, self.highs.getInfo().objective_function_value, solution.col_value,
                np.asarray(solution.row_dual)[: lp.num_rows],
            )
            out_objective[k] = objective
            out_values[k] = values
            if out_row_duals is not None:
                out_row_duals[k] = duals[:n_template_rows]
            self.stats.time_extract += time.perf_counter() - start
            self._drop_added_cuts(lp)
