"""The convergence history's rows, and the statistics a planner reads off them."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

Z_95 = 1.959963984540054
"""The standard normal's 97.5% quantile: the half-width of a two-sided 95% interval, in standard errors."""

MIN_INTERVAL_SAMPLES = 30
"""Forward passes an iteration needs before its simulated cost gets a confidence interval.

The interval is the normal approximation of the mean's sampling distribution
(mean +- 1.96 standard errors), which the usual rule of thumb trusts from 30
samples on. With fewer, a "95%" interval from a handful of costs is mostly
noise (from 2 samples it often crosses zero), so none is given: the bounds of
the interval are NaN and the statistical gap rule cannot hold.
"""

GAP_TOLERANCE = 1e-9
"""Bound and simulated cost closer than this (relative to the larger of 1 and their size) are equal: gap 0."""


@dataclass(frozen=True)
class IterationRecord:
    """One row of the convergence history, in the problem's own sense.

    ``lower_bound`` is the policy's bound (an upper bound when maximising);
    ``upper_bound_*`` are the mean of the iteration's forward-pass costs and its
    95% confidence interval (NaN with fewer than :data:`MIN_INTERVAL_SAMPLES`
    forward passes). The field names are the minimisation's; the log, the
    convergence CSV and the plots name them by the problem's sense.
    """

    iteration: int
    lower_bound: float
    upper_bound_mean: float
    upper_bound_low: float
    upper_bound_high: float
    time_s: float  # training time at the end of this iteration, cumulative over resumes
    lp_solves: int  # LP solves since training started

    def __eq__(self, other: object) -> bool:
        """Field by field, a missing interval (NaN) equal to a missing interval: a resumed history equals its own."""
        if not isinstance(other, IterationRecord):
            return NotImplemented
        return all(
            a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
            for a, b in zip(_values(self), _values(other), strict=True)
        )

    __hash__ = None  # equal records must hash alike, which NaN fields would not guarantee

    @property
    def gap(self) -> float:
        """The bound's distance from the simulated cost, relative to the larger of the two in size.

        A point estimate (no confidence attached). 0 when the two agree to
        :data:`GAP_TOLERANCE`, so a problem solved exactly at a cost of 0 shows
        0%, not a ratio of rounding errors.
        """
        return relative_gap(self.lower_bound, self.upper_bound_mean)


def _values(record: IterationRecord) -> tuple:
    return tuple(getattr(record, name) for name in HISTORY_COLUMNS)


def relative_gap(bound: float, simulated: float) -> float:
    """``|simulated - bound| / max(|simulated|, |bound|)``, 0 within :data:`GAP_TOLERANCE`."""
    difference = abs(simulated - bound)
    size = max(abs(simulated), abs(bound))
    if difference <= GAP_TOLERANCE * max(1.0, size):
        return 0.0
    return difference / size


def simulated_interval(costs: np.ndarray) -> tuple[float, float, float]:
    """The mean of the forward-pass ``costs`` and its 95% interval (NaN below :data:`MIN_INTERVAL_SAMPLES`)."""
    mean = float(costs.mean())
    if costs.size < MIN_INTERVAL_SAMPLES:
        return mean, math.nan, math.nan
    half = Z_95 * float(costs.std(ddof=1)) / math.sqrt(costs.size)
    return mean, mean - half, mean + half


HISTORY_COLUMNS = tuple(f.name for f in fields(IterationRecord))
"""The history's columns, in order: convergence.csv and checkpoints both write these."""
