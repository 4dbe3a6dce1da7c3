"""PNG plots of a profile: stacked phase times per iteration, and per-worker busy/idle bars.

Drawn with matplotlib's object API (no pyplot, no display needed), so they
work on a cluster's login node and in tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from caudal.profiling.summary import REPORTED_PHASES, ProfileSummary

PHASE_COLORS = {
    "forward": "#4c72b0",
    "backward": "#dd8452",
    "communication": "#c44e52",
    "cache": "#8172b3",
    "bound": "#937860",
    "stopping": "#da8bc3",
    "checkpoint": "#8c8c8c",
    "profiler": "#ccb974",
    "other": "#d0d0d0",
}
WORKER_PARTS = (
    ("forward", "busy: forward", PHASE_COLORS["forward"]),
    ("backward", "busy: backward", PHASE_COLORS["backward"]),
    ("bound", "busy: bound", PHASE_COLORS["bound"]),
    ("other", "busy: simulation", PHASE_COLORS["stopping"]),
)


def figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def plot_phases(iterations: np.ndarray, phases: dict[str, np.ndarray], path: Path, title: str = "") -> Path:
    """Stacked bars: seconds per phase in each iteration (mean over ranks)."""
    fig = figure(max(7.0, min(15.0, 0.25 * iterations.size + 5)), 4.0)
    ax = fig.add_subplot()
    bottom = np.zeros(iterations.size)
    for phase in REPORTED_PHASES:
        values = phases[phase]
        if not values.any():
            continue
        ax.bar(iterations, values, bottom=bottom, label=phase, color=PHASE_COLORS[phase], width=0.85)
        bottom += values
    ax.set_xlabel("iteration")
    ax.set_ylabel("seconds (mean over ranks)")
    ax.set_title(title or "time per iteration by phase")
    fig.legend(loc="outside right upper", fontsize="small")
    fig.savefig(path)
    return path


def plot_workers(summary: ProfileSummary, path: Path) -> Path:
    """Horizontal bars per worker: busy time by kind, idle inside pool phases, and time outside them."""
    workers = summary.workers
    labels = [f"rank {w.rank} thread {w.thread}" for w in workers]
    fig = figure(9.0, max(3.0, 0.45 * len(workers) + 2.0))
    ax = fig.add_subplot()
    y = np.arange(len(workers))
    left = np.zeros(len(workers))
    for kind, label, color in WORKER_PARTS:
        values = np.array([w.busy_by_kind[kind] for w in workers])
        if values.any():
            ax.barh(y, values, left=left, color=color, label=label)
            left += values
    for values, label, color in (
        (np.array([w.wait for w in workers]), "idle in pool phases (waiting for other threads)", "#e5e5e5"),
        (np.array([w.outside for w in workers]), "rank outside pool phases (comm, cache, ...)", "#9e9e9e"),
    ):
        ax.barh(y, values, left=left, color=color, label=label, hatch="//" if "idle" in label else None,
                edgecolor="#bdbdbd" if "idle" in label else None)
        left += values
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel(f"seconds over {summary.iterations} iterations")
    ax.set_title(f"workers: busy and idle time (load imbalance max/mean {summary.load_imbalance:.2f})")
    fig.legend(loc="outside lower center", fontsize="small", ncols=3)
    fig.savefig(path)
    return path
