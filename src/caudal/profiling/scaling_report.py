"""The outputs of ``caudal scaling``: the table (terminal, CSV, Markdown) and the PNG.

Kept apart from :mod:`.scaling`, which only launches and measures, so the
formats can be tested on made-up runs.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from caudal.profiling.machine import cores_available, describe_machine
from caudal.profiling.plots import PHASE_COLORS, figure
from caudal.profiling.report import wide_console
from caudal.profiling.scaling import BREAKDOWN, ScalingRow, SweepSpec, mean_load, same_policy

CSV_FILE = "scaling.csv"
MARKDOWN_FILE = "scaling.md"
PNG_FILE = "scaling.png"
REST_COLOR = "#d0d0d0"


def table_lines(rows: Sequence[ScalingRow], weak: bool) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the scaling table, as strings (one table for every output format)."""
    cores = cores_available()
    header = ["layout", "workers", "fwd passes", "s/iter", "scaled speedup" if weak else "speedup", "efficiency",
              "task CPU s/iter",
              *(f"{name} s" for name in BREAKDOWN), "comm %", "idle %", "imbalance", "CPU got %", "load"]
    lines = []
    for row in rows:
        run = row.run
        over = "*" if run.workers > cores else ""
        lines.append([
            f"{run.layout.label}{over}", str(run.workers), str(run.forward_passes),
            f"{run.seconds_per_iteration:.3f}", f"{row.speedup:.2f}", f"{row.efficiency:.2f}",
            f"{run.summary.task_cpu_per_iteration:.3f}",
            *(f"{run.phases[name]:.3f}" for name in BREAKDOWN),
            f"{100 * run.summary.communication_share:.1f}", f"{100 * run.summary.wait_share:.1f}",
            f"{run.summary.load_imbalance:.2f}", f"{100 * run.summary.cpu_share:.0f}", f"{run.load_before:.2f}",
        ])
    return header, lines


def print_table(rows: Sequence[ScalingRow], spec: SweepSpec, console=None) -> None:
    from rich.table import Table

    console = console or wide_console()
    header, lines = table_lines(rows, spec.weak)
    table = Table(title=title(spec))
    for name in header:
        table.add_column(name, justify="left" if name == "layout" else "right")
    for line in lines:
        table.add_row(*line)
    console.print(table)
    for note in notes(rows, spec):
        console.print(note)


def title(spec: SweepSpec) -> str:
    mode = "weak" if spec.weak else "strong"
    stages = f", {spec.stages} stages" if spec.stages else ""
    passes = f"{spec.forward_passes} forward passes" + (" per worker" if spec.weak else "")
    return f"{mode} scaling: {spec.case}{stages}, {spec.iterations} iterations, {passes}, solver {spec.solver}"


def notes(rows: Sequence[ScalingRow], spec: SweepSpec) -> list[str]:
    runs = [row.run for row in rows]
    lines = [
        describe_machine(),
        f"load average (1 min) before the runs: mean {mean_load(runs):.2f} on {cores_available()} cores; "
        "* marks layouts with more workers than cores (oversubscribed)",
        "s/iter: the slowest rank's wall time per iteration, mean over iterations (from profile.parquet); "
        "phases: mean over ranks; rest = bound + stopping + checkpoint + profiler + other; "
        "idle: threads waiting inside pool phases; imbalance: busy time max/mean over workers; "
        "CPU got: the workers' CPU time over their wall time inside their tasks (100: a core each throughout); "
        "task CPU: the CPU seconds of all workers' tasks per iteration (the work: the same on every layout when "
        "scaling costs nothing)",
    ]
    if not spec.weak:
        lines.append("same policy on every layout (bit-identical cuts): "
                     + ("yes" if same_policy(runs) else "NO: the runs are not comparable"))
    return lines


def write_csv(rows: Sequence[ScalingRow], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["layout", "ranks", "threads", "workers", "forward_passes", "seconds_per_iteration",
                         "speedup", "efficiency", *(f"{name}_s" for name in BREAKDOWN), "communication_share",
                         "idle_share", "load_imbalance", "lp_share", "cpu_share", "task_cpu_per_iteration",
                         "load_average_before", "lower_bound",
                         "policy_digest"])
        for row in rows:
            run = row.run
            writer.writerow([run.layout.label, run.layout.ranks, run.layout.threads, run.workers,
                             run.forward_passes, repr(run.seconds_per_iteration), repr(row.speedup),
                             repr(row.efficiency), *(repr(run.phases[name]) for name in BREAKDOWN),
                             repr(run.summary.communication_share), repr(run.summary.wait_share),
                             repr(run.summary.load_imbalance), repr(run.summary.lp_share),
                             repr(run.summary.cpu_share), repr(run.summary.task_cpu_per_iteration),
                             repr(run.load_before),
                             repr(run.lower_bound), run.policy_digest])
    return path


def write_markdown(rows: Sequence[ScalingRow], spec: SweepSpec, path: Path, command: str = "") -> Path:
    header, lines = table_lines(rows, spec.weak)
    text = [f"# {title(spec)}", ""]
    if command:
        text += ["```", command, "```", ""]
    text += ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if h != "layout" else "---" for h in header) + "|"]
    text += ["| " + " | ".join(line) + " |" for line in lines]
    text += [""] + [f"- {note}" for note in notes(rows, spec)] + ["", f"![{PNG_FILE}]({PNG_FILE})", ""]
    path.write_text("\n".join(text), encoding="utf-8")
    return path


def plot_scaling(rows: Sequence[ScalingRow], spec: SweepSpec, path: Path) -> Path:
    """Three panels: speedup and efficiency against workers, and the phase breakdown of each layout."""
    fig = figure(14.0, 4.4)
    speed, efficiency, phases = fig.subplots(1, 3, width_ratios=(1, 1, 1.4))
    workers = np.array([row.run.workers for row in rows])
    base = workers.min()
    ideal = np.array(sorted(set(workers.tolist())))
    for threads in sorted({row.run.layout.threads for row in rows}):
        mine = [row for row in rows if row.run.layout.threads == threads]
        x = [row.run.workers for row in mine]
        speed.plot(x, [row.speedup for row in mine], "o-", label=f"{threads} thread{'s' if threads > 1 else ''}/rank")
        efficiency.plot(x, [row.efficiency for row in mine], "o-", label=f"{threads} thread(s)/rank")
    speed.plot(ideal, ideal / base, "k--", linewidth=0.8, label="ideal")
    efficiency.axhline(1.0, color="k", linestyle="--", linewidth=0.8)
    cores = cores_available()
    for ax in (speed, efficiency):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ideal, [str(w) for w in ideal])
        ax.set_xlabel("workers (ranks x threads)")
        if ideal.max() > cores:  # shade the oversubscribed layouts
            ax.axvspan(cores * math.sqrt(2), ideal.max() * math.sqrt(2), color="#ececec", zorder=0,
                       label=f"more workers than the {cores} cores")
    speed.set_ylabel("scaled speedup" if spec.weak else "speedup")
    speed.set_title("speedup vs workers")
    speed.legend(fontsize="small")
    efficiency.set_ylabel("parallel efficiency")
    efficiency.set_ylim(0, max(1.1, math.ceil(max(row.efficiency for row in rows) * 10) / 10))
    efficiency.set_title("efficiency vs workers")
    labels = [row.run.layout.label for row in rows]
    bottom = np.zeros(len(rows))
    for name in BREAKDOWN:
        values = np.array([row.run.phases[name] for row in rows])
        phases.bar(labels, values, bottom=bottom, label=name, color=PHASE_COLORS.get(name, REST_COLOR))
        bottom += values
    phases.set_xlabel("layout (ranks x threads)")
    phases.set_ylabel("seconds per iteration (mean over ranks)")
    phases.set_title("phase breakdown")
    phases.legend(fontsize="small")
    fig.suptitle(title(spec), fontsize="medium")
    fig.savefig(path)
    return path


def write_outputs(rows: Sequence[ScalingRow], spec: SweepSpec, directory: Path, command: str = "") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    return [
        write_csv(rows, directory / CSV_FILE),
        write_markdown(rows, spec, directory / MARKDOWN_FILE, command),
        plot_scaling(rows, spec, directory / PNG_FILE),
    ]
