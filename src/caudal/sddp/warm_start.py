"""Warm starts: a training that begins from the cuts of an earlier policy.

Cuts are lower bounds (minimising) of a stage's cost-to-go as a function of its
outgoing states. An earlier policy's cuts of stage ``t`` stay valid lower
bounds for the new problem's stage ``t`` when the new future after ``t`` costs
at least as much as the old one, whatever the state:

* the same case (a resume of thought, a run with other options): exactly valid;
* a longer horizon with the same stages first and non-negative stage costs:
  the future only gains costs, so the old cuts bound it from below; the stages
  beyond the old horizon start with no cuts;
* other openings: valid only if the new openings cost no less, which caudal
  cannot check; the user answers for it (an invalid cut makes the bound
  overshoot, and the training cannot remove it).

What caudal does check, and refuses with one line: the problem's sense, the
state names and their order (a state space is matched by name, not by
position), and a shorter horizon (the old cuts would count the costs of stages
the new problem no longer has). Stages are mapped by index; the cuts of the
old last stage are none (nothing comes after it), so a longer horizon's stage
at the old end starts empty too. A multi-cut policy warm-starts only a
multi-cut training with as many openings in the next stage.

The copied cuts are the old pools' active cuts, in their order, marked as cuts
of iteration 0 (before the first iteration of the new run).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from caudal.model.problem import CompiledProblem
from caudal.sddp.cuts import CutPool

WARM_START_ITERATION = 0
"""The iteration a warm-start cut is recorded with: before the new run's first (iterations count from 1)."""


class WarmStartError(ValueError):
    """An earlier policy whose cuts cannot start this problem's training."""


def warm_start_pools(
    problem: CompiledProblem, old_problem: CompiledProblem, old_pools: Sequence[CutPool]
) -> list[CutPool]:
    """New cut pools for ``problem``, holding ``old_pools``' active cuts stage by stage (see the module docstring)."""
    if tuple(problem.state_names) != tuple(old_problem.state_names):
        raise WarmStartError(
            f"warm start refused: the policy's states are {list(old_problem.state_names)}, "
            f"this problem's {list(problem.state_names)} (states are matched by name)"
        )
    if problem.sign != old_problem.sign:
        raise WarmStartError("warm start refused: the policy was trained for the opposite sense (min vs max)")
    if problem.n_stages < old_problem.n_stages:
        raise WarmStartError(
            f"warm start refused: the policy has {old_problem.n_stages} stages, this problem {problem.n_stages}; "
            "a shorter horizon would keep cuts that count costs of stages it no longer has"
        )
    pools = [CutPool(problem.n_states) for _ in range(problem.n_stages)]
    for t, old in enumerate(old_pools[: problem.n_stages - 1]):
        ids = old.active_ids()
        if ids.size == 0:
            continue
        targets = old.targets[ids]
        n_targets = problem.templates[t].n_targets
        if int(targets.max()) >= n_targets or (n_targets > 1 and old_problem.templates[t].n_targets != n_targets):
            raise WarmStartError(
                f"warm start refused: stage {t + 1}'s cuts bound {old_problem.templates[t].n_targets} "
                f"value-function columns, this problem's {n_targets} (multi-cut and openings must match)"
            )
        pools[t].add(
            np.ascontiguousarray(old.intercepts[ids]),
            np.ascontiguousarray(old.coefficients[ids]),
            WARM_START_ITERATION,
            np.arange(ids.size, dtype=np.int64),
            targets,
        )
    return pools


def describe_warm_start(source: str, digest: str, pools: Sequence[CutPool]) -> str:
    """The one line a checkpoint keeps about a warm start: where the cuts came from and how many."""
    counts = ",".join(str(pool.size) for pool in pools)
    return f"{source} (policy digest {digest}; cuts per stage {counts})"
