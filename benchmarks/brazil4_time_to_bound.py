"""brazil4 at 120 stages, all 82 openings: time to a lower bound, and 1 against 2 workers, interleaved.

Two measurements, each as pairs (1 worker then 2 workers, back to back) with
the load average before and after every pair, and every run printed:

* time to bound: training stops at the first iteration whose lower bound
  reaches ``--target`` (1.80623e8 by default: the bound MSPPy with Gurobi
  reaches after 200 one-pass iterations); printed are the training clock at
  that iteration and the iterations it took, with ``--forward-passes`` (2);
* fixed work: ``--iterations`` (10) x ``--forward-passes``; printed are each
  run's training time and the pair's speedup (goal: 2 workers at least 1.7x).

Each run is one ``caudal.train`` call in this process (its thread pool and
stage LPs are built inside it); the time is the training's own clock, without
compiling the problem. The same seed gives the same bounds on 1 and 2 workers,
which the script checks::

    python benchmarks/brazil4_time_to_bound.py                    # the goal's target, 1 pair each
    python benchmarks/brazil4_time_to_bound.py --target 1.2e8 --pairs 2
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

import caudal
from caudal.examples import brazil4
from caudal.sddp.stopping import StopContext

TARGET = 1.80623e8
"""The lower bound MSPPy (Gurobi, serial, one forward pass) reaches on brazil4 at 120 stages after 200 iterations."""


@dataclass
class BoundReached:
    """Stop at the first iteration whose lower bound is at least ``target`` (a minimisation)."""

    target: float
    name: str = "bound_reached"

    def should_stop(self, context: StopContext) -> bool:
        return context.history[-1].lower_bound >= self.target


def train(problem: caudal.Problem, threads: int, iterations: int, passes: int, target: float | None,
          chunk: int | str) -> caudal.TrainingResult:
    return caudal.train(
        problem, iterations=iterations, forward_passes=passes, seed=0, threads=threads, solver="native",
        stopping_rules=[BoundReached(target)] if target is not None else (), opening_chunk=chunk,
    )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def same_bounds(one: caudal.TrainingResult, two: caudal.TrainingResult) -> str:
    same = [r.lower_bound for r in one.history] == [r.lower_bound for r in two.history]
    return "identical bounds" if same else "BOUNDS DIFFER"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=120)
    parser.add_argument("--target", type=float, default=TARGET, help=f"lower bound to reach (default {TARGET:.6g})")
    parser.add_argument("--max-iterations", type=int, default=2000, help="give up on the target after these")
    parser.add_argument("--iterations", type=int, default=10, help="iterations of the fixed-work pairs")
    parser.add_argument("--forward-passes", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=1, help="1-then-2-worker pairs of each measurement")
    parser.add_argument("--opening-chunk", default=0, type=lambda text: text if text == "auto" else int(text),
                        help="0 (caudal's default: no split), 'auto' or a chunk size")
    parser.add_argument("--skip-target", action="store_true", help="only the fixed-work pairs")
    args = parser.parse_args()
    problem = brazil4(stages=args.stages)  # all 82 historical openings per stage
    print(f"brazil4, {args.stages} stages, 82 openings, {args.forward_passes} forward passes, {os.cpu_count()} CPUs, "
          f"opening chunk {args.opening_chunk}")

    if not args.skip_target:
        print(f"\ntime to a lower bound of {args.target:.6g}")
        print(f"{'pair':>4} {'1 worker s':>10} {'iters':>5} {'2 workers s':>11} {'iters':>5} {'ratio 2/1':>9}"
              f"  {'load before':>15}  {'load after':>15}")
        for pair in range(args.pairs):
            before = load()
            one, two = (train(problem, threads, args.max_iterations, args.forward_passes, args.target,
                              args.opening_chunk) for threads in (1, 2))
            cells = []
            for result in (one, two):
                reached = result.lower_bound >= args.target
                cells.append((result.history[-1].time_s, result.iterations, reached))
            (t1, i1, ok1), (t2, i2, ok2) = cells
            note = "" if ok1 and ok2 else f"  TARGET NOT REACHED in {args.max_iterations} iterations"
            print(f"{pair + 1:>4} {t1:>10.1f} {i1:>5} {t2:>11.1f} {i2:>5} {t2 / t1:>9.2f}  {before:>15}  "
                  f"{load():>15}  {same_bounds(one, two)}{note}", flush=True)

    print(f"\n{args.iterations} iterations x {args.forward_passes} forward passes")
    print(f"{'pair':>4} {'1 worker s':>10} {'2 workers s':>11} {'speedup':>7}  {'load before':>15}  {'load after':>15}")
    for pair in range(args.pairs):
        before = load()
        one, two = (train(problem, threads, args.iterations, args.forward_passes, None, args.opening_chunk)
                    for threads in (1, 2))
        t1, t2 = one.history[-1].time_s, two.history[-1].time_s
        print(f"{pair + 1:>4} {t1:>10.2f} {t2:>11.2f} {t1 / t2:>7.2f}  {before:>15}  {load():>15}  "
              f"{same_bounds(one, two)}", flush=True)


if __name__ == "__main__":
    main()
