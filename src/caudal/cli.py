"""The ``caudal`` command line: a thin face over :mod:`caudal.api`.

Exit statuses: see :data:`EXIT_STATUSES` (also in ``caudal --help``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from caudal import plots
from caudal._version import __version__
from caudal.api import Policy, simulate, train
from caudal.arguments import (
    CASE_HELP,
    UsageError,
    add_case_argument,
    add_checkpoint_schedule,
    add_training_options,
    non_negative_int,
    positive_float,
    positive_int,
)
from caudal.cases import BadCase, TrainingDefaults, resolve_case
from caudal.checkpoint import export_cuts, inspect_checkpoint, latest_valid, load_latest, restore_pools
from caudal.checkpoint.during_training import checkpoint_directory
from caudal.checkpoint.errors import CheckpointError
from caudal.checkpoint.files import NAME_PATTERN
from caudal.config import add_config_option, parse_with_config
from caudal.log_destination import add_log_options, log_destination
from caudal.model.problem import Problem, ProblemError
from caudal.parallel.comm import launched_by_mpi, world
from caudal.parallel.signals import EXIT_SIGNALLED, StopSignals
from caudal.profiling.commands import (
    add_profiling_commands,
    add_profiling_options,
    profiling_handlers,
    profiling_keywords,
)
from caudal.sweep.command import add_sweep_command, run_sweep_command

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

EXIT_STATUSES = {
    EXIT_OK: "success (caudal sweep: every variant done)",
    EXIT_FAILED: "the run failed: solver, data, checkpoint (caudal sweep: some variant failed or timed out)",
    EXIT_USAGE: "bad arguments, a bad --config file or a bad case",
    EXIT_SIGNALLED: "stopped by SIGTERM/SIGUSR1 after writing a checkpoint: run again with --resume",
    EXIT_INTERRUPTED: "interrupted from the keyboard",
}
"""What ``caudal`` exits with; shown by ``caudal --help`` and documented in docs/cli.md."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caudal",
        description="Train and use SDDP policies for multistage stochastic linear problems "
        "(long-term hydrothermal dispatch and others), on a laptop or under mpiexec/srun.",
        epilog="Run 'caudal COMMAND --help' for a command's options.\n\nexit statuses:\n"
        + "\n".join(f"  {status:<4}{meaning}" for status, meaning in EXIT_STATUSES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"caudal {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = commands.add_parser(
        "train",
        help="train a policy",
        description="Train an SDDP policy and print one log line per iteration. "
        "With no CASE, trains the embedded brazil4 case (4 subsystems, 12 monthly stages, "
        "82 historical inflow openings per stage).",
        epilog="Examples:\n"
        "  caudal train\n"
        "  caudal train brazil4 --stages 120 --iterations 200 --forward-passes 4 --output runs/b120\n"
        "  caudal train my_problem.py --iterations 100   (a Python file defining build_problem())",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_case_argument(train)
    add_training_options(train)
    train.add_argument(
        "--threads", "-t", type=positive_int, default=None,
        help="worker threads per process (default: the cores this process may use)",
    )
    train.add_argument("--time-limit", type=positive_float, default=None, metavar="SECONDS",
                       help="stop after the iteration during which this many seconds have passed")
    train.add_argument("--output", "-o", type=Path, default=None, metavar="DIR",
                       help="write convergence.csv and summary.json into DIR")
    train.add_argument("--solver", choices=("auto", "native", "highspy"), default="auto",
                       help="LP kernel: native (Cython over the HiGHS C API), highspy (reference), "
                       "auto (native when built; default)")
    train.add_argument("--quiet", "-q", action="store_true", help="print only the final summary")
    train.add_argument("--opening-chunk", type=int, default=0, metavar="N",
                       help="split each backward trial state's openings into work items of N openings, so one "
                       "forward pass keeps every thread busy (0: no split; default)")
    train.add_argument("--multi-cut", action="store_true",
                       help="one value-function column (and cut) per opening of the next stage instead of one "
                       "averaged cut: fewer iterations, larger LPs; pays with few openings and many states")
    add_study_options(train)
    add_profiling_options(train)
    add_profiling_commands(commands)
    group = train.add_argument_group("checkpoints")
    group.add_argument("--resume", type=Path, default=None, metavar="DIR",
                       help="continue from the newest valid checkpoint in DIR (a run's --output or its checkpoints/)")
    group.add_argument("--checkpoint-dir", type=Path, default=None, metavar="DIR",
                       help="where to write checkpoints (default: OUTPUT/checkpoints when --output is given)")
    add_checkpoint_schedule(group)
    add_checkpoint_commands(commands)
    add_simulate_command(commands)
    add_plot_commands(commands)
    add_sweep_command(commands)
    return parser


def add_study_options(command: argparse.ArgumentParser) -> None:
    """``--log-file`` and ``--config``: keep a run's log, and a study's options in a TOML file."""
    add_log_options(command, quiet=False)
    add_config_option(command)


def load_case(case: str, stages: int | None) -> tuple[Problem, TrainingDefaults]:
    """The problem named by CASE, and how to train it when the command line does not say.

    A bad case (:class:`~caudal.cases.BadCase`), or a case whose data is bad,
    is a usage error (exit status 2) whichever command names it.
    """
    try:
        resolved = resolve_case(case)
        return resolved.build(stages), resolved.training_defaults()
    except ProblemError as exc:
        raise UsageError(f"{case}: {exc}") from exc


def run_train(args: argparse.Namespace) -> int:
    # train() turns walltime signals into a clean stop while it runs; outside it
    # (loading the case, writing the last files) a late signal must not kill
    # the process either, so it is held here and the run ends as it would.
    with StopSignals():
        return _run_train(args)


def _run_train(args: argparse.Namespace) -> int:
    problem, defaults = load_case(args.case, args.stages)
    # Options not given on the command line come from a Cobre case's config.json, else caudal's defaults.
    result = train(
        problem,
        iterations=args.iterations if args.iterations is not None else defaults.iterations,
        forward_passes=args.forward_passes if args.forward_passes is not None else defaults.forward_passes,
        seed=args.seed if args.seed is not None else defaults.seed,
        threads=args.threads,
        time_limit=args.time_limit if args.time_limit is not None else defaults.time_limit,
        output=args.output,
        log=log_destination(args.quiet, args.log_file, world_rank()),
        solver=args.solver,
        multi_cut=args.multi_cut,
        opening_chunk=args.opening_chunk,
        **profiling_keywords(args),
        checkpoint_dir=args.checkpoint_dir,
        checkpoint_every=args.checkpoint_every,
        checkpoint_seconds=args.checkpoint_seconds,
        keep_checkpoints=args.keep,
        resume=args.resume,
        handle_signals=True,
    )
    if args.quiet and world_rank() == 0:
        print(f"bound {result.lower_bound:.6f} after {result.iterations} iterations "
              f"({result.status}, {result.wall_time:.2f}s)")
    if args.output is not None and world_rank() == 0:
        print(f"wrote {args.output / 'convergence.csv'} and {args.output / 'summary.json'}")
    return EXIT_SIGNALLED if result.status == "interrupted" else EXIT_OK


def world_rank() -> int:
    return world().rank


def add_checkpoint_commands(commands) -> None:
    checkpoint = commands.add_parser(
        "checkpoint", help="inspect, verify and export checkpoints",
        description="Inspect, verify and export the checkpoints a training writes.",
    )
    actions = checkpoint.add_subparsers(dest="action", metavar="ACTION", required=True)
    inspect = actions.add_parser("inspect", help="print what a checkpoint holds and verify it")
    inspect.add_argument("path", type=Path, metavar="FILE_OR_DIR",
                         help="a checkpoint (file or checkpoint directory), or a folder (its newest valid one)")
    export = actions.add_parser("export", help="write the cuts as a table (Parquet or CSV)")
    export.add_argument("path", type=Path, metavar="FILE_OR_DIR")
    export.add_argument("--output", "-o", type=Path, required=True, metavar="FILE",
                        help="cuts table: .parquet for Parquet, anything else for CSV")


def add_simulate_command(commands) -> None:
    simulate = commands.add_parser(
        "simulate", help="simulate a trained policy",
        description="Simulate the policy saved in a run's checkpoints on sampled scenarios; writes "
        "OUTPUT/simulation/ (Parquet, one row per scenario and stage) and OUTPUT/simulation_summary.json.",
    )
    add_case_argument(simulate, help="the case the policy was trained on: " + CASE_HELP)
    simulate.add_argument("--policy", type=Path, required=True, metavar="DIR",
                          help="a run directory (its checkpoints/) or a checkpoint directory")
    simulate.add_argument("--scenarios", "-n", type=positive_int, default=200, help="scenarios (default 200)")
    simulate.add_argument("--seed", "-s", type=non_negative_int, default=0, help="random seed (default 0)")
    simulate.add_argument("--variables", default="", metavar="NAMES",
                          help="comma-separated variable names to record per stage")
    simulate.add_argument("--duals", default="", metavar="NAMES",
                          help="comma-separated constraint names whose duals to record per stage")
    simulate.add_argument("--threads", "-t", type=positive_int, default=None, help="worker threads per process")
    simulate.add_argument("--output", "-o", type=Path, required=True, metavar="DIR")


def run_simulate(args: argparse.Namespace) -> int:
    problem = load_case(args.case, args.stages)[0].compile()
    checkpoint, warnings = load_latest(checkpoint_directory(args.policy))
    for warning in warnings:
        print(f"caudal: warning: {warning}", file=sys.stderr)
    if checkpoint is None:
        raise UsageError(f"{args.policy}: holds no valid checkpoint")
    policy = Policy(problem, restore_pools(checkpoint, problem))
    names = [v for v in args.variables.split(",") if v]
    duals = [d for d in args.duals.split(",") if d]
    result = simulate(policy, scenarios=args.scenarios, seed=args.seed, variables=names, duals=duals,
                      threads=args.threads, output=args.output)
    if world_rank() == 0:
        summary = result.summary()
        print(f"simulated {summary['scenarios']} scenarios of the policy in {checkpoint.path}")
        print("total cost: mean {mean:.4f}, std {std:.4f}, 5% {q05:.4f}, median {q50:.4f}, 95% {q95:.4f}".format(
            **summary))
        print(f"wrote {args.output / 'simulation'} and {args.output / 'simulation_summary.json'}")
    return EXIT_OK


def add_plot_commands(commands) -> None:
    plot = commands.add_parser("plot", help="PNG plots of a run or a simulation",
                               description="Plots a planner would rather look at than read.")
    kinds = plot.add_subparsers(dest="kind", metavar="KIND", required=True)
    convergence = kinds.add_parser("convergence", help="bounds per iteration (from convergence.csv)")
    convergence.add_argument("run", type=Path, metavar="RUN_DIR")
    fan = kinds.add_parser("fan", help="quantile fan of a simulated quantity over stages")
    fan.add_argument("run", type=Path, metavar="SIM_DIR", help="the --output of caudal simulate")
    fan.add_argument("--column", required=True,
                     help="state:NAME, var:NAME, dual:NAME, stage_cost, future_cost or discounted_cost")
    cuts = kinds.add_parser("cuts", help="a stage's cuts along one state")
    cuts.add_argument("run", type=Path, metavar="RUN_DIR", help="a run or checkpoint directory")
    cuts.add_argument("--stage", type=non_negative_int, required=True)
    cuts.add_argument("--state", required=True, help="the state along which to draw the cuts")
    for parser in (convergence, fan, cuts):
        parser.add_argument("--output", "-o", type=Path, default=None, metavar="PNG")


def run_plot(args: argparse.Namespace) -> int:
    if args.kind == "convergence":
        out = plots.plot_convergence(args.run, args.output)
    elif args.kind == "fan":
        out = plots.plot_fan(args.run, args.column, args.output)
    else:
        out = _plot_cuts(args)
    print(f"wrote {out}")
    return EXIT_OK


def _plot_cuts(args: argparse.Namespace) -> Path:
    checkpoint, _ = load_latest(checkpoint_directory(args.run))
    if checkpoint is None:
        raise UsageError(f"{args.run}: holds no valid checkpoint")
    if args.stage >= len(checkpoint.cut_pools) - 1:
        raise UsageError(f"--stage must be below {len(checkpoint.cut_pools) - 1} (the last stage has no cuts)")
    saved = checkpoint.cut_pools[args.stage]
    active = np.asarray(saved.active, dtype=bool)
    visited = checkpoint.visited_states[args.stage]
    names = tuple(checkpoint.case.state_names)
    if args.state not in names:
        raise UsageError(f"no state {args.state!r}; the states are {', '.join(names)}")
    column = visited[:, names.index(args.state)] if visited.shape[0] else np.array([0.0, 1.0])
    sign = checkpoint.case.sign
    out = args.output or args.run / f"cuts_stage{args.stage}_{args.state}.png"
    return plots.plot_cuts(
        sign * np.asarray(saved.intercepts)[active], sign * saved.dense_coefficients()[active], names, args.state,
        visited.mean(axis=0) if visited.shape[0] else np.zeros(len(names)), float(column.min()),
        float(column.max()), out, title=f"stage {args.stage}: {int(active.sum())} active cuts along {args.state}",
    )


def run_checkpoint(args: argparse.Namespace) -> int:
    path = args.path
    if path.is_dir() and not NAME_PATTERN.match(path.name):  # a run or checkpoint folder, not a checkpoint directory
        found, warnings = latest_valid(checkpoint_directory(path))
        for warning in warnings:
            print(f"caudal: warning: {warning}", file=sys.stderr)
        if found is None:
            raise UsageError(f"{path}: holds no valid checkpoint")
        path = found
    if args.action == "inspect":
        print(inspect_checkpoint(path))
    else:
        export_cuts(path, args.output)
        print(f"wrote the cuts of {path} to {args.output}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse_with_config(parser, argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    handlers = {"train": run_train, "checkpoint": run_checkpoint, "simulate": run_simulate, "plot": run_plot,
                "sweep": run_sweep_command, **profiling_handlers()}
    try:
        return handlers[args.command](args)
    except (UsageError, BadCase) as exc:  # a bad CASE, whichever command names it
        return fail(f"error: {exc}", EXIT_USAGE)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    except (ValueError, RuntimeError, OSError, CheckpointError) as exc:
        return fail(f"error: {exc}", EXIT_FAILED)


def fail(message: str, status: int) -> int:
    """Report an error once; on a multi-rank run, end every rank with it.

    A rank that returned quietly would leave the others blocked in their next
    collective, so under MPI the failing rank aborts the whole job.
    """
    if launched_by_mpi() and world().size > 1:
        comm = world()
        print(f"caudal: rank {comm.rank} of {comm.size}: {message}", file=sys.stderr, flush=True)
        comm.abort(status)
    print(f"caudal: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
