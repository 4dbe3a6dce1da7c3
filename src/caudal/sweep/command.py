"""``caudal sweep``: its options (the same names as ``caudal train``'s) and what runs it."""

from __future__ import annotations

import argparse
from pathlib import Path

from caudal.arguments import (
    CASE_HELP,
    UsageError,
    add_case_argument,
    add_checkpoint_schedule,
    add_training_options,
    positive_float,
    positive_int,
)
from caudal.config import add_config_option
from caudal.log_destination import add_log_options
from caudal.sweep.grid import GridError, expand, merge_axes, parse_axis, table_axes
from caudal.sweep.run import SweepError, SweepRun, run_sweep
from caudal.sweep.variant_settings import Study, StudyError, check_names

DEFAULT_OUTPUT = Path("sweep")

DESCRIPTION = """\
Train many variants of one study on one allocation: the MPI world is split into
groups of --ranks-per-variant ranks and each free group trains the next variant.
A variant that fails or reaches its time limit is reported and tried once more
(continuing from its checkpoint) on the next free group; the others go on.
Results: OUTPUT/sweep.parquet (one row per variant) and a printed summary; each
variant's outputs, log and checkpoints are in OUTPUT/variants/NAME/."""

EPILOG = """\
grid parameters:
  iterations, forward_passes, seed, time_limit (seconds per attempt)
  alpha (CVaR(alpha)), alpha and lam (EAVaR(lam, alpha))
  stages and any keyword of the case's builder, e.g. brazil4's demand_scale, openings

examples:
  caudal sweep --grid demand_scale=0.9,1.0,1.1 --grid alpha=0.25,0.5 -n 100 -o runs/demand
  mpiexec -n 8 caudal sweep --config study.toml --ranks-per-variant 2
  srun caudal sweep --config study.toml --resume runs/demand     (after exit status 75)

exit statuses: 0 every variant done, 1 some variant failed or timed out (the table
is written) or the sweep failed, 2 bad arguments, 75 stopped by SIGTERM/SIGUSR1
(continue with --resume OUTPUT), 130 interrupted from the keyboard."""


def add_sweep_command(commands) -> argparse.ArgumentParser:
    sweep = commands.add_parser(
        "sweep", help="train many variants of a study (a parameter grid) on one allocation",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_case_argument(sweep, help=CASE_HELP + " (the grid's case parameters are its builder's keywords)")
    sweep.add_argument("--grid", "-g", action="append", default=[], metavar="KEY=V1,V2",
                       help="a parameter and its values (repeat for more axes; a..b for a range of integers); "
                       "every combination is a variant")
    sweep.add_argument("--ranks-per-variant", "-r", type=positive_int, default=1, metavar="N",
                       help="ranks that train each variant together (default 1)")
    add_training_options(sweep)
    sweep.add_argument("--threads", "-t", type=positive_int, default=None,
                       help="worker threads per process (default: the cores this process may use, shared among "
                       "the ranks of its node)")
    sweep.add_argument("--time-limit", type=positive_float, default=None, metavar="SECONDS",
                       help="each attempt at a variant stops after the iteration during which this many seconds "
                       "have passed; the variant is then retried once, continuing from its checkpoint")
    sweep.add_argument("--output", "-o", type=Path, default=None, metavar="DIR",
                       help=f"where sweep.parquet and the variants' folders go (default: ./{DEFAULT_OUTPUT})")
    sweep.add_argument("--solver", choices=("auto", "native", "highspy"), default="auto",
                       help="LP kernel: native, highspy or auto (native when built; default)")
    add_log_options(sweep)
    add_config_option(sweep, tables=("grid",))
    group = sweep.add_argument_group("checkpoints")
    group.add_argument("--resume", type=Path, default=None, metavar="DIR",
                       help="continue the sweep in DIR (its --output): finished variants end at once, the others "
                       "continue from their newest checkpoint")
    add_checkpoint_schedule(group, kept="checkpoints of each variant")
    control = sweep.add_argument_group("scheduling")
    control.add_argument("--grace", type=positive_float, default=120.0, metavar="SECONDS",
                         help="how long a rank that failed waits for the rest of its group before the group is "
                         "declared lost (default 120; more than an iteration plus a checkpoint write)")
    control.add_argument("--scheduler", choices=("auto", "thread", "rank"), default="auto",
                         help="where the scheduler runs: a thread of rank 0 (needs MPI_THREAD_MULTIPLE), rank 0 "
                         "alone, or auto (a thread when possible; default)")
    return sweep


def run_sweep_command(args: argparse.Namespace) -> int:
    try:
        file_axes = table_axes(args.config_tables.get("grid", {}), str(args.config))
        command_axes = dict(parse_axis(text) for text in args.grid)
        axes = merge_axes(file_axes, command_axes)
        study = Study(
            case=args.case, stages=args.stages, iterations=args.iterations, forward_passes=args.forward_passes,
            seed=args.seed, time_limit=args.time_limit, solver=args.solver, checkpoint_every=args.checkpoint_every,
            checkpoint_seconds=args.checkpoint_seconds, keep=args.keep,
        )
        check_names(study, [*axes, *(["stages"] if args.stages is not None else [])])
        output = sweep_output(args.output, args.resume)
        return run_sweep(SweepRun(
            study=study, variants=expand(axes), params=list(axes), output=output,
            ranks_per_variant=args.ranks_per_variant, threads=args.threads, resume=args.resume is not None,
            grace=args.grace, quiet=args.quiet, log_file=args.log_file, scheduler=args.scheduler,
        ))
    except (GridError, StudyError, SweepError) as exc:
        raise UsageError(str(exc)) from exc


def sweep_output(output: Path | None, resume: Path | None) -> Path:
    """Where the sweep writes; refuses to mix a new sweep into an old one's folders."""
    if resume is not None:
        if output is not None and output.resolve() != resume.resolve():
            raise UsageError(f"--resume {resume} continues the sweep there: --output {output} would differ")
        if not (resume / "variants").is_dir():
            raise UsageError(f"{resume}: holds no sweep to resume (no variants/ folder)")
        return resume
    output = output if output is not None else DEFAULT_OUTPUT
    variants = output / "variants"
    if variants.is_dir() and any(variants.iterdir()):
        raise UsageError(f"{output} holds an earlier sweep: continue it with --resume {output}, or choose another "
                         "--output")
    return output
