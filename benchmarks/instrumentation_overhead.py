"""Cost of the always-on profiler: the same training with profiling on and off, side by side, in one run.

Trainings alternate off, on, on, off, ... (so a drift in the machine's load
hits both alike) on the same case, seed, iterations, forward passes and
threads; each writes its output directory (checkpoints too), only
``profile=`` differs. Reported: time per iteration (the training's own clock,
``history[-1].time_s / iterations``) for each, the difference of the medians
and the median of the paired differences; then what the profiler accounts
for itself (its own seconds in ``profile.parquet`` plus the measured cost of
its per-phase hook and per-task wrapper times how often they ran), which does
not depend on the machine's noise.

    python benchmarks/instrumentation_overhead.py                    # brazil4, 24 stages
    python benchmarks/instrumentation_overhead.py --stages 120 --repeats 3 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from machine import describe_machine, load_average

import caudal
from caudal.examples import brazil4
from caudal.parallel.comm import SingleProcessCommunicator
from caudal.parallel.pool import SerialPool
from caudal.profiling.pool import InstrumentedPool
from caudal.profiling.recorder import RunProfiler
from caudal.profiling.table import read_profile


def train_once(problem, args, output: Path, profile: bool) -> tuple[float, float]:
    """Wall seconds per iteration (the training's clock) and CPU seconds per iteration (the whole call)."""
    cpu = time.process_time()
    result = caudal.train(problem, iterations=args.iterations, forward_passes=args.forward_passes, seed=0,
                          threads=args.threads, output=output, profile=profile, checkpoint_every=None,
                          checkpoint_seconds=None)
    cpu = time.process_time() - cpu
    return result.history[-1].time_s / result.iterations, cpu / result.iterations


def hook_cost(repeats: int = 200_000) -> float:
    """Seconds per phase hook call (no pool work in the phase: the common case)."""
    pool = SerialPool(workspace=_NoWorkspace())
    profiler = RunProfiler(pool, SingleProcessCommunicator())
    profiler._busy_mark = list(profiler.pool.busy)
    profiler._phase, profiler._spans = {}, None
    started = time.perf_counter()
    for _ in range(repeats):
        profiler.on_phase("communication", 0.0, 1e-6)
    return (time.perf_counter() - started) / repeats


def wrapper_cost(repeats: int = 200_000) -> float:
    """Seconds a task costs more through the instrumented pool than through the bare one."""
    bare = SerialPool(workspace=_NoWorkspace())
    wrapped = InstrumentedPool(SerialPool(workspace=_NoWorkspace()))

    def task(ws, start, stop) -> None:
        pass

    timings = []
    for pool in (bare, wrapped):
        started = time.perf_counter()
        for _ in range(repeats):
            pool.run(task, 0, 1)
        timings.append((time.perf_counter() - started) / repeats)
    return max(timings[1] - timings[0], 0.0)


class _Stats:
    solves = simplex_iterations = retries = basis_hits = loads = 0
    time_load = time_patch = time_basis = time_solve = time_extract = 0.0


class _NoWorkspace:
    """A workspace that is never asked to solve: for timing the hooks alone."""

    stats = _Stats()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=24)
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--forward-passes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=4, help="trainings of each kind")
    args = parser.parse_args()
    problem = brazil4(stages=args.stages).compile()
    print(describe_machine())
    print(f"brazil4, {args.stages} stages, {args.iterations} iterations x {args.forward_passes} forward passes, "
          f"{args.threads} thread(s); {args.repeats} trainings with profiling on and {args.repeats} off, alternating")
    times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    loads = []
    with tempfile.TemporaryDirectory() as scratch:
        train_once(problem, args, Path(scratch) / "warm-up", profile=False)
        for r in range(args.repeats):
            for profile in ((False, True) if r % 2 == 0 else (True, False)):
                loads.append(load_average()[0])
                output = Path(scratch) / f"{'on' if profile else 'off'}{r}"
                times[profile].append(train_once(profile=profile, problem=problem, args=args, output=output))
        columns, _ = read_profile(Path(scratch) / "on0" / "profile.parquet")
    print(f"load average (1 min) during the runs: {min(loads):.2f} .. {max(loads):.2f}")
    for k, clock in enumerate(("wall", "CPU")):
        off = [t[k] for t in times[False]]
        on = [t[k] for t in times[True]]
        paired = [(a - b) / b for a, b in zip(on, off, strict=True)]
        print(f"{clock} time per iteration" + (" (whole train() call: start-up and files included)" if k else ""))
        print(f"{'':>16} {'median s':>10} {'mean s':>10} {'min s':>10}   runs")
        for label, values in (("profiling off", off), ("profiling on", on)):
            print(f"{label:>16} {statistics.median(values):>10.5f} {statistics.mean(values):>10.5f} "
                  f"{min(values):>10.5f}   " + " ".join(f"{v:.5f}" for v in values))
        print(f"{'on vs off':>16} median {100 * (statistics.median(on) / statistics.median(off) - 1):+.2f}%, "
              f"min {100 * (min(on) / min(off) - 1):+.2f}%, median of paired differences "
              f"{100 * statistics.median(paired):+.2f}%")
    lead = columns["thread"] == 0
    iterations = int(lead.sum())
    wall = float(columns["wall_s"][lead].sum())
    own = float(columns["profiler_s"][lead].sum())
    phases_per_iteration = 3 * (args.stages - 1) + 5  # forward, comm, (backward, comm, cache) x (T-1), bound, ...
    tasks_per_iteration = args.threads * (2 * args.stages)  # one block per worker per stage, forward and backward
    hook, wrapper = hook_cost(), wrapper_cost()
    accounted = own + iterations * (phases_per_iteration * hook + tasks_per_iteration * wrapper)
    print(f"accounted by the profiler itself: {1e3 * own / iterations:.3f} ms/iter of its own time, "
          f"{1e6 * hook:.2f} us x ~{phases_per_iteration} phase hooks and {1e6 * wrapper:.2f} us x "
          f"~{tasks_per_iteration} timed tasks per iteration = {1e3 * accounted / iterations:.3f} ms/iter, "
          f"{100 * accounted / wall:.3f}% of the iteration time")


if __name__ == "__main__":
    main()
