"""Fixed work of an iteration (one forward pass by default): a baseline commit against this tree, alternating.

    python benchmarks/fixed_work.py                                   # 4ree, 256 iterations, baseline main, 3 pairs
    python benchmarks/fixed_work.py --baseline HEAD~2 --pairs 4 --workers 2 --chunks 0,auto

With one forward pass, an iteration of 4ree is 132 tiny solves and, around
them, fixed work: cut gathering, the working-set update and stage LP rebuild
after every backward stage, Python bookkeeping, and with a thread pool the
hand-offs between the caller and the workers. This trains the case through
``caudal.train`` (as ``benchmarks/vs_cobre.py`` does) with the package of
``--baseline`` (its ``src`` extracted with ``git archive``, see
``benchmarks/stage_overhead.py``) and with this tree's, one after the other,
the order flipping every pair, each run in its own process, for every worker
count and opening chunk asked. Printed for every run: wall time of the
training, the seconds inside ``Highs_run`` (summed over the workers), the
``cache`` phase (cut adding, working-set split, stage LP rebuilds), the lower
bound and a digest of the cuts, which must be the same for both trees and for
every worker count at one opening chunk. The machine may be shared: the load
average is printed before and after every pair; compare pairs, not single runs.

``--concurrency`` first measures what a second core gives on this machine: one
1-worker training of this tree alone, then two at once (separate processes),
alternating. On a machine with two real cores the pair takes as long as one;
where the two logical CPUs share a physical core, or another job holds one,
each run of the pair is slower, and no worker count can do better than that.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from stage_overhead import extract

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASE = ROOT / "tests" / "data" / "cobre" / "4ree"

RUN = r"""
import hashlib, json, sys, time
import caudal
from caudal.hydro import cobre
case, iterations, threads, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
passes = int(sys.argv[5])
study = cobre.load_case(case)
result = caudal.train(study.problem, iterations=iterations, forward_passes=passes, seed=study.training.seed,
                      threads=threads, opening_chunk=chunk if chunk == "auto" else int(chunk))
digest = hashlib.sha256()
for pool in result.policy.cut_pools:
    digest.update(pool.intercepts.tobytes())
    digest.update(pool.coefficients.tobytes())
print(json.dumps({"seconds": result.wall_time, "solve": result.solver_stats["time_solve"],
                  "cache": result.phase_seconds.get("cache", 0.0),
                  "lower_bound": result.lower_bound, "digest": digest.hexdigest()[:12]}))
"""


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run(src: Path, case: Path, iterations: int, workers: int, chunk: str, passes: int = 1) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    done = subprocess.run([sys.executable, "-c", RUN, str(case), str(iterations), str(workers), chunk, str(passes)],
                          env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def concurrency_round(round_: int, case: Path, iterations: int) -> None:
    """One training alone and two at once (1 worker each, this tree), printed with the load average."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    command = [sys.executable, "-c", RUN, str(case), str(iterations), "1", "0", "1"]
    before = load_average()
    alone = run(ROOT / "src", case, iterations, 1, "0")
    pair = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    together = [json.loads(process.communicate()[0].strip().splitlines()[-1]) for process in pair]
    print(f"concurrency {round_ + 1}: alone {alone['seconds']:.2f} s (Highs_run {alone['solve']:.2f} s); two at once "
          + ", ".join(f"{got['seconds']:.2f} s (Highs_run {got['solve']:.2f} s)" for got in together)
          + f" | load {before} -> {load_average()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE)
    parser.add_argument("--iterations", type=int, default=256)
    parser.add_argument("--baseline", default="main", help="git revision to compare with (default main)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--chunks", default="0", help="comma-separated opening chunks: 0, auto, N (default 0)")
    parser.add_argument("--forward-passes", type=int, default=1, help="forward passes per iteration (default 1)")
    parser.add_argument("--concurrency", type=int, default=0, metavar="N",
                        help="first, N rounds of one training alone against two at once (default 0: none)")
    args = parser.parse_args()
    for round_ in range(args.concurrency):
        concurrency_round(round_, args.case, args.iterations)
    if args.pairs < 1:
        return
    workers = [int(w) for w in args.workers.split(",")]
    chunks = args.chunks.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        trees = {args.baseline: extract(args.baseline, Path(tmp)), "this tree": ROOT / "src"}
        print(f"{args.case.name}: {args.iterations} iterations x {args.forward_passes} forward passes, "
              f"baseline {args.baseline}; "
              "the machine may be shared")
        times: dict[tuple[str, int, str], list[float]] = {}
        digests: dict[str, set[str]] = {chunk: set() for chunk in chunks}
        for pair in range(args.pairs):
            for chunk in chunks:
                for n in workers:
                    order = list(trees.items()) if pair % 2 == 0 else list(trees.items())[::-1]
                    before = load_average()
                    line = []
                    for name, src in order:
                        got = run(src, args.case, args.iterations, n, chunk, args.forward_passes)
                        times.setdefault((name, n, chunk), []).append(got["seconds"])
                        digests[chunk].add(got["digest"])
                        line.append(f"{name} {got['seconds']:6.2f} s (Highs_run {got['solve']:5.2f} s, "
                                    f"cache {got.get('cache', float('nan')):4.2f} s, "
                                    f"bound {got['lower_bound']:.10e}, cuts {got['digest']})")
                    print(f"pair {pair + 1} workers {n} chunk {chunk:>4}: {'; '.join(line)} | load {before} -> "
                          f"{load_average()}", flush=True)
        print("medians (s):")
        for chunk in chunks:
            for n in workers:
                medians = {name: statistics.median(times[(name, n, chunk)]) for name in trees}
                base, mine = medians[args.baseline], medians["this tree"]
                print(f"  workers {n} chunk {chunk:>4}: {args.baseline} {base:.2f}, this tree {mine:.2f} "
                      f"(ratio {mine / base:.2f})")
            for name in trees:
                if 1 in workers and 2 in workers:
                    one, two = (statistics.median(times[(name, w, chunk)]) for w in (1, 2))
                    print(f"  chunk {chunk:>4} {name}: 2 workers / 1 worker = {two / one:.2f}")
        for chunk, seen in digests.items():
            print(f"chunk {chunk}: " + ("cuts identical in every run" if len(seen) == 1 else
                                        f"CUTS DIFFER: {sorted(seen)}"))


if __name__ == "__main__":
    main()
