"""The convergence history's rows."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class IterationRecord:
    """One row of the convergence history, in the problem's own sense."""

    iteration: int
    lower_bound: float
    upper_bound_mean: float
    upper_bound_low: float
    upper_bound_high: float
    time_s: float  # wall time since training started
    lp_solves: int  # LP solves since training started

    @property
    def gap(self) -> float:
        """Relative distance between the bound and the simulated cost."""
        scale = max(abs(self.upper_bound_mean), 1e-10)
        return abs(self.upper_bound_mean - self.lower_bound) / scale


HISTORY_COLUMNS = tuple(f.name for f in fields(IterationRecord))
"""The history's columns, in order: convergence.csv and checkpoints both write these."""
