"""The deterministic equivalent: the whole scenario tree as one LP.

With stagewise-independent openings the tree has ``prod_t O_t`` leaves, so this
is for small problems only; it is the exact reference the tests hold SDDP to.
Node ``n`` at stage ``t`` copies stage ``t``'s template with its opening patched
in, its costs scaled by the node's probability and discount, its incoming-state
columns tied to its parent's outgoing-state columns, and no value function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import highspy
import numpy as np

from caudal.model.problem import CompiledProblem, Problem

MAX_NODES = 2_000_000


@dataclass(frozen=True)
class DeterministicEquivalentResult:
    """Optimal value of the full tree, in the problem's own sense."""

    objective: float
    status: str
    first_stage_states: np.ndarray  # float64[O_0, n_states]: stage-0 outgoing state per opening
    nodes: int


def deterministic_equivalent(problem: Problem | CompiledProblem) -> DeterministicEquivalentResult:
    """Build and solve the full scenario-tree LP with HiGHS."""
    compiled = problem.compile() if isinstance(problem, Problem) else problem
    templates = compiled.templates
    n_nodes = 0
    width = 1
    for template in templates:
        width *= template.n_openings
        n_nodes += width
    if n_nodes > MAX_NODES:
        raise ValueError(f"the scenario tree has {n_nodes} nodes; the deterministic equivalent is for small trees")

    cols_lower: list[np.ndarray] = []
    cols_upper: list[np.ndarray] = []
    costs: list[np.ndarray] = []
    rows_lower: list[np.ndarray] = []
    rows_upper: list[np.ndarray] = []
    entries_row: list[np.ndarray] = []
    entries_col: list[np.ndarray] = []
    entries_val: list[np.ndarray] = []
    n_cols = 0
    n_rows = 0
    first_stage_out: list[np.ndarray] = []

    # parents: (column offset of parent's node, probability, discount factor) per node of the previous stage
    parents: list[tuple[int, float]] = [(-1, 1.0)]
    factor = 1.0
    for t, template in enumerate(templates):
        nodes: list[tuple[int, float]] = []
        per_col = np.diff(template.col_start)
        local_cols = np.repeat(np.arange(template.num_cols), per_col)
        for parent_offset, parent_prob in parents:
            for o in range(template.n_openings):
                prob = parent_prob * template.probabilities[o]
                offset = n_cols
                lower = template.col_lower.copy()
                upper = template.col_upper.copy()
                lower[template.col_patch_index] = template.col_patch_lower[o]
                upper[template.col_patch_index] = template.col_patch_upper[o]
                lower[template.theta_col] = upper[template.theta_col] = 0.0
                if t == 0:
                    lower[template.state_in_cols] = upper[template.state_in_cols] = compiled.initial_state
                    first_stage_out.append(offset + template.state_out_cols)
                cost = template.col_cost * (prob * factor)
                cost[template.theta_col] = 0.0
                row_lower = template.row_lower.copy()
                row_upper = template.row_upper.copy()
                row_lower[template.row_patch_index] = template.row_patch_lower[o]
                row_upper[template.row_patch_index] = template.row_patch_upper[o]
                cols_lower.append(lower)
                cols_upper.append(upper)
                costs.append(cost)
                rows_lower.append(row_lower)
                rows_upper.append(row_upper)
                entries_row.append(template.row_index.astype(np.int64) + n_rows)
                entries_col.append(local_cols + offset)
                entries_val.append(template.values)
                n_rows += template.num_rows
                if t > 0:
                    # linking rows: incoming state = parent's outgoing state
                    n_link = template.n_states
                    link_rows = n_rows + np.arange(n_link)
                    parent_out = parent_offset + templates[t - 1].state_out_cols
                    entries_row += [link_rows, link_rows]
                    entries_col += [offset + template.state_in_cols.astype(np.int64), parent_out.astype(np.int64)]
                    entries_val += [np.ones(n_link), -np.ones(n_link)]
                    rows_lower.append(np.zeros(n_link))
                    rows_upper.append(np.zeros(n_link))
                    n_rows += n_link
                n_cols += template.num_cols
                nodes.append((offset, prob))
        parents = nodes
        factor *= template.discount

    rows = np.concatenate(entries_row)
    cols = np.concatenate(entries_col)
    vals = np.concatenate(entries_val)
    order = np.lexsort((rows, cols))
    col_start = np.zeros(n_cols + 1, dtype=np.int64)
    np.cumsum(np.bincount(cols, minlength=n_cols), out=col_start[1:])

    lp = highspy.HighsLp()
    lp.num_col_ = n_cols
    lp.num_row_ = n_rows
    lp.col_cost_ = np.concatenate(costs)
    lp.col_lower_ = np.concatenate(cols_lower)
    lp.col_upper_ = np.concatenate(cols_upper)
    lp.row_lower_ = np.concatenate(rows_lower)
    lp.row_upper_ = np.concatenate(rows_upper)
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
    solution = np.asarray(highs.getSolution().col_value)
    first = np.array([solution[c] for c in first_stage_out]) if status == "Optimal" else np.empty(0)
    return DeterministicEquivalentResult(
        objective=compiled.sign * objective, status=status, first_stage_states=first, nodes=n_nodes
    )
