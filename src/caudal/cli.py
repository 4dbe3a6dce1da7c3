"""The ``caudal`` command line: a thin face over :mod:`caudal.api`.

Exit statuses: 0 success, 1 the run failed (solver, data), 2 bad arguments or a
bad case.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

EMBEDDED_CASES = ("brazil4",)
DEFAULT_CASE = "brazil4"
DEFAULT_ITERATIONS = 50
DEFAULT_STAGES = 12


class UsageError(Exception):
    """Bad arguments or a bad case: reported in one line, exit status 2."""


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="caudal",
        description="Train and use SDDP policies for multistage stochastic linear problems "
        "(long-term hydrothermal dispatch and others), on a laptop or under mpiexec/srun.",
        epilog="Run 'caudal COMMAND --help' for a command's options.",
    )
    from caudal import __version__
    from caudal.profiling.cli import add_profiling_commands, add_profiling_options

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
    train.add_argument(
        "case",
        nargs="?",
        default=DEFAULT_CASE,
        metavar="CASE",
        help=f"an embedded case ({', '.join(EMBEDDED_CASES)}) or a Python file defining "
        f"build_problem() -> caudal.Problem (default: {DEFAULT_CASE})",
    )
    train.add_argument(
        "--iterations", "-n", type=positive_int, default=None,
        help=f"iteration limit (default: a Cobre case's config.json, else {DEFAULT_ITERATIONS})",
    )
    train.add_argument(
        "--forward-passes", "-m", type=positive_int, default=None,
        help="forward passes (trial states) per iteration (default: a Cobre case's config.json, else 1)",
    )
    train.add_argument("--seed", "-s", type=non_negative_int, default=None,
                       help="random seed (default: a Cobre case's tree_seed, else 0)")
    train.add_argument(
        "--threads", "-t", type=positive_int, default=None,
        help="worker threads per process (default: the cores this process may use)",
    )
    train.add_argument("--time-limit", type=positive_float, default=None, metavar="SECONDS",
                       help="stop after the iteration during which this many seconds have passed")
    train.add_argument("--output", "-o", type=Path, default=None, metavar="DIR",
                       help="write convergence.csv and summary.json into DIR")
    train.add_argument("--stages", type=positive_int, default=None,
                       help=f"horizon of an embedded case (default {DEFAULT_STAGES})")
    train.add_argument("--solver", choices=("auto", "native", "highspy"), default="auto",
                       help="LP kernel: native (Cython over the HiGHS C API), highspy (reference), "
                       "auto (native when built; default)")
    train.add_argument("--quiet", "-q", action="store_true", help="print only the final summary")
    add_profiling_options(train)
    add_profiling_commands(commands)
    return parser


def load_case(case: str, stages: int | None):
    """The problem named by CASE."""
    if case in EMBEDDED_CASES:
        from caudal import examples

        return getattr(examples, case)(stages=stages or DEFAULT_STAGES)
    path = Path(case)
    if stages is not None:
        raise UsageError("--stages applies to embedded cases only")
    if path.suffix == ".py" and path.is_file():
        namespace = runpy.run_path(str(path))
        builder = namespace.get("build_problem")
        if builder is None:
            raise UsageError(f"{path}: defines no build_problem() function")
        return builder()
    if path.is_dir():
        from caudal.hydro.cobre import load_case as load_cobre_case

        return load_cobre_case(path).problem
    raise UsageError(
        f"{case}: no such case; expected one of {', '.join(EMBEDDED_CASES)} or a Python file "
        "defining build_problem()"
    )


def run_train(args: argparse.Namespace) -> int:
    from caudal.api import train
    from caudal.hydro.cobre import training_defaults
    from caudal.model.problem import ProblemError
    from caudal.profiling.cli import profiling_keywords

    try:
        problem = load_case(args.case, args.stages)
        case_defaults = training_defaults(args.case) if args.case not in EMBEDDED_CASES else None
    except ProblemError as exc:
        raise UsageError(f"{args.case}: {exc}") from exc
    # Options not given on the command line come from a Cobre case's config.json, else caudal's defaults.
    iterations, forward_passes, seed, time_limit = (
        (case_defaults.iterations, case_defaults.forward_passes, case_defaults.seed, case_defaults.time_limit)
        if case_defaults is not None
        else (DEFAULT_ITERATIONS, 1, 0, None)
    )
    result = train(
        problem,
        iterations=args.iterations if args.iterations is not None else iterations,
        forward_passes=args.forward_passes if args.forward_passes is not None else forward_passes,
        seed=args.seed if args.seed is not None else seed,
        threads=args.threads,
        time_limit=args.time_limit if args.time_limit is not None else time_limit,
        output=args.output,
        log=not args.quiet,
        solver=args.solver,
        **profiling_keywords(args),
    )
    if args.quiet:
        print(f"bound {result.lower_bound:.6f} after {result.iterations} iterations "
              f"({result.status}, {result.wall_time:.2f}s)")
    if args.output is not None:
        print(f"wrote {args.output / 'convergence.csv'} and {args.output / 'summary.json'}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    handlers = {"train": run_train}
    from caudal.profiling.cli import profiling_handlers

    handlers.update(profiling_handlers())
    try:
        return handlers[args.command](args)
    except UsageError as exc:
        return fail(f"error: {exc}", EXIT_USAGE)
    except KeyboardInterrupt:
        return fail("interrupted", 130)
    except (ValueError, RuntimeError, OSError) as exc:
        return fail(f"error: {exc}", EXIT_FAILED)


def fail(message: str, status: int) -> int:
    """Report an error once; on a multi-rank run, end every rank with it.

    A rank that returned quietly would leave the others blocked in their next
    collective, so under MPI the failing rank aborts the whole job.
    """
    from caudal.parallel.comm import launched_by_mpi, world

    if launched_by_mpi() and world().size > 1:
        comm = world()
        print(f"caudal: rank {comm.rank} of {comm.size}: {message}", file=sys.stderr, flush=True)
        comm.abort(status)
    print(f"caudal: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
