"""The serial work between backward stages: a base commit against the working tree, alternating, on a Cobre case.

Between two backward stages the main thread adds the cuts, updates the
working set and rebuilds the stage LP while the workers wait, so that work
bounds what a second worker can gain. This script runs caudal at ``--base``
(``main`` by default) and from the working tree, interleaved run by run (each
in a fresh process, the load average printed before and after), on the case
(4ree by default) with ``--iterations`` (256) x each of ``--passes`` (1 and 4):

* on 1 worker: the process CPU time of the training (``time.process_time``,
  less sensitive to other processes than the wall clock), its wall time, and
  its *serial* CPU time: the CPU time outside the worker pool's ``run`` (the
  work items, which more workers would share), i.e. what the main thread does
  while workers wait;
* on 2 workers: the wall time, and the 2-worker over 1-worker ratio of each
  version's medians (issue 22's goal: at most 0.6).

The change it measures must not change results: every run's lower bound is
printed, and the script says whether base and tree agree to the last bit on a
digest of every iteration's lower bound and every cut of every stage.

The base is exported with ``git archive`` and runs the working tree's compiled
kernels, which is right when ``native/`` differs from the base only by added
kernels (the base does not import them; checked, refused otherwise)::

    python benchmarks/serial_work.py --rounds 3
    python benchmarks/serial_work.py --iterations 128 --passes 1 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import load_average

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASE = ROOT / "tests" / "data" / "cobre" / "4ree"

RUN = r"""
import hashlib, json, sys, time
import numpy as np
import caudal
from caudal.hydro import cobre
from caudal.parallel.pool import SerialPool
case, iterations, passes, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
study = cobre.load_case(case)
in_pool = [0.0]
plain_run = SerialPool.run

def timed_run(self, *args, **kwargs):  # the work items, which a threaded pool would share among its workers
    start = time.process_time()
    try:
        return plain_run(self, *args, **kwargs)
    finally:
        in_pool[0] += time.process_time() - start

SerialPool.run = timed_run
cpu, wall = time.process_time(), time.perf_counter()
result = caudal.train(study.problem, iterations=iterations, forward_passes=passes, seed=study.training.seed,
                      threads=threads)
cpu = time.process_time() - cpu
wall = time.perf_counter() - wall
digest = hashlib.sha256(np.array([r.lower_bound for r in result.history]).tobytes())
for pool in result.policy.cut_pools:  # every cut, active or not, with its provenance
    for column in (pool.intercepts, pool.coefficients, pool.active, pool.iteration, pool.forward_pass):
        digest.update(np.ascontiguousarray(column[:pool.size]).tobytes())
print(json.dumps({"cpu": cpu, "wall": wall, "serial": cpu - in_pool[0] if threads == 1 else 0.0,
                  "lower_bound": result.lower_bound.hex(), "digest": digest.hexdigest()[:16]}))
"""


def load_text() -> str:
    return " ".join(f"{x:.2f}" for x in load_average())


def export(base: str, into: Path) -> Path:
    """``src`` of ``base`` in ``into``, with the working tree's builds of the kernels the base also has."""
    status = subprocess.run(["git", "-C", str(ROOT), "diff", "--name-status", base, "--", "native"],
                            capture_output=True, text=True, check=True).stdout.split("\n")
    if any(line and not line.startswith("A") for line in status):
        sys.exit(f"serial_work: native/ sources differ between {base} and the working tree, not only by new "
                 "kernels; the base would need its own build")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", base, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    added = {Path(line.split("\t")[-1]).stem for line in status if line}
    for built in (ROOT / "src" / "caudal").glob("*.so"):
        if built.name.split(".")[0] not in added:
            shutil.copy2(built, into / "src" / "caudal" / built.name)
    return into / "src"


def run(source: Path, *args: object) -> dict:
    environment = dict(os.environ, PYTHONPATH=str(source))
    done = subprocess.run([sys.executable, "-c", RUN, *map(str, args)], capture_output=True, text=True,
                          env=environment)
    if done.returncode != 0:
        sys.exit(f"serial_work: a run from {source} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="main")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE)
    parser.add_argument("--iterations", type=int, default=256)
    parser.add_argument("--passes", default="1,4")
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    workers = [int(n) for n in args.workers.split(",")]
    print(f"base {args.base} against the working tree on {args.case.name}, {os.cpu_count()} CPUs; "
          "the machine is shared with other jobs", flush=True)
    with tempfile.TemporaryDirectory(prefix="serial_work_") as scratch:
        versions = {"base": export(args.base, Path(scratch)), "tree": ROOT / "src"}
        for passes in (int(p) for p in args.passes.split(",")):
            label = f"{args.case.name} {args.iterations}x{passes}"
            runs: dict[tuple[str, int], list[dict]] = {}
            for round_ in range(1, args.rounds + 1):
                for n in workers:
                    for name, source in versions.items():
                        before = load_text()
                        result = run(source, args.case, args.iterations, passes, n)
                        runs.setdefault((name, n), []).append(result)
                        print(f"{label} round {round_} {name} {n} worker(s): cpu {result['cpu']:6.2f} s (serial "
                              f"{result['serial']:5.2f}), wall {result['wall']:6.2f} s, "
                              f"bound {float.fromhex(result['lower_bound']):.12e} | "
                              f"load {before} -> {load_text()}", flush=True)
            summarise(label, runs, list(versions), workers)


def summarise(label: str, runs: dict[tuple[str, int], list[dict]], versions: list[str], workers: list[int]) -> None:
    """Median CPU and wall times, tree over base, each version's 2-over-1-worker ratio, and the bounds' agreement."""
    medians = {key: {m: statistics.median(r[m] for r in rs) for m in ("cpu", "wall")} for key, rs in runs.items()}
    for name in versions:
        text = ", ".join(f"{n} worker(s) cpu {medians[(name, n)]['cpu']:.2f} s wall {medians[(name, n)]['wall']:.2f} s"
                         for n in workers)
        if 1 in workers and 2 in workers:
            text += f"; 2-worker wall / 1-worker wall {medians[(name, 2)]['wall'] / medians[(name, 1)]['wall']:.3f}"
        print(f"{label} {name}: medians {text}")
    if 1 in workers and len(versions) == 2:
        base, tree = (medians[(v, 1)]["cpu"] for v in versions)
        serial = [statistics.median(r["serial"] for r in runs[(v, 1)]) for v in versions]
        print(f"{label}: 1 worker, tree / base: cpu {tree / base:.3f}, serial cpu "
              f"{serial[1]:.3f} / {serial[0]:.3f} s = {serial[1] / serial[0]:.3f}")
    digests = {r["digest"] for rs in runs.values() for r in rs}
    agree = ("one lower-bound sequence and one set of cuts, bit for bit, in every run" if len(digests) == 1
             else f"RESULTS DIFFER (digests of the bounds and cuts): {digests}")
    print(f"{label}: {agree}", flush=True)


if __name__ == "__main__":
    main()
