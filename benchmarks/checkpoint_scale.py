"""Checkpoints at production size: write, verify and resume time and size, beside numpy.save of the same arrays.

A synthetic national-size policy, 10,000 dense cuts per stage over 120 stages
of 200 states (about 1.9 GB of coefficients, beyond the 2 GiB limit of one
FlatBuffer), is written as a checkpoint directory and read back; the same
arrays are written with ``numpy.save`` (one ``.npy`` file per array, each
fsynced: the disk's own speed) and read back with ``numpy.load``. Each repeat
runs both side by side, alternating which goes first, and deletes both copies
before the next; times are medians. The resumed pools are compared with the
saved ones bit for bit.

    python benchmarks/checkpoint_scale.py                              # full size (~2 GB a copy: check df -h)
    python benchmarks/checkpoint_scale.py --cuts 1000 --stages 24      # reduced
    python benchmarks/checkpoint_scale.py --cuts 1000 --layout file    # one file, under 2 GiB
    python benchmarks/checkpoint_scale.py --directory /scratch/me      # the file system the runs will use

Columns: ``write`` = encode + write + fsync of every file + rename + fsync of
the directories; ``verify`` = read_checkpoint (every stage file mapped,
hashed and checked against the manifest, arrays decoded as views); ``resume``
= what a resume does (``read_checkpoint(defer_stages=True)`` and
``restore_pools``: each stage file read, hashed and copied into its pool, one
after the other), compared with numpy.load of the same arrays. ``restore_state``
(with ``--full-restore``) adds the stage LPs' working sets and LPs, which is
not I/O. Files written just before are read from the page cache, for both.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import describe_machine, load_average

import caudal
from caudal.checkpoint import read_checkpoint, restore_pools, restore_state, write_checkpoint
from caudal.checkpoint.files import fsync_directory
from caudal.model.problem import CompiledProblem
from caudal.sddp.training import IterationRecord, TrainingOptions, TrainingState


def synthetic_problem(stages: int, states: int) -> CompiledProblem:
    """``states`` reservoirs sharing one demand: a stage LP with ``states`` state columns."""
    problem = caudal.Problem(name=f"synthetic {states} reservoirs")
    for _ in range(stages):
        stage = problem.add_stage(discount=0.99)
        inflow = stage.add_uncertain("inflow", [5.0, 20.0])
        thermal = stage.add_variable("thermal", cost=100.0)
        releases = {}
        for k in range(states):
            reservoir = stage.add_state(f"r{k}", lower=0, upper=100, initial=50)
            release = stage.add_variable(f"release{k}", upper=30)
            releases[release] = 1.0
            stage.add_constraint({reservoir.out: 1, release: 1, reservoir.incoming: -1}, "==", inflow)
        stage.add_constraint({**releases, thermal: 1}, "==", 10.0 * states)
    return problem.compile()


def synthetic_state(problem: CompiledProblem, cuts: int, visited_rows: int, seed: int = 0) -> TrainingState:
    """A state with ``cuts`` dense random cuts at every stage but the last, as after 50 iterations."""
    state = TrainingState.fresh(problem)  # stage LPs without cuts: building 10,000-cut LPs is not the point
    rng = np.random.default_rng(seed)
    iterations = 50
    per_iteration = max(1, cuts // iterations)
    for t, pool in enumerate(state.pools[:-1]):
        coefficients = rng.standard_normal((cuts, problem.n_states))
        iteration = np.arange(cuts, dtype=np.int64) // per_iteration
        pool.add(rng.standard_normal(cuts), coefficients, iteration, np.arange(cuts) % per_iteration)
        pool.active[rng.random(cuts) < 0.3] = False
        state.visited[t].add(rng.uniform(0, 100, size=(visited_rows, problem.n_states)))
    state.history = [IterationRecord(i + 1, 1e6 + i, 2e6, 1.9e6, 2.1e6, 60.0 * i, 1000 * i) for i in range(iterations)]
    state.iteration = iterations
    return state


def arrays_of(state: TrainingState) -> list[list[np.ndarray]]:
    """The arrays a checkpoint holds, stage by stage, for numpy.save."""
    stages = []
    for t, pool in enumerate(state.pools):
        arrays = [getattr(pool, name) for name in ("intercepts", "coefficients", "iteration", "forward_pass",
                                                   "active", "targets")]
        arrays += [state.visited[t].states, state.cache.bases[t].col_status, state.cache.bases[t].row_status]
        stages.append(arrays)
    return stages


def numpy_save(directory: Path, stages: list[list[np.ndarray]]) -> None:
    """One file per stage, as many as the checkpoint's, each array ``np.save``d into it in turn; fsynced."""
    directory.mkdir()
    for t, arrays in enumerate(stages):
        with open(directory / f"stage-{t:04d}.npy", "wb") as stream:
            for array in arrays:
                np.save(stream, array)
            stream.flush()
            os.fsync(stream.fileno())
    fsync_directory(directory)
    fsync_directory(directory.parent)


def numpy_load(directory: Path, stages: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    loaded = []
    for t, arrays in enumerate(stages):
        with open(directory / f"stage-{t:04d}.npy", "rb") as stream:
            loaded.append([np.load(stream) for _ in arrays])
    return loaded


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def timed(action):
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=120)
    parser.add_argument("--states", type=int, default=200)
    parser.add_argument("--cuts", type=int, default=10_000, help="cuts per stage (all but the last)")
    parser.add_argument("--visited", type=int, default=200, help="visited-state rows per stage")
    parser.add_argument("--threads", type=int, default=2, help="threads writing and verifying stage files")
    parser.add_argument("--layout", choices=("directory", "file"), default="directory",
                        help="file: one FlatBuffer, for comparison at reduced sizes (under 2 GiB)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--directory", type=Path, default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--full-restore", action="store_true", help="also time restore_state (stage LPs)")
    args = parser.parse_args()

    print(describe_machine())
    started = time.perf_counter()
    problem = synthetic_problem(args.stages, args.states)
    state = synthetic_state(problem, args.cuts, args.visited)
    options = TrainingOptions(iterations=100, forward_passes=200, seed=0)
    arrays = arrays_of(state)
    payload = sum(a.nbytes for stage in arrays for a in stage)
    print(f"synthetic policy: {args.stages} stages x {args.cuts:,} cuts x {problem.n_states} states "
          f"({sum(p.size for p in state.pools):,} cuts, {args.visited} visited rows a stage); "
          f"{payload / 1e9:.3f} GB of arrays; built in {time.perf_counter() - started:.1f} s")
    print(f"checkpoint: {args.layout} layout, {args.threads} thread(s); numpy: one file per stage, np.save of each "
          f"array, fsync (one thread); "
          f"medians of {args.repeats}, alternating order; load average before: {load_average()}")
    rows: dict[str, list[float]] = {key: [] for key in (
        "write", "verify", "resume", "restore_state", "np.save", "np.load", "size", "np size")}
    with tempfile.TemporaryDirectory(dir=args.directory) as tmp:
        base = Path(tmp)
        for repeat in range(args.repeats):
            order = ("checkpoint", "numpy") if repeat % 2 == 0 else ("numpy", "checkpoint")
            for which in order:
                if which == "numpy":
                    target = base / "npy"
                    seconds, _ = timed(lambda target=target: numpy_save(target, arrays))
                    rows["np.save"].append(seconds)
                    rows["np size"].append(size_of(target))
                    seconds, loaded = timed(lambda target=target: numpy_load(target, arrays))
                    rows["np.load"].append(seconds)
                    del loaded
                    shutil.rmtree(target)
                else:
                    folder = base / "checkpoints"
                    seconds, path = timed(lambda folder=folder: write_checkpoint(
                        folder, state, options, as_directory=args.layout == "directory", threads=args.threads))
                    rows["write"].append(seconds)
                    rows["size"].append(size_of(path))
                    seconds, _ = timed(lambda path=path: read_checkpoint(path))
                    rows["verify"].append(seconds)
                    seconds, pools = timed(
                        lambda path=path: restore_pools(read_checkpoint(path, defer_stages=True), problem))
                    rows["resume"].append(seconds)
                    if repeat == 0:
                        same = all(a.coefficients.tobytes() == b.coefficients.tobytes()
                                   and a.intercepts.tobytes() == b.intercepts.tobytes()
                                   and a.active.tobytes() == b.active.tobytes()
                                   for a, b in zip(state.pools, pools, strict=True))
                        print(f"resumed pools bit-identical to the saved ones: {same}")
                    del pools
                    if args.full_restore:
                        seconds, _ = timed(lambda path=path: restore_state(read_checkpoint(path), problem, options))
                        rows["restore_state"].append(seconds)
                    shutil.rmtree(folder)
            print(f"  repeat {repeat + 1}: write {rows['write'][-1]:.2f} s, np.save {rows['np.save'][-1]:.2f} s, "
                  f"verify {rows['verify'][-1]:.2f} s, resume {rows['resume'][-1]:.2f} s, "
                  f"np.load {rows['np.load'][-1]:.2f} s; load average {load_average()}")
    med = {key: statistics.median(values) for key, values in rows.items() if values}
    print(f"{'':>22} {'checkpoint':>11} {'numpy':>9} {'ratio':>7}")
    print(f"{'size (GB)':>22} {med['size'] / 1e9:>11.3f} {med['np size'] / 1e9:>9.3f} "
          f"{med['size'] / med['np size']:>7.2f}")
    print(f"{'write s (np.save)':>22} {med['write']:>11.2f} {med['np.save']:>9.2f} "
          f"{med['write'] / med['np.save']:>7.2f}")
    print(f"{'verify s (np.load)':>22} {med['verify']:>11.2f} {med['np.load']:>9.2f} "
          f"{med['verify'] / med['np.load']:>7.2f}")
    print(f"{'resume s (np.load)':>22} {med['resume']:>11.2f} {med['np.load']:>9.2f} "
          f"{med['resume'] / med['np.load']:>7.2f}")
    print(f"write throughput {med['size'] / med['write'] / 1e6:.0f} MB/s, "
          f"np.save {med['np size'] / med['np.save'] / 1e6:.0f} MB/s; load average after: {load_average()}")
    if "restore_state" in med:
        print(f"restore_state (pools, working sets, stage LPs, bases): {med['restore_state']:.2f} s")


if __name__ == "__main__":
    main()
