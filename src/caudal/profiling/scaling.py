"""``caudal scaling``: train one case on several ranks x threads layouts and compare.

Strong scaling keeps the work fixed (the same forward passes per iteration, so
every layout computes the same cuts, bit for bit) and asks how much faster more
workers make an iteration. Weak scaling gives each worker the same work
(forward passes proportional to the workers) and asks how well the time per
iteration holds. Each layout is one ``caudal train`` launched by ``mpiexec`` (or
``srun`` under slurm) with its profile on; the figures come from its
``profile.parquet``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from caudal.profiling.launch import launch_environment, launch_prefix, resolve_launcher
from caudal.profiling.machine import load_average
from caudal.profiling.recorder import PROFILE_FILE
from caudal.profiling.summary import ProfileSummary, summarize
from caudal.profiling.table import read_profile

LAUNCH_FILE = "launch.json"
"""Written into each run's directory: the command, the load before it and its elapsed time."""

BREAKDOWN = ("forward", "backward", "communication", "cache", "rest")
"""Phases shown per layout; ``rest`` is bound, stopping, checkpoint, profiler and other."""


@dataclass(frozen=True)
class Layout:
    ranks: int
    threads: int

    @property
    def workers(self) -> int:
        return self.ranks * self.threads

    @property
    def label(self) -> str:
        return f"{self.ranks}x{self.threads}"


@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: the case, its options, and the layouts."""

    case: str
    layouts: tuple[Layout, ...]
    iterations: int
    forward_passes: int  # per iteration (strong), or per worker (weak)
    weak: bool = False
    stages: int | None = None
    seed: int = 0
    solver: str = "auto"
    launcher: str = "auto"

    def passes_for(self, layout: Layout) -> int:
        return self.forward_passes * layout.workers if self.weak else self.forward_passes


@dataclass
class LayoutRun:
    """One layout's measurements."""

    layout: Layout
    forward_passes: int
    seconds_per_iteration: float
    phases: dict[str, float]  # seconds per iteration, mean over ranks, keys BREAKDOWN
    summary: ProfileSummary
    lower_bound: float
    policy_digest: str
    load_before: float  # 1-minute load average just before the run
    elapsed: float  # wall seconds of the whole launch, start-up included
    command: list[str] = field(default_factory=list)

    @property
    def workers(self) -> int:
        return self.layout.workers


def plan_layouts(ranks: Sequence[int], threads: Sequence[int]) -> tuple[Layout, ...]:
    """Every ranks x threads pair, fewest workers first (the first is the baseline)."""
    if not ranks or not threads or min(ranks) < 1 or min(threads) < 1:
        raise ValueError("ranks and threads must be non-empty lists of positive integers")
    pairs = {Layout(r, t) for r in ranks for t in threads}
    return tuple(sorted(pairs, key=lambda layout: (layout.workers, layout.threads)))


def train_command(spec: SweepSpec, layout: Layout, output: Path, checkpoints: Path) -> list[str]:
    command = [
        *launch_prefix(layout.ranks, layout.threads, spec.launcher),
        sys.executable, "-m", "caudal", "train", spec.case,
        "--iterations", str(spec.iterations), "--forward-passes", str(spec.passes_for(layout)),
        "--seed", str(spec.seed), "--threads", str(layout.threads), "--solver", spec.solver,
        "--output", str(output), "--checkpoint-dir", str(checkpoints), "--quiet",
    ]
    if spec.stages is not None:
        command[command.index("--iterations"):command.index("--iterations")] = ["--stages", str(spec.stages)]
    return command


def run_layout(spec: SweepSpec, layout: Layout, output: Path, checkpoints: Path) -> LayoutRun:
    """Launch one layout and read its profile back."""
    command = train_command(spec, layout, output, checkpoints)
    load = load_average()[0]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=launch_environment())
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"layout {layout.label} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    launch = {"command": command, "load_before": load, "elapsed": elapsed}
    (output / LAUNCH_FILE).write_text(json.dumps(launch, indent=2) + "\n", encoding="utf-8")
    return read_layout(spec, layout, output)


def read_layout(spec: SweepSpec, layout: Layout, output: Path) -> LayoutRun:
    """A layout's measurements from its run directory (``summary.json``, ``profile.parquet``, ``launch.json``)."""
    summary_json = json.loads((output / "summary.json").read_text())
    columns, metadata = read_profile(output / PROFILE_FILE)
    summary = summarize(columns, metadata)
    launch_path = output / LAUNCH_FILE
    launch = json.loads(launch_path.read_text()) if launch_path.exists() else {}
    return LayoutRun(
        layout=layout,
        forward_passes=int(metadata.get("forward_passes", spec.passes_for(layout))),
        seconds_per_iteration=summary.seconds_per_iteration,
        phases=breakdown(summary),
        summary=summary,
        lower_bound=float(summary_json.get("bound", summary_json.get("lower_bound"))),  # "bound": either sense
        policy_digest=str(summary_json["policy_digest"]),
        load_before=float(launch.get("load_before", float("nan"))),
        elapsed=float(launch.get("elapsed", float("nan"))),
        command=list(launch.get("command", [])),
    )


def breakdown(summary: ProfileSummary) -> dict[str, float]:
    """Seconds per iteration in each of :data:`BREAKDOWN` (mean over ranks)."""
    phases = {line.name: line.mean for line in summary.phases}
    shown = {name: phases.get(name, 0.0) for name in BREAKDOWN[:-1]}
    shown["rest"] = sum(seconds for name, seconds in phases.items() if name not in shown)
    return shown


def sweep(
    spec: SweepSpec, directory: Path, progress: Callable[[LayoutRun], None] | None = None, launch: bool = True
) -> list[LayoutRun]:
    """Run every layout of ``spec``, writing each run into ``directory/runs/RxT``.

    Checkpoints go to a scratch folder that is removed afterwards: a sweep
    keeps the profiles, not the policies. ``launch=False`` reads the runs an
    earlier sweep left in ``directory`` instead (to redraw its outputs).
    """
    if not launch:
        return [read_layout(spec, layout, directory / "runs" / layout.label) for layout in spec.layouts]
    import shutil
    import tempfile

    resolve_launcher(spec.launcher)
    runs = []
    with tempfile.TemporaryDirectory(prefix="caudal-scaling-") as scratch:
        for layout in spec.layouts:
            output = directory / "runs" / layout.label
            if output.exists():
                shutil.rmtree(output)
            run = run_layout(spec, layout, output, Path(scratch) / layout.label)
            runs.append(run)
            if progress is not None:
                progress(run)
    return runs


@dataclass
class ScalingRow:
    """One line of the scaling table."""

    run: LayoutRun
    speedup: float  # strong: base time / time; weak: scaled speedup (efficiency x relative workers)
    efficiency: float  # strong: speedup / relative workers; weak: base time / time


def scaling_rows(runs: Sequence[LayoutRun], weak: bool) -> list[ScalingRow]:
    """Speedup and parallel efficiency of each run against the first (fewest workers)."""
    if not runs:
        return []
    base = runs[0]
    rows = []
    for run in runs:
        relative_workers = run.workers / base.workers
        ratio = base.seconds_per_iteration / run.seconds_per_iteration
        if weak:
            rows.append(ScalingRow(run, speedup=ratio * relative_workers, efficiency=ratio))
        else:
            rows.append(ScalingRow(run, speedup=ratio, efficiency=ratio / relative_workers))
    return rows


def same_policy(runs: Sequence[LayoutRun]) -> bool:
    """Strong scaling computes the same cuts on every layout: a check that the runs are comparable."""
    return len({run.policy_digest for run in runs}) <= 1


def mean_load(runs: Sequence[LayoutRun]) -> float:
    loads = [run.load_before for run in runs if np.isfinite(run.load_before)]
    return float(np.mean(loads)) if loads else float("nan")
