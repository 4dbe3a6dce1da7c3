"""A model of the time per training iteration: compute, cache assembly and communication.

Used twice: to check a scaling sweep on this machine (calibrated on its
1 x 1 run, it predicts the other layouts), and to project the production-scale
case onto a cluster (docs/performance-model.md). The terms follow the code:

* forward pass: ``T`` stages, each worker solving its block of the rank's
  forward passes: ``T * (h_f + ceil(ceil(M/R)/K) * s_f(c))``;
* backward pass: ``T-1`` stages, each ending in a collective, so the slowest
  worker sets the pace: ``(T-1) * (h_b + ceil(ceil(M/R)/K) * O * s_b(c))``;
* cache assembly: after each backward stage every node's leader rebuilds the
  stage LP with its cuts (CSC, ``c * (n+1)`` cut entries), serially;
* first-stage bound: rank 0 alone solves the first stage's openings;
* communication: ``6T + 6`` collectives per iteration on flat buffers (see
  :func:`collectives_per_iteration`), each costing latency ``ceil(log2 R) * alpha``
  plus the bytes it moves over the bandwidth;
* the rest (sampling, stopping checks, log, profiler): a constant;
* imbalance: a stage ends when its slowest worker does; with ``W`` busy
  workers whose block times vary with coefficient of variation ``sigma / sqrt(b)``
  (``b`` trial states each, ``sigma`` the variation of one trial state's time),
  the expected maximum is about ``1 + sigma * sqrt(2 ln W / b)`` times the mean
  (the normal extreme-value estimate); ``sigma = 0`` leaves it out.

``s(c) = a + b*c`` is the time of one LP solve with ``c`` active cuts (patching,
warm start, Highs_run, extraction and the cut's averaging included); ``h`` is
the rank's serial work per stage around the solves (dealing the blocks,
sampling, gathering results).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FLOAT = 8  # bytes of a float64


@dataclass(frozen=True)
class CaseShape:
    """The sizes that set an iteration's work."""

    stages: int
    openings: int
    forward_passes: int
    states: int
    columns: int  # of the largest stage LP
    rows: int  # of the largest stage LP, without cuts
    first_stage_openings: int = 1
    max_active_cuts: int | None = None  # cut selection's cap; None: every cut stays

    def cuts(self, iteration: int) -> int:
        """Active cuts per stage LP in the backward pass of ``iteration`` (1-based; 0: before any)."""
        cuts = max(iteration, 0) * self.forward_passes
        return cuts if self.max_active_cuts is None else min(cuts, self.max_active_cuts)

    def forward_cuts(self, iteration: int) -> float:
        """Mean cuts of the LPs the forward pass of ``iteration`` solves (the last stage has none)."""
        return self.cuts(iteration - 1) * (self.stages - 1) / self.stages

    def backward_cuts(self, iteration: int) -> float:
        """Mean cuts of the LPs the backward pass of ``iteration`` solves (stages T-1 .. 1; T-1 has none)."""
        return self.cuts(iteration) * (self.stages - 2) / (self.stages - 1) if self.stages > 1 else 0.0


@dataclass(frozen=True)
class Costs:
    """Measured unit costs (seconds) on one core."""

    forward: tuple[float, float]  # s_f(c) = a + b c per forward solve
    backward: tuple[float, float]  # s_b(c) per backward solve (one opening)
    cache: tuple[float, float]  # per stage refresh: a + b * (cut entries)
    rest: float  # per iteration: stopping, log, profiler
    stage_overhead: tuple[float, float] = (0.0, 0.0)  # (h_f, h_b): serial seconds per forward and backward stage

    def solve_forward(self, cuts: float) -> float:
        return self.forward[0] + self.forward[1] * cuts

    def solve_backward(self, cuts: float) -> float:
        return self.backward[0] + self.backward[1] * cuts

    def refresh(self, entries: float) -> float:
        return self.cache[0] + self.cache[1] * entries


@dataclass(frozen=True)
class Network:
    """Latency per message and bandwidth per link of an interconnect (Hockney model)."""

    name: str
    latency: float  # seconds
    bandwidth: float  # bytes per second


INFINIBAND_HDR = Network("InfiniBand HDR 200 Gb/s", latency=2.0e-6, bandwidth=23e9)
"""MPI over HDR: about 1 to 2 us point to point; 200 Gb/s is 25 GB/s, about 23 GB/s reached."""


def collectives_per_iteration(stages: int) -> int:
    """Collectives one iteration makes.

    forward: costs and trial states (2 ``allgather_rows``, each a count Allgather
    plus an Allgatherv: 4); per backward stage: intercepts and coefficients (4)
    plus the canonical basis (2 Bcasts): 6; bound: value and basis (3 Bcasts);
    stopping: solves and interrupt (2 Allreduces) and the clock (1 Bcast);
    profiler: its rows (2); stop votes inside the iteration, when signals are
    handled as on the command line (:mod:`caudal.sddp.interruptible`): one
    Allreduce after the forward pass and one per backward stage.
    """
    return 4 + 6 * (stages - 1) + 3 + 3 + 2 + stages


def bytes_per_iteration(shape: CaseShape, iteration: int = 1) -> dict[str, float]:
    """Bytes every rank receives in one iteration, by what they carry (independent of the rank count)."""
    m, t, n = shape.forward_passes, shape.stages, shape.states
    cuts = shape.cuts(iteration)
    return {
        "forward costs and trial states": m * FLOAT + m * t * n * FLOAT,
        "cuts (intercepts, coefficients)": (t - 1) * m * (1 + n) * FLOAT,
        "canonical bases": t * (shape.columns + shape.rows + cuts),
        "bound, stopping, profiler": 64.0,
    }


def communication_seconds(shape: CaseShape, ranks: int, network: Network, iteration: int = 1) -> dict[str, float]:
    """Latency and bandwidth terms of one iteration's collectives (zero on one rank)."""
    if ranks == 1:
        return {"latency": 0.0, "bandwidth": 0.0}
    hops = math.ceil(math.log2(ranks))
    traffic = bytes_per_iteration(shape, iteration)
    gathered = traffic["forward costs and trial states"] + traffic["cuts (intercepts, coefficients)"]
    return {
        "latency": collectives_per_iteration(shape.stages) * hops * network.latency,
        # Allgather(v): each rank receives (R-1)/R of the total; Bcast (binomial tree): the message on each hop
        "bandwidth": (ranks - 1) / ranks * gathered / network.bandwidth
        + hops * traffic["canonical bases"] / network.bandwidth,
    }


def iteration_seconds(
    shape: CaseShape,
    costs: Costs,
    ranks: int,
    threads: int,
    network: Network,
    iteration: int,
    cores_per_node: int | None = None,
    ranks_per_node: int | None = None,
    sigma: float = 0.0,
) -> dict[str, float]:
    """The model's seconds per phase for iteration ``iteration`` (1-based) on ``ranks`` x ``threads`` workers.

    ``cores_per_node``: when a node runs more workers than it has cores, their
    solves share the cores (time-slicing), which slows every solve by the ratio.
    """
    per_worker = math.ceil(math.ceil(shape.forward_passes / ranks) / threads)
    on_node = (ranks_per_node or ranks) * threads
    slowdown = max(1.0, on_node / cores_per_node) if cores_per_node else 1.0
    busy_workers = min(ranks * threads, shape.forward_passes)
    if sigma > 0 and busy_workers > 1:
        slowdown *= 1.0 + sigma * math.sqrt(2.0 * math.log(busy_workers) / per_worker)
    forward_cuts, backward_cuts = shape.forward_cuts(iteration), shape.backward_cuts(iteration)
    entries = shape.cuts(iteration) * (shape.states + 1)  # the refreshed stages T-2 .. 0 all hold cuts
    communication = communication_seconds(shape, ranks, network, iteration)
    return {
        "forward": shape.stages * (costs.stage_overhead[0] + per_worker * costs.solve_forward(forward_cuts) * slowdown),
        "backward": (shape.stages - 1) * (
            costs.stage_overhead[1] + per_worker * shape.openings * costs.solve_backward(backward_cuts) * slowdown
        ),
        "cache": (shape.stages - 1) * costs.refresh(entries),
        "bound": shape.first_stage_openings * costs.solve_backward(shape.cuts(iteration)),
        "communication": communication["latency"] + communication["bandwidth"],
        "rest": costs.rest,
    }


def run_seconds(shape: CaseShape, costs: Costs, ranks: int, threads: int, network: Network, iterations: int,
                **options: float | None) -> float:
    """Seconds for ``iterations`` iterations (the cut count grows each one).

    ``options``: ``cores_per_node``, ``ranks_per_node``, ``sigma`` of :func:`iteration_seconds`.
    """
    return sum(
        sum(iteration_seconds(shape, costs, ranks, threads, network, i, **options).values())
        for i in range(1, iterations + 1)
    )


def calibrate(columns: dict[str, np.ndarray], shape: CaseShape, cpu: bool = False) -> Costs:
    """Unit costs from a 1 rank x 1 thread ``profile.parquet`` of ``shape`` (columns as read back).

    Per iteration: forward busy time over its ``T*M`` solves, backward busy
    time over its ``(T-1)*M*O`` solves and cache time over its ``T-1`` refreshes,
    each fitted linearly against the cuts the LPs held then; the phases' time
    outside the tasks, per stage, is the serial overhead ``h``. ``cpu=True``
    counts the CPU time of the tasks instead of their wall time, and scales the
    rest alike: the costs on a core of its own, when the run shared its core.
    """
    first = columns["thread"] == 0
    iteration = columns["iteration"][first].astype(np.int64)
    m, t, o = shape.forward_passes, shape.stages, shape.openings
    share = float(columns["busy_cpu_s"].sum() / columns["busy_s"].sum()) if cpu and columns["busy_s"].sum() else 1.0
    columns = {name: values * share if name.endswith("_s") else values for name, values in columns.items()}
    forward = columns["busy_forward_s"][first] / (t * m)
    backward = columns["busy_backward_s"][first] / ((t - 1) * m * o)
    cache = columns["cache_s"][first] / (t - 1)
    forward_cuts = np.array([shape.forward_cuts(i) for i in iteration], dtype=np.float64)
    backward_cuts = np.array([shape.backward_cuts(i) for i in iteration], dtype=np.float64)
    refreshed_cuts = np.array([shape.cuts(i) for i in iteration], dtype=np.float64)
    rest = columns["wall_s"][first] - sum(columns[f"{name}_s"][first] for name in
                                          ("forward", "backward", "cache", "bound", "communication", "checkpoint"))
    return Costs(
        forward=_line(forward_cuts, forward),
        backward=_line(backward_cuts, backward),
        cache=_line(refreshed_cuts * (shape.states + 1), cache),
        rest=float(np.median(rest)),
        stage_overhead=(
            float(np.median(columns["forward_s"][first] - columns["busy_forward_s"][first]) / t),
            float(np.median(columns["backward_s"][first] - columns["busy_backward_s"][first]) / (t - 1)),
        ),
    )


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``a + b x`` (``b`` kept non-negative: costs do not fall as LPs grow)."""
    if np.unique(x).size < 2:
        return float(np.mean(y)), 0.0
    slope, intercept = np.polyfit(x, y, 1)
    if slope < 0:
        return float(np.mean(y)), 0.0
    return float(intercept), float(slope)
