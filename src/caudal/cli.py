"""The ``caudal`` command line: a thin face over :mod:`caudal.api`.

Exit statuses: see :data:`EXIT_STATUSES` (also in ``caudal --help``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from caudal import plots
from caudal._version import __version__
from caudal.api import Policy, TrainingResult, load_policy, simulate, train
from caudal.arguments import (
    CASE_HELP,
    CommandParser,
    UsageError,
    add_case_argument,
    add_checkpoint_schedule,
    add_training_options,
    non_negative_int,
    opening_chunk,
    positive_float,
    positive_int,
    seed,
)
from caudal.cases import EMBEDDED_CASES, BadCase, TrainingDefaults, case_location, described, resolve_case
from caudal.checkpoint import export_cuts, inspect_checkpoint, latest_valid, load_latest
from caudal.checkpoint.during_training import checkpoint_directory
from caudal.checkpoint.errors import CheckpointError
from caudal.checkpoint.files import NAME_PATTERN
from caudal.checkpoint.run_lock import RunFolderLocked, RunFolderUnusable, run_folders_locked_by_leader
from caudal.checkpoint.tools import EXPORT_FORMATS
from caudal.config import add_config_option, parse_with_config
from caudal.doctor import add_doctor_command, run_doctor
from caudal.log_destination import add_log_options, log_destination, show_case_warnings_as_log_lines
from caudal.model.problem import Problem, ProblemError
from caudal.parallel.comm import cores_available, launched_by_mpi, world
from caudal.parallel.rank_guard import explained, launcher_rank_and_size, needs_guard, phase, run_guarded
from caudal.parallel.signals import EXIT_INTERRUPTED, EXIT_SIGNALLED, StopSignals, exit_status_without_checkpoint
from caudal.profiling.commands import (
    add_profiling_commands,
    add_profiling_options,
    profiling_handlers,
    profiling_keywords,
)
from caudal.run_folder import RunFolderNotEmpty
from caudal.sddp.free_heap import compacted
from caudal.sddp.sampling import OutOfSample
from caudal.sddp.warm_start import WarmStartError, warm_start_pools
from caudal.solver.workspace import SolverError
from caudal.sweep.command import add_sweep_command, run_sweep_command
from caudal.training_log import counted

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

EXIT_STATUSES = {
    EXIT_OK: "success (caudal sweep: every variant done)",
    EXIT_FAILED: "the run failed: solver, data, checkpoint (caudal sweep: some variant failed or timed out)",
    EXIT_USAGE: "bad arguments, a bad --config file or a bad case, a run folder in use or unwritable, "
    "nothing to resume from",
    EXIT_SIGNALLED: "stopped by SIGTERM/SIGUSR1 after writing a checkpoint: run again with --resume",
    EXIT_INTERRUPTED: "interrupted from the keyboard (Ctrl-C; after a checkpoint when the run writes them)",
    143: "stopped by SIGTERM (138: SIGUSR1) with no checkpoint written: nothing to resume",
}
"""What ``caudal`` exits with; shown by ``caudal --help`` and documented in docs/cli.md."""


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
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
    train.add_argument("--opening-chunk", type=opening_chunk, default=0, metavar="N|auto",
                       help="split each backward trial state's openings into work items of N openings, so one "
                       "forward pass keeps every thread busy (default 0: no split; auto: two halves when a "
                       "stage has 10 openings or more)")
    train.add_argument("--multi-cut", action="store_true",
                       help="one value-function column (and cut) per opening of the next stage instead of one "
                       "averaged cut: fewer iterations, larger LPs; pays with few openings and many states")
    add_study_options(train)
    add_profiling_options(train)
    add_profiling_commands(commands)
    group = train.add_argument_group("checkpoints")
    group.add_argument("--resume", type=Path, default=None, metavar="DIR",
                       help="continue from the newest valid checkpoint in DIR (a run's --output or its checkpoints/)")
    group.add_argument("--warm-start", type=Path, default=None, metavar="DIR",
                       help="start from the cuts of the policy in DIR (a run of the same states: same case, "
                       "or a horizon at least as long, or other openings); see docs/howto/warm-start.md")
    group.add_argument("--checkpoint-dir", type=Path, default=None, metavar="DIR",
                       help="where to write checkpoints (default: OUTPUT/checkpoints when --output is given)")
    group.add_argument("--overwrite", action="store_true",
                       help="train into an --output or --checkpoint-dir that holds an earlier run (other than the one "
                       "--resume continues): delete caudal's files there first (files caudal did not write are "
                       "kept); without it, refused")
    add_checkpoint_schedule(group)
    add_checkpoint_commands(commands)
    add_simulate_command(commands)
    add_plot_commands(commands)
    add_sweep_command(commands)
    add_doctor_command(commands)
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
    except BadCase:
        raise
    except Exception as exc:  # a Python case's own code failed: name the file and the line
        raise UsageError(f"{case}: build_problem() raised {described(exc)}") from None


def run_train(args: argparse.Namespace) -> int:
    # train() turns walltime signals and Ctrl-C into a clean stop while it runs;
    # outside it (loading the case, writing the last files) a signal must not be
    # lost either: it is held here, train() starts with it and stops after its
    # first iteration, and the exit status says whether a checkpoint was written.
    with StopSignals(keyboard=True, announce=world_rank() == 0, hand_down=True) as signals:
        result = _run_train(args)
    if signals.received is None:
        return EXIT_OK
    checkpointed = (args.output is not None or args.checkpoint_dir is not None) and result.iterations > 0
    if signals.received == signal.SIGINT:
        return EXIT_INTERRUPTED
    if checkpointed:
        return EXIT_SIGNALLED
    if world_rank() == 0:
        print(f"caudal: stopped by {signals.name} with no checkpoint written (no --output or --checkpoint-dir, "
              "or before the first iteration): there is nothing to resume", file=sys.stderr)
    return exit_status_without_checkpoint(signals.received)


def warn_about_threads(threads: int | None) -> None:
    """Warn (rank 0) when ``--threads`` asks for more threads than this process has cores: they would share them."""
    cores = cores_available()
    if threads is not None and threads > cores and world_rank() == 0:
        print(f"caudal: warning: --threads {threads} but this process may use {cores} "
              f"core{'' if cores == 1 else 's'}: the threads will share them (slower, not faster)", file=sys.stderr)


def _run_train(args: argparse.Namespace) -> TrainingResult:
    warn_about_threads(args.threads)
    args.case = case_location(args.case)  # 1dtoy: the shipped example's directory
    phase(f"loading the case {args.case}")
    problem, defaults = load_case(args.case, args.stages)
    warm_start = _warm_start_policy(args.warm_start, problem) if args.warm_start is not None else None
    sampling = OutOfSample(defaults.forward_realisations) if defaults.forward_realisations is not None else None
    if sampling is None:
        # Compiled here, as train() would compile it, so that the builders can go: their per-stage
        # Python structures (some 45 MB at the national size) would otherwise stay alive beside the
        # stage templates for the whole training. Out-of-sample sampling compiles from the Problem.
        problem = problem.compile(release_builders=True)
        # ... and the compiled problem's small objects, born among the builders' temporaries, are
        # re-created so that the arenas the builders filled can go back to the system (44 MB nationally).
        problem = compacted(problem)
    phase("training")
    # One run per folder (a sweep's retries are the sweep's business); taking the lock also proves the
    # folders writable before any work. Options not given on the command line come from a Cobre case's
    # config.json, else caudal's defaults.
    folders = [folder for folder in (args.output, args.checkpoint_dir) if folder is not None]
    with run_folders_locked_by_leader(folders, world()), _first_stage_failure_explained(args.case):
        result = train(
            problem,
            iterations=args.iterations if args.iterations is not None else defaults.iterations,
            forward_passes=args.forward_passes if args.forward_passes is not None else defaults.forward_passes,
            seed=args.seed if args.seed is not None else defaults.seed,
            threads=args.threads,
            time_limit=args.time_limit if args.time_limit is not None else defaults.time_limit,
            sampling=sampling,
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
            warm_start=warm_start,
            overwrite=args.overwrite,
            handle_signals=True,
        )
    if args.quiet and world_rank() == 0:
        print(f"bound {result.lower_bound:.6f} after {counted(result.iterations, 'iteration')} "
              f"({result.status}, {result.training_time:.2f}s of training)")
    if args.output is not None and world_rank() == 0:
        print(f"wrote {args.output / 'convergence.csv'} and {args.output / 'summary.json'}")
    if result.status != "interrupted" and _is_cobre_case(args.case):
        from caudal.hydro.cobre.run import simulate_after_training  # config.json's simulation, Cobre's tables

        line = simulate_after_training(args.case, result.policy, args.output, threads=args.threads,
                                       write=world_rank() == 0)
        if line is not None and world_rank() == 0:
            print(line)
    phase("finishing")
    return result


@contextlib.contextmanager
def _first_stage_failure_explained(case: str) -> Iterator[None]:
    """A Cobre case's first stage that cannot be solved: say which plants start below their minimum storage.

    The case is refused before training when a plant certainly cannot fill up to it; when that could not be
    decided from the data (evaporation, the opening drawn), the failure names the plants that must fill.
    """
    try:
        yield
    except SolverError as exc:
        if exc.failure.stage != 0 or not _is_cobre_case(case):
            raise
        from caudal.hydro.cobre.first_stage_fill import below_minimum_note

        note = below_minimum_note(case)
        if note is None:
            raise
        raise RuntimeError(f"{exc}; {note}") from exc


def _is_cobre_case(case: str) -> bool:
    """Whether CASE is a Cobre directory (checked without running a Python case's file again)."""
    return Path(case).is_dir() and resolve_case(case).kind == "cobre"


def _warm_start_policy(path: Path, problem: Problem) -> Policy:
    """The policy in ``path``, checked against ``problem``'s states; a usage error (exit 2) if it does not fit."""
    try:
        policy = load_policy(path)
        warm_start_pools(problem.compile(), policy.problem, policy.cut_pools)
    except (CheckpointError, WarmStartError) as exc:
        raise UsageError(f"--warm-start {path}: {exc}") from None
    return policy


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
    export = actions.add_parser("export", help="write the cuts as a table (Parquet, CSV or JSON)")
    export.add_argument("path", type=Path, metavar="FILE_OR_DIR")
    export.add_argument("--output", "-o", type=Path, required=True, metavar="FILE",
                        help="cuts table: .parquet, .csv or .json (another extension is refused)")


def add_simulate_command(commands) -> None:
    simulate = commands.add_parser(
        "simulate", help="simulate a trained policy",
        description="Simulate the policy saved in a run's checkpoints on sampled scenarios; writes "
        "OUTPUT/simulation/ (Parquet, one row per scenario and stage) and OUTPUT/simulation_summary.json.",
    )
    add_case_argument(simulate, help="the case the policy was trained on (default: the checkpoint's, when it is "
                      "embedded): " + CASE_HELP)
    simulate.set_defaults(case=None)  # from the checkpoint; --stages likewise
    simulate.add_argument("--policy", type=Path, required=True, metavar="DIR",
                          help="a run directory (its checkpoints/) or a checkpoint directory")
    simulate.add_argument("--scenarios", "-n", type=positive_int, default=None,
                          help="scenarios (default: a Cobre case's simulation.num_scenarios, else 200)")
    simulate.add_argument("--seed", "-s", type=seed, default=0, help="random seed (default 0)")
    simulate.add_argument("--variables", default="", metavar="NAMES",
                          help="comma-separated variable names to record per stage")
    simulate.add_argument("--duals", default="", metavar="NAMES",
                          help="comma-separated constraint names whose duals to record per stage")
    simulate.add_argument("--threads", "-t", type=positive_int, default=None, help="worker threads per process")
    simulate.add_argument("--output", "-o", type=Path, required=True, metavar="DIR")


def run_simulate(args: argparse.Namespace) -> int:
    warn_about_threads(args.threads)
    if args.case is not None:
        resolve_case(args.case)  # a bad CASE is named first, whatever the policy
    policy = _simulated_policy(args)
    problem = policy.problem
    names = [v.strip() for v in args.variables.split(",") if v.strip()]
    duals = [d.strip() for d in args.duals.split(",") if d.strip()]
    from caudal.sddp.simulation import check_names  # late: the simulation module imports pyarrow

    try:
        check_names(problem, names, duals)
    except ValueError as exc:
        raise UsageError(f"--variables/--duals: {exc}") from None
    scenarios = args.scenarios
    if scenarios is None and _is_cobre_case(args.case):
        from caudal.hydro.cobre.run import simulation_scenarios

        scenarios = simulation_scenarios(args.case) or None
    result = simulate(policy, scenarios=scenarios or 200, seed=args.seed, variables=names, duals=duals,
                      threads=args.threads, output=args.output)
    if world_rank() == 0:
        summary = result.summary()
        print(f"simulated {summary['scenarios']} scenarios of the policy in {policy.source}")
        print("total cost: mean {mean:.4f}, std {std:.4f}, 5% {q05:.4f}, median {q50:.4f}, 95% {q95:.4f}".format(
            **summary))
        print(f"wrote {args.output / 'simulation'} and {args.output / 'simulation_summary.json'}")
    return EXIT_OK


def _simulated_policy(args: argparse.Namespace) -> Policy:
    """The policy of the newest usable checkpoint in ``--policy``, for CASE (else the case it was trained on).

    A checkpoint directory is streamed stage file by stage file into the pools
    (the cuts held once); a damaged one is skipped with a warning naming the
    file. A policy of another case or horizon is a usage error saying so.
    """
    from caudal.checkpoint.policy_load import load_newest_policy

    def problem_for(checkpoint):
        args.case = case_location(args.case or _trained_case(args.policy, checkpoint.case.name))
        return load_case(args.case, _trained_stages(args, checkpoint.case))[0].compile()

    try:
        loaded = load_newest_policy(checkpoint_directory(args.policy), problem_for)
    except CheckpointError as exc:
        if exc.kind == "fingerprint":  # the policy of another case or horizon: a usage error
            raise UsageError(f"CASE {args.case} does not fit --policy {args.policy}: {exc}") from None
        raise UsageError(f"--policy {args.policy}: {exc}") from None
    for warning in loaded.warnings:
        print(f"caudal: warning: {warning}", file=sys.stderr)
    return Policy(loaded.problem, loaded.pools, source=str(loaded.checkpoint.path))


def _trained_case(policy: Path, name: str) -> str:
    """The CASE a checkpoint was trained on, when its name alone finds it (an embedded case)."""
    if name in EMBEDDED_CASES:
        return name
    raise UsageError(f"--policy {policy} was trained on the case {name!r}, which is not embedded: "
                     "give its Python file or Cobre directory as CASE")


def _trained_stages(args: argparse.Namespace, case) -> int | None:
    """``--stages``, else the checkpoint's horizon; a ``--stages`` the policy was not trained on is refused."""
    if args.stages is not None and args.stages != case.n_stages:
        raise UsageError(f"--stages {args.stages}, but the policy in {args.policy} was trained on "
                         f"{case.n_stages} stages of {case.name!r} (leave --stages out: the checkpoint says it)")
    return args.stages if args.stages is not None or not resolve_case(args.case).takes_stages() else case.n_stages


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
    fan.add_argument("--spaghetti", type=non_negative_int, default=0, metavar="N",
                     help="also draw N scenarios' trajectories in a panel beside the fan (default 0: none)")
    cuts = kinds.add_parser("cuts", help="a stage's cuts along one state")
    cuts.add_argument("run", type=Path, metavar="RUN_DIR", help="a run or checkpoint directory")
    cuts.add_argument("--stage", type=positive_int, required=True, help="the stage, counted from 1")
    cuts.add_argument("--state", required=True, help="the state along which to draw the cuts")
    for parser in (convergence, fan, cuts):
        parser.add_argument("--output", "-o", type=Path, default=None, metavar="PNG")


def run_plot(args: argparse.Namespace) -> int:
    if args.kind == "convergence":
        out = plots.plot_convergence(args.run, args.output)
    elif args.kind == "fan":
        try:
            out = plots.plot_fan(args.run, args.column, args.output, spaghetti=args.spaghetti)
        except plots.UnknownColumn as exc:
            raise UsageError(str(exc)) from None
    else:
        out = _plot_cuts(args)
    print(f"wrote {out}")
    return EXIT_OK


def _plot_cuts(args: argparse.Namespace) -> Path:
    checkpoint, _ = load_latest(checkpoint_directory(args.run))
    if checkpoint is None:
        raise UsageError(f"{args.run}: holds no valid checkpoint")
    if args.stage >= len(checkpoint.cut_pools):  # stages count from 1; pool t - 1 holds stage t's cuts
        raise UsageError(f"--stage must be 1..{len(checkpoint.cut_pools) - 1} (the last stage has no cuts)")
    saved = checkpoint.cut_pools[args.stage - 1]
    active = np.asarray(saved.active, dtype=bool)
    visited = checkpoint.visited_states[args.stage - 1]
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
    if args.action == "export" and args.output.suffix.lower() not in EXPORT_FORMATS:
        raise UsageError(f"--output {args.output}: name the cut table *.parquet, *.csv or *.json "
                         "(its extension chooses the format)")
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
    if argv is None and launched_by_mpi() and needs_guard():
        # a rank of a multi-rank job: a guard process names it should it die without a word (rank_guard)
        guard_status = run_guarded(*launcher_rank_and_size())
        if guard_status is not None:
            return guard_status
    show_case_warnings_as_log_lines(launcher_rank_and_size()[0])
    try:
        parser = build_parser()
        args = parse_with_config(parser, argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        handlers = {"train": run_train, "checkpoint": run_checkpoint, "simulate": run_simulate, "plot": run_plot,
                    "sweep": run_sweep_command, "doctor": run_doctor, **profiling_handlers()}
        return run_handler(handlers[args.command], args)
    finally:
        explained()  # whatever the status, this rank has said why (argparse too, on its way out)


def run_handler(handler, args: argparse.Namespace) -> int:
    """Run a command; any exception becomes one line and an exit status, on every rank (see :func:`fail`)."""
    try:
        return handler(args)
    except (UsageError, BadCase, ProblemError, RunFolderLocked, RunFolderUnusable, RunFolderNotEmpty) as exc:
        return fail(f"error: {exc}", EXIT_USAGE)  # ProblemError: also a size refused with its figure
    except CheckpointError as exc:  # none to resume from, or one of other options: a bad --resume (or --policy)
        return fail(f"error: {exc}", EXIT_USAGE if exc.kind in ("missing", "fingerprint") else EXIT_FAILED)
    except BrokenPipeError:  # `caudal checkpoint inspect R | head`: the reader has gone, nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's last flush does not fail again
        return EXIT_OK
    except KeyboardInterrupt:  # a second Ctrl-C
        return fail("interrupted", EXIT_INTERRUPTED)
    except ModuleNotFoundError as exc:  # an extra left out: matplotlib for plots
        if exc.name != "matplotlib":
            return fail(f"error: {described(exc)}", EXIT_FAILED)
        from caudal.plots import MATPLOTLIB_MISSING

        return fail(f"error: caudal {args.command} {MATPLOTLIB_MISSING}", EXIT_USAGE)
    except (ValueError, RuntimeError, OSError) as exc:
        return fail(f"error: {exc}", EXIT_FAILED)
    except Exception as exc:  # a bug, or something no caudal module expects: still one line, on every rank
        return fail(f"error: {described(exc)}", EXIT_FAILED)


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
