"""One attempt at one variant, on one group of ranks, with every error caught.

Every rank of the group calls :func:`run_attempt` with the same arguments; the
training runs with ``train(..., comm=group, on_error="raise")`` so that an
exception comes back here instead of aborting the whole job, and is turned into
a ``FAILED`` outcome the group then agrees on (see :mod:`caudal.sweep.control`).
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

from caudal.api import train
from caudal.checkpoint import latest_valid
from caudal.checkpoint.during_training import checkpoint_directory
from caudal.parallel.comm import Communicator
from caudal.sweep.grid import Variant
from caudal.sweep.scheduler import Attempt, Outcome
from caudal.sweep.variant_settings import Study, settings_for

TRAINING_LOG = "train.log"
"""Each variant's training log, in its folder (written by the group's first rank)."""


def variant_folder(output: Path, variant: Variant) -> Path:
    return output / "variants" / variant.slug


def can_resume(folder: Path) -> bool:
    """Whether the variant's folder holds a valid checkpoint to continue from."""
    checkpoints = checkpoint_directory(folder)
    return checkpoints.is_dir() and latest_valid(checkpoints)[0] is not None


def run_attempt(
    variant: Variant,
    number: int,
    study: Study,
    group: Communicator,
    group_index: int,
    folder: Path,
    threads: int,
    resume: bool,
) -> Attempt:
    """Train the variant; report how it ended on this rank, never raise (but for KeyboardInterrupt)."""
    log = None
    try:
        if group.rank == 0:
            folder.mkdir(parents=True, exist_ok=True)
            log = open(folder / TRAINING_LOG, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (closed below)
            print(f"--- attempt {number} ({'resuming' if resume else 'from the start'}) ---", file=log)
        settings = settings_for(study, variant)
        problem = settings.build_problem()
        result = train(
            problem,
            **settings.train_keywords(),
            threads=threads,
            output=folder,
            log=log if log is not None else False,
            resume=folder if resume else None,
            overwrite=True,  # an attempt from the start replaces the failed attempt's files
            handle_signals=True,
            on_error="raise",
            comm=group,
        )
    except Exception as exc:  # the sweep goes on: this variant is reported as failed
        message = f"{type(exc).__name__}: {exc}"
        if group.size > 1:  # the scheduler's line names the group, not the rank
            print(f"caudal sweep: variant {variant.index} ({variant.label}), attempt {number}, rank {group.rank} "
                  f"of group {group_index}: {message}", file=sys.stderr, flush=True)
        if log is not None:
            traceback.print_exc(file=log)
        return Attempt(variant.index, number, group_index, Outcome.FAILED, error=message)
    finally:
        if log is not None:
            log.close()
    last = result.history[-1] if result.history else None
    return Attempt(
        variant.index,
        number,
        group_index,
        outcome_of(result.status),
        iterations=result.iterations,
        bound=result.lower_bound,
        simulated=last.upper_bound_mean if last is not None else float("nan"),
        seconds=result.wall_time,
        lp_solves=last.lp_solves if last is not None else 0,
    )


def outcome_of(status: str) -> Outcome:
    """A training's status as the sweep sees it: only the time limit and a signal leave it unfinished."""
    if status == "interrupted":
        return Outcome.INTERRUPTED
    if status == "time_limit":
        return Outcome.TIMED_OUT
    return Outcome.DONE
