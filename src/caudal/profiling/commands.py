"""The profiling faces of the command line: ``train`` options, ``caudal profile`` and ``caudal scaling``.

:mod:`caudal.cli` calls the four functions below, so the command line's own
module only gains a line per hook.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from caudal.arguments import CASE_HELP, UsageError, non_negative_int, positive_int, positive_int_list
from caudal.cases import resolve_case
from caudal.profiling.launch import LAUNCHERS
from caudal.profiling.report import print_report, profile_run, wide_console
from caudal.profiling.scaling import SweepSpec, plan_layouts, scaling_rows, sweep
from caudal.profiling.scaling_report import print_table, write_outputs


def add_profiling_options(train: argparse.ArgumentParser) -> None:
    """``--no-profile`` and ``--trace-iteration`` for ``caudal train``."""
    group = train.add_argument_group("profiling")
    group.add_argument("--no-profile", dest="profile", action="store_false", default=None,
                       help="do not write OUTPUT/profile.parquet (time per phase, rank and thread; on by default "
                       "with --output, costs well under 1%%)")
    group.add_argument("--trace-iteration", type=positive_int, default=None, metavar="N",
                       help="write OUTPUT/trace.json, a Chrome/Perfetto trace of iteration N "
                       "(open it in ui.perfetto.dev or chrome://tracing)")


def profiling_keywords(args: argparse.Namespace) -> dict:
    """The keywords of :func:`caudal.train` that the profiling options set."""
    return {"profile": args.profile, "trace_iteration": args.trace_iteration}


def add_profiling_commands(commands) -> None:
    """The ``profile`` and ``scaling`` subcommands."""
    profile = commands.add_parser(
        "profile", help="where a run's time went, per phase, rank and thread",
        description="Summarize RUN_DIR/profile.parquet (written by 'caudal train --output RUN_DIR'): phase "
        "breakdown, load imbalance, communication and LP time shares, memory; writes "
        "RUN_DIR/profile_phases.png and RUN_DIR/profile_workers.png.",
    )
    profile.add_argument("run", type=Path, metavar="RUN_DIR")
    profile.add_argument("--no-plots", action="store_true", help="print the table only")
    scaling = commands.add_parser(
        "scaling", help="train on several ranks x threads layouts and compare",
        description="Launch 'caudal train CASE' for every ranks x threads layout (mpiexec, or srun inside a "
        "slurm job), then print and write the scaling table (scaling.csv, scaling.md) and plot (scaling.png).",
        epilog="Examples:\n"
        "  caudal scaling brazil4 --stages 120 --ranks 1,2,4 --threads 1,2 --iterations 3 --forward-passes 8\n"
        "  caudal scaling brazil4 --ranks 1,2,4 --threads 1,2 --iterations 3 --forward-passes 2 --weak",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    scaling.add_argument("case", metavar="CASE", help=CASE_HELP)
    scaling.add_argument("--ranks", type=positive_int_list, default=(1, 2, 4), metavar="LIST",
                         help="comma-separated rank counts (default 1,2,4)")
    scaling.add_argument("--threads", type=positive_int_list, default=(1, 2), metavar="LIST",
                         help="comma-separated threads per rank (default 1,2)")
    scaling.add_argument("--iterations", "-n", type=positive_int, default=5, help="iterations per run (default 5)")
    scaling.add_argument("--forward-passes", "-m", type=positive_int, default=None,
                         help="forward passes per iteration (strong; default: the largest worker count), "
                         "or per worker (--weak; default 1)")
    scaling.add_argument("--weak", action="store_true",
                         help="weak scaling: forward passes proportional to the workers")
    scaling.add_argument("--stages", type=positive_int, default=None, help="horizon of an embedded case")
    scaling.add_argument("--seed", "-s", type=non_negative_int, default=0)
    scaling.add_argument("--solver", choices=("auto", "native", "highspy"), default="auto")
    scaling.add_argument("--launcher", choices=LAUNCHERS, default="auto",
                         help="auto: srun inside a slurm job (SLURM_JOB_ID), else mpiexec")
    scaling.add_argument("--output", "-o", type=Path, default=None, metavar="DIR",
                         help="where to write the table, plot and runs (default scaling-CASE[-weak])")
    scaling.add_argument("--report-only", action="store_true",
                         help="launch nothing: redraw the table and plot from the runs already in DIR/runs")


def profiling_handlers() -> dict[str, Callable[[argparse.Namespace], int]]:
    return {"profile": run_profile, "scaling": run_scaling}


def run_profile(args: argparse.Namespace) -> int:
    try:
        report = profile_run(args.run, plots=not args.no_plots)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from exc
    print_report(report)
    return 0


def run_scaling(args: argparse.Namespace) -> int:
    if not args.report_only:
        resolve_case(args.case)  # a bad CASE fails here, not in every run launched
    layouts = plan_layouts(args.ranks, args.threads)
    forward_passes = args.forward_passes or (1 if args.weak else max(layout.workers for layout in layouts))
    spec = SweepSpec(case=args.case, layouts=layouts, iterations=args.iterations, forward_passes=forward_passes,
                     weak=args.weak, stages=args.stages, seed=args.seed, solver=args.solver, launcher=args.launcher)
    name = Path(args.case).name.removesuffix(".py")
    directory = args.output or Path(f"scaling-{name}{'-weak' if args.weak else ''}")
    console = wide_console()

    def progress(run) -> None:
        console.print(f"{run.layout.label}: {run.seconds_per_iteration:.3f} s/iter "
                      f"({run.forward_passes} forward passes, load before {run.load_before:.2f}, "
                      f"{run.elapsed:.1f}s with start-up)")

    runs = sweep(spec, directory, progress, launch=not args.report_only)
    rows = scaling_rows(runs, spec.weak)
    print_table(rows, spec, console)
    words = [word for word in sys.argv[1:] if word != "--report-only"]  # the command that launched the runs
    command = "caudal " + " ".join(shlex.quote(word) for word in words) if words else ""
    for path in write_outputs(rows, spec, directory, command):
        console.print(f"wrote {path}")
    return 0
