"""1 against 2 workers on brazil4 at 120 stages, interleaved, with and without the opening split.

For each number of forward passes and each opening chunk, trains 1 thread
then 2 threads back to back (a pair), ``--pairs`` times, and prints every
run's training time, the pair's speedup and the load average before and after
the pair: on a shared machine a pair whose load moved is not worth much.
Chunk 0 is the unsplit backward pass (one work item per trial state); with
one forward pass its second worker only helps in the forward pass and bound.

    python benchmarks/worker_scaling.py                           # 10 iterations x 2 and x 1 passes
    python benchmarks/worker_scaling.py --chunks 0,21,41 --pairs 2
    python benchmarks/worker_scaling.py --chunks 0,auto --pairs 3

Each run is one ``caudal.train`` call in this process (the thread pool and the
stage LPs are built inside it); the time is the training's own clock, without
the problem's compilation.
"""

from __future__ import annotations

import argparse
import os

import caudal
from caudal.examples import brazil4


def train_seconds(stages: int, iterations: int, passes: int, threads: int, chunk: int | str) -> tuple[float, float]:
    """Training time and final lower bound of one run."""
    result = caudal.train(
        brazil4(stages=stages), iterations=iterations, forward_passes=passes, seed=0, threads=threads,
        solver="native", opening_chunk=chunk,
    )
    return result.history[-1].time_s, result.history[-1].lower_bound


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=120)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--forward-passes", default="2,1", help="comma-separated, e.g. 2,1")
    parser.add_argument("--chunks", default="0",
                        help="opening chunks to compare, comma-separated (0: no split; auto: docs/hot-path.md)")
    parser.add_argument("--pairs", type=int, default=1, help="1-then-2-thread pairs per setting")
    args = parser.parse_args()
    print(f"brazil4, {args.stages} stages, {args.iterations} iterations, {os.cpu_count()} CPUs")
    print(f"{'passes':>6} {'chunk':>5} {'pair':>4} {'1 thread s':>10} {'2 threads s':>11} {'speedup':>7}"
          f"  {'load before':>15}  {'load after':>15}  bounds")
    for passes in (int(p) for p in args.forward_passes.split(",")):
        for chunk in (c if c == "auto" else int(c) for c in args.chunks.split(",")):
            for pair in range(args.pairs):
                before = load()
                one, bound_one = train_seconds(args.stages, args.iterations, passes, 1, chunk)
                two, bound_two = train_seconds(args.stages, args.iterations, passes, 2, chunk)
                same = "identical" if bound_one == bound_two else f"DIFFER {bound_one!r} {bound_two!r}"
                print(f"{passes:>6} {chunk:>5} {pair + 1:>4} {one:>10.2f} {two:>11.2f} {one / two:>7.2f}"
                      f"  {before:>15}  {load():>15}  {bound_one:.6e} {same}", flush=True)


if __name__ == "__main__":
    main()
