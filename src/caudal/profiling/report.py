"""``caudal profile RUN_DIR``: the summary table on the terminal, the plots into the run directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from caudal.profiling.plots import plot_phases, plot_workers
from caudal.profiling.recorder import PROFILE_FILE
from caudal.profiling.summary import ProfileSummary, phase_seconds_by_iteration, summarize
from caudal.profiling.table import iteration_ranges, read_profile

PHASES_PNG = "profile_phases.png"
WORKERS_PNG = "profile_workers.png"
MAX_WORKER_LINES = 32


@dataclass
class ProfileReport:
    summary: ProfileSummary
    plots: list[Path]
    covers: str = ""  # the iterations the profile holds, e.g. "1-20" (a resumed run appends its own)


def profile_run(run_dir: Path, plots: bool = True) -> ProfileReport:
    """Read ``RUN_DIR/profile.parquet``, summarize it and (optionally) write the PNGs beside it."""
    path = Path(run_dir) / PROFILE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no profile (train with --output, and without --no-profile)")
    columns, metadata = read_profile(path)
    summary = summarize(columns, metadata)
    written = []
    if plots:
        iterations, phases = phase_seconds_by_iteration(columns)
        title = f"{metadata.get('case', 'run')}: {summary.ranks} ranks x {summary.threads} threads"
        written.append(plot_phases(iterations, phases, Path(run_dir) / PHASES_PNG, title))
        written.append(plot_workers(summary, Path(run_dir) / WORKERS_PNG))
    return ProfileReport(summary, written, iteration_ranges(columns["iteration"]))


def print_report(report: ProfileReport, console=None) -> None:
    """Print the summary with rich: key figures, the phase table, the worker table."""
    from rich.table import Table

    console = console or wide_console()
    s = report.summary
    meta = s.metadata
    console.print(
        f"[bold]{meta.get('case', 'run')}[/bold]: {s.iterations} iterations ({_covers(report.covers)}), "
        f"{s.ranks} ranks x {s.threads} threads "
        f"= {s.workers_count} workers; {meta.get('forward_passes', '?')} forward passes, "
        f"{meta.get('stages', '?')} stages; solver {meta.get('solver', '?')}; host {meta.get('hostname_rank0', '?')}"
    )
    phases = Table(title=f"phase breakdown ({s.seconds_per_iteration:.4f} s per iteration, slowest rank)")
    for column in ("phase", "s/iter (mean rank)", "least rank", "most rank", "share"):
        phases.add_column(column, justify="left" if column == "phase" else "right")
    for line in s.phases:
        if line.most == 0.0:
            continue
        phases.add_row(line.name, f"{line.mean:.4f}", f"{line.least:.4f}", f"{line.most:.4f}",
                       f"{100 * line.share:.1f}%")
    console.print(phases)
    figures = Table(title="key figures", show_header=False)
    figures.add_column("figure")
    figures.add_column("value", justify="right")
    for name, value in (
        ("load imbalance, busy time max/mean over workers", f"{s.load_imbalance:.3f}"),
        ("  backward tasks only", f"{s.backward_imbalance:.3f}"),
        ("communication share of wall time", f"{100 * s.communication_share:.2f}%"),
        ("  of which waiting for slower ranks (est.)", f"{s.communication_wait:.4f} s/iter"),
        ("LP time share (load+patch+basis+solve+extract)", f"{100 * s.lp_share:.1f}%"),
        ("  inside Highs_run", f"{100 * s.highs_share:.1f}%"),
        ("threads idle in pool phases", f"{100 * s.wait_share:.1f}%"),
        ("CPU time / wall time inside tasks (below 100%: waiting for a core)", f"{100 * s.cpu_share:.1f}%"),
        ("profiler's own time", f"{100 * s.profiler_share:.3f}%"),
        ("LP solves per iteration", f"{s.solves_per_iteration:,.0f}"),
        ("simplex iterations per LP (solved, or answered from a kept basis)", f"{s.simplex_per_lp:.2f}"),
        ("openings ranged per iteration (kept basis still optimal, no solve)", f"{s.ranged_per_iteration:,.0f}"),
        *_headroom_rows(s),
        ("RSS, largest rank / all ranks", f"{_size(s.memory['rss_max_bytes'])} / {_size(s.memory['rss_total_bytes'])}"),
        ("stage LP cache per rank / node-shared", f"{_size(s.memory['cache_bytes'])} / "
                                                  f"{_size(s.memory['cache_shared_bytes'])}"),
        ("native workspace buffers, all workers", _size(s.memory["workspace_bytes"])),
    ):
        figures.add_row(name, value)
    console.print(figures)
    workers = Table(title="workers (totals over the iterations)")
    for column in ("rank", "thread", "busy s", "idle s", "outside s", "busy share", "LP solves", "simplex it."):
        workers.add_column(column, justify="right")
    for w in s.workers[:MAX_WORKER_LINES]:
        workers.add_row(str(w.rank), str(w.thread), f"{w.busy:.3f}", f"{w.wait:.3f}", f"{w.outside:.3f}",
                        f"{100 * w.busy / w.wall:.1f}%" if w.wall else "-", f"{w.solves:,}",
                        f"{w.simplex_iterations:,}")
    if len(s.workers) > MAX_WORKER_LINES:
        workers.caption = f"... and {len(s.workers) - MAX_WORKER_LINES} more workers"
    console.print(workers)
    for path in report.plots:
        console.print(f"wrote {path}")


def wide_console():
    """A rich console; when the output is not a terminal (a file, a pipe), wide enough for every column."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=200)


def _headroom_rows(s: ProfileSummary) -> list[tuple[str, str]]:
    """What twice the threads per rank could gain at most (absent from profiles written before it was kept)."""
    headroom = s.doubled_threads
    if headroom is None:
        return []
    return [
        (f"with {2 * s.threads} threads per rank, at most (tasks shared evenly, the rest as now)",
         f"{headroom.speedup:.2f}x faster, {headroom.seconds_per_iteration:.4f} s/iter"),
        (f"  task time in runs of fewer than {2 * s.threads} items (forward passes, unsplit trial states)",
         f"{100 * headroom.narrow_share:.1f}%"),
    ]


def _covers(ranges: str) -> str:
    return f"iteration {ranges}" if ranges.isdigit() else f"iterations {ranges}"


def _size(value: float) -> str:
    """Bytes in the largest binary unit that keeps the number at least 1."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"
