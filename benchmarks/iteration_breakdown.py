"""Where an iteration's time goes at one forward pass: solving LPs against everything else.

    python benchmarks/iteration_breakdown.py                     # 4ree, 256 iterations, 1 and 2 threads
    python benchmarks/iteration_breakdown.py --threads 1 --profile 25   # with cProfile's top 25 (1 thread)

Trains a Cobre case (4ree by default) the way ``benchmarks/vs_cobre.py`` does
(``caudal.train``, one forward pass, the case's seed) and prints the wall time
of the training, the training's phases (forward, backward, cache, bound,
communication...) and the native kernels' own clocks summed over the workers:
``solve`` is the time inside ``Highs_run`` (with the reserve-cut rounds),
``load`` inside ``Highs_passLp``, ``patch``/``basis``/``extract`` the rest of a
solve. With one worker, wall time minus the kernels' total is the work that is
not solving (Python, cut gathering, stage LP rebuilds, hand-offs); with two,
the kernels' total is summed over both threads, so compare it to twice the
wall time. The machine may be shared: the load average is printed before and
after every run.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASE = ROOT / "tests" / "data" / "cobre" / "4ree"


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def train(case: Path, iterations: int, threads: int, opening_chunk: int | str, profile: int) -> None:
    import caudal
    from caudal.hydro import cobre

    study = cobre.load_case(case)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    result = caudal.train(study.problem, iterations=iterations, forward_passes=1, seed=study.training.seed,
                          threads=threads, opening_chunk=opening_chunk)
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started
    stats = result.solver_stats
    kernel = {name: stats[f"time_{name}"] for name in ("load", "patch", "basis", "solve", "extract")}
    in_kernels = sum(kernel.values())
    stages = result.iterations * (study.problem.compile().n_stages - 1) if hasattr(study.problem, "compile") else 0
    print(f"{threads} thread(s), opening chunk {opening_chunk}: {seconds:.2f} s (train {result.wall_time:.2f} s), "
          f"bound {result.lower_bound:.10e}, {stats['solves']:.0f} solves, "
          f"{stats['simplex_iterations']:.0f} simplex iterations, {stats['loads']:.0f} loads")
    print("  phases (s): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(result.phase_seconds.items())))
    print("  kernels, summed over workers (s): " + ", ".join(f"{k} {v:.2f}" for k, v in kernel.items())
          + f"; total {in_kernels:.2f}")
    capacity = threads * result.wall_time
    print(f"  worker capacity {capacity:.2f} s: in kernels {in_kernels / capacity:.0%}, "
          f"inside Highs_run {kernel['solve'] / capacity:.0%}; outside the kernels "
          f"{(result.wall_time - in_kernels / threads) * 1e3 / max(result.iterations, 1):.2f} ms per iteration"
          + (f" ({stages} backward stages)" if stages else ""))
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE)
    parser.add_argument("--iterations", type=int, default=256)
    parser.add_argument("--threads", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--opening-chunk", default="0", help="0, auto or a number (default 0)")
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N functions by own time")
    args = parser.parse_args()
    chunk: int | str = args.opening_chunk if args.opening_chunk == "auto" else int(args.opening_chunk)
    print(f"{args.case.name}, {args.iterations} iterations x 1 forward pass; the machine may be shared")
    for threads in (int(n) for n in args.threads.split(",")):
        print(f"load average before: {load_average()}")
        train(args.case, args.iterations, threads, chunk, args.profile)
        print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
