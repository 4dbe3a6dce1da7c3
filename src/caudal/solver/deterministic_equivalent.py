"""The deterministic equivalent: the whole scenario tree as one LP.

With stagewise-independent openings the tree has ``prod_t O_t`` leaves, so this
is for small problems only; it is the exact reference the tests hold SDDP to.
Node ``n`` at stage ``t`` copies stage ``t``'s template with its opening patched
in and its incoming-state columns tied to its parent's outgoing-state columns;
the value-function column is dropped.

Risk neutral, the objective is the probability- and discount-weighted sum of
the nodes' costs. With a risk measure ``(1 - lam) E + lam CVaR_alpha`` applied
at every node (the nested, time-consistent composition SDDP trains), each node
gets a value column ``V_n = c_n x_n + d_t R_n`` and each parent a risk column
``R_P >= (1 - lam) sum_m p_m V_m + lam (eta_P + sum_m p_m u_m / alpha)`` with
``u_m >= V_m - eta_P, u_m >= 0`` (CVaR in its LP form); the objective is the
root's ``R``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import highspy
import numpy as np

from caudal.model.problem import CompiledProblem, Problem

MAX_NODES = 2_000_000
INF = math.inf


@dataclass(frozen=True)
class DeterministicEquivalentResult:
    """Optimal value of the full tree, in the problem's own sense."""

    objective: float
    status: str
    first_stage_states: np.ndarray  # float64[O_0, n_states]: stage-0 outgoing state per opening
    nodes: int


@dataclass
class _LPBuilder:
    """Columns, rows and matrix entries accumulated block by block."""

    n_cols: int = 0
    n_rows: int = 0
    col_blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    row_blocks: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)

    def add_cols(self, lower, upper, cost) -> int:
        lower, upper, cost = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (lower, upper, cost))
        offset = self.n_cols
        self.col_blocks.append((lower, upper, cost))
        self.n_cols += lower.size
        return offset

    def add_rows(self, lower, upper) -> int:
        lower, upper = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (lower, upper))
        offset = self.n_rows
        self.row_blocks.append((lower, upper))
        self.n_rows += lower.size
        return offset

    def add_entries(self, rows, cols, values) -> None:
        rows, cols = (np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in (rows, cols))
        values = np.broadcast_to(np.asarray(values, dtype=np.float64), rows.shape)
        self.entries.append((rows, cols, values))

    def solve(self) -> tuple[str, float, np.ndarray]:
        rows = np.concatenate([e[0] for e in self.entries])
        cols = np.concatenate([e[1] for e in self.entries])
        vals = np.concatenate([e[2] for e in self.entries])
        order = np.lexsort((rows, cols))
        col_start = np.zeros(self.n_cols + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols, minlength=self.n_cols), out=col_start[1:])
        lp = highspy.HighsLp()
        lp.num_col_ = self.n_cols
        lp.num_row_ = self.n_rows
        lp.col_lower_ = np.concatenate([b[0] for b in self.col_blocks])
        lp.col_upper_ = np.concatenate([b[1] for b in self.col_blocks])
        lp.col_cost_ = np.concatenate([b[2] for b in self.col_blocks])
        lp.row_lower_ = np.concatenate([b[0] for b in self.row_blocks])
        lp.row_upper_ = np.concatenate([b[1] for b in self.row_blocks])
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = col_start.astype(np.int32)
        lp.a_matrix_.index_ = rows[order].astype(np.int32)
        lp.a_matrix_.value_ = vals[order]
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.passModel(lp)
        highs.run()
        status = highs.modelStatusToString(highs.getModelStatus())
        objective = highs.getInfo().objective_function_value if status == "Optimal" else math.nan
        return status, objective, np.asarray(highs.getSolution().col_value)


@dataclass
class _Node:
    offset: int  # first column of the node's copy of its stage
    value_col: int = -1  # V_n (risk-averse form only)
    value_row: int = -1  # the row defining V_n
    risk_col: int = -1  # R_n, once the node has children
    eta_col: int = -1  # eta_n, likewise


def deterministic_equivalent(
    problem: Problem | CompiledProblem, risk_measure: object | None = None
) -> DeterministicEquivalentResult:
    """Build and solve the full scenario-tree LP with HiGHS.

    ``risk_measure`` (one measure for every stage, with an ``lp_form()`` giving
    ``(lam, alpha)``) gives the nested risk-averse value instead of the expectation.
    """
    compiled = problem.compile() if isinstance(problem, Problem) else problem.single_cut  # no value columns
    templates = compiled.templates
    n_nodes, width = 0, 1
    for template in templates:
        width *= template.n_openings
        n_nodes += width
    if n_nodes > MAX_NODES:
        raise ValueError(f"the scenario tree has {n_nodes} nodes; the deterministic equivalent is for small trees")
    risk_averse = risk_measure is not None
    lam, alpha = risk_measure.lp_form() if risk_averse else (0.0, 1.0)

    lp = _LPBuilder()
    root = _Node(offset=-1)
    parents: list[tuple[_Node, float]] = [(root, 1.0)]  # (node, its children's cost weight)
    first_stage_out: list[np.ndarray] = []
    for t, template in enumerate(templates):
        children: list[tuple[_Node, float]] = []
        for parent, weight in parents:
            if risk_averse:
                risk_row = _add_risk(lp, parent, is_root=parent is root, lam=lam)
                if parent is not root:  # V_P - c . x_P - d R_P = 0
                    lp.add_entries(parent.value_row, parent.risk_col, -templates[t - 1].discount)
            for o in range(template.n_openings):
                p = float(template.probabilities[o])
                node = _add_node(lp, compiled, t, o, parent, 0.0 if risk_averse else weight * p)
                if t == 0:
                    first_stage_out.append(node.offset + template.state_out_cols)
                if risk_averse:
                    _add_value(lp, template, node, parent, risk_row, p, lam, alpha)
                children.append((node, weight * p * template.discount))
        parents = children

    status, objective, solution = lp.solve()
    first = np.array([solution[c] for c in first_stage_out]) if status == "Optimal" else np.empty(0)
    return DeterministicEquivalentResult(
        objective=compiled.sign * objective, status=status, first_stage_states=first, nodes=n_nodes
    )


def _add_node(
    lp: _LPBuilder, compiled: CompiledProblem, t: int, o: int, parent: _Node, cost_weight: float
) -> _Node:
    """Copy stage ``t`` with opening ``o`` patched in, linked to its parent's outgoing state."""
    template = compiled.templates[t]
    lower = template.col_lower.copy()
    upper = template.col_upper.copy()
    lower[template.col_patch_index] = template.col_patch_lower[o]
    upper[template.col_patch_index] = template.col_patch_upper[o]
    lower[template.theta_col] = upper[template.theta_col] = 0.0
    if t == 0:
        lower[template.state_in_cols] = upper[template.state_in_cols] = compiled.initial_state
    cost = template.col_cost * cost_weight
    cost[template.theta_col] = 0.0
    offset = lp.add_cols(lower, upper, cost)
    row_lower = template.row_lower.copy()
    row_upper = template.row_upper.copy()
    row_lower[template.row_patch_index] = template.row_patch_lower[o]
    row_upper[template.row_patch_index] = template.row_patch_upper[o]
    first_row = lp.add_rows(row_lower, row_upper)
    local_cols = np.repeat(np.arange(template.num_cols), np.diff(template.col_start))
    lp.add_entries(template.row_index.astype(np.int64) + first_row, local_cols + offset, template.values)
    if t > 0:
        n_link = template.n_states
        link = lp.add_rows(np.zeros(n_link), np.zeros(n_link)) + np.arange(n_link)
        parent_out = parent.offset + compiled.templates[t - 1].state_out_cols
        lp.add_entries(
            np.concatenate((link, link)),
            np.concatenate((offset + template.state_in_cols, parent_out)),
            np.concatenate((np.ones(n_link), -np.ones(n_link))),
        )
    return _Node(offset=offset)


def _add_risk(lp: _LPBuilder, parent: _Node, is_root: bool, lam: float) -> int:
    """Columns R_P, eta_P and the row R_P - lam eta_P - ... >= 0 (children add the rest)."""
    parent.risk_col = lp.add_cols(-INF, INF, 1.0 if is_root else 0.0)
    parent.eta_col = lp.add_cols(-INF, INF, 0.0)
    risk_row = lp.add_rows(0.0, INF)
    lp.add_entries([risk_row, risk_row], [parent.risk_col, parent.eta_col], [1.0, -lam])
    return risk_row


def _add_value(lp: _LPBuilder, template, node: _Node, parent: _Node, risk_row: int, p: float, lam: float,
               alpha: float) -> None:
    """V_n = c . x_n (+ d R_n later), its tail u_n >= V_n - eta_P, and its share of R_P."""
    node.value_col = lp.add_cols(-INF, INF, 0.0)
    u = lp.add_cols(0.0, INF, 0.0)
    tail = lp.add_rows(0.0, INF)
    lp.add_entries([tail, tail, tail], [u, node.value_col, parent.eta_col], [1.0, -1.0, 1.0])
    lp.add_entries([risk_row, risk_row], [node.value_col, u], [-(1 - lam) * p, -lam * p / alpha])
    node.value_row = lp.add_rows(0.0, 0.0)
    cost_cols = np.flatnonzero(template.col_cost)
    cost_cols = cost_cols[cost_cols != template.theta_col]
    lp.add_entries(
        np.full(cost_cols.size + 1, node.value_row),
        np.concatenate(([node.value_col], node.offset + cost_cols)),
        np.concatenate(([1.0], -template.col_cost[cost_cols])),
    )
