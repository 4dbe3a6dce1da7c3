"""Checkpoint cost on brazil4: write, read and restore time and file size, next to iteration time.

Trains brazil4 (120 stages by default) in one process and, after each of the
given iteration counts, writes a checkpoint (median of a few writes, each
fsynced), reads and verifies it, and restores a training state from it. The
last columns compare the write with the iterations it protects: writing after
every iteration, and at the default schedule (every 10 iterations or 600 s,
whichever comes first). The issue's target is under 5% at the default schedule.

    python benchmarks/checkpoint_io.py                          # 120 stages, checkpoints at 10, 50, 100
    python benchmarks/checkpoint_io.py --stages 24 --at 5,10 --forward-passes 4
    python benchmarks/checkpoint_io.py --directory /scratch/me  # time the file system the runs will use
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from machine import describe_machine

from caudal.checkpoint import read_checkpoint, restore_state, write_checkpoint
from caudal.checkpoint.encode import encode_checkpoint
from caudal.checkpoint.schedule import DEFAULT_EVERY_ITERATIONS, DEFAULT_EVERY_SECONDS
from caudal.examples import brazil4
from caudal.parallel.workers import make_pool
from caudal.sddp.training import TrainingOptions, TrainingState, run_training


def median_seconds(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def iterations_between_checkpoints(iteration_s: float) -> int:
    """Iterations one checkpoint covers at the default schedule."""
    by_time = max(1, math.ceil(DEFAULT_EVERY_SECONDS / iteration_s)) if iteration_s > 0 else DEFAULT_EVERY_ITERATIONS
    return min(DEFAULT_EVERY_ITERATIONS, by_time)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=120)
    parser.add_argument("--openings", type=int, default=None, help="openings per stage (default: all 82)")
    parser.add_argument("--at", default="10,50,100", help="iteration counts at which to checkpoint")
    parser.add_argument("--forward-passes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--solver", default="auto")
    parser.add_argument("--repeats", type=int, default=3, help="writes and reads per measurement")
    parser.add_argument("--directory", type=Path, default=None, help="where to write (default: a temp dir)")
    args = parser.parse_args()
    targets = sorted(int(x) for x in args.at.split(","))

    problem = brazil4(stages=args.stages, openings=args.openings).compile()
    pool = make_pool(args.threads, args.solver)
    options = TrainingOptions(iterations=targets[-1], forward_passes=args.forward_passes, seed=0)
    state = TrainingState.fresh(problem)
    print(describe_machine())
    print(
        f"case: brazil4, {problem.n_stages} stages, {problem.n_states} states, "
        f"{problem.templates[-1].n_openings} openings, {problem.templates[0].num_cols} columns per stage; "
        f"{args.forward_passes} forward pass(es), {args.threads} thread(s), solver {pool.solver_name}"
    )
    print(
        f"default schedule: every {DEFAULT_EVERY_ITERATIONS} iterations or {DEFAULT_EVERY_SECONDS:g} s; "
        f"times are medians of {args.repeats}; write = encode + write + fsync + rename + fsync(dir)"
    )
    header = (
        f"{'iter':>5} {'cuts':>7} {'size MB':>8} {'encode ms':>10} {'write ms':>9} {'read ms':>8} "
        f"{'restore ms':>11} {'iter s':>8} {'write/iter':>11} {'at default':>11}"
    )
    print(header)
    with tempfile.TemporaryDirectory(dir=args.directory) as tmp:
        directory = Path(tmp)
        try:
            for target in targets:
                before = state.iteration
                run_training(state, pool, replace(options, iterations=target))
                iteration_s = _recent_iteration_seconds(state, before, target)
                print(measure(state, options, directory, iteration_s, args.repeats))
        finally:
            pool.close()


def measure(state: TrainingState, options: TrainingOptions, directory: Path, iteration_s: float, repeats: int) -> str:
    """One row of the table: the checkpoint of ``state`` written, read and restored."""
    encode_s = median_seconds(lambda: encode_checkpoint(state, options), repeats)
    write_s = median_seconds(lambda: write_checkpoint(directory, state, options), repeats)
    path = write_checkpoint(directory, state, options)
    read_s = median_seconds(lambda: read_checkpoint(path), repeats)
    checkpoint = read_checkpoint(path)
    restore_s = median_seconds(lambda: restore_state(checkpoint, state.problem, options), repeats)
    every = iterations_between_checkpoints(iteration_s)
    return (
        f"{state.iteration:>5} {checkpoint.n_cuts:>7} {path.stat().st_size / 1e6:>8.2f} {encode_s * 1e3:>10.1f} "
        f"{write_s * 1e3:>9.1f} {read_s * 1e3:>8.1f} {restore_s * 1e3:>11.1f} {iteration_s:>8.3f} "
        f"{100 * write_s / iteration_s:>10.2f}% {100 * write_s / (every * iteration_s):>10.2f}%"
    )


def _recent_iteration_seconds(state: TrainingState, before: int, target: int) -> float:
    """Mean wall time of the last (up to 5) iterations before ``target``."""
    history = state.history
    first = max(before, target - 5)
    start = history[first - 1].time_s if first > 0 else 0.0
    return (history[target - 1].time_s - start) / (target - first)


if __name__ == "__main__":
    main()
