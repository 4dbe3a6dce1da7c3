"""caudal at a base commit against the working tree, alternating in one run: brazil4's 10 x 2 pairs and 4ree.

On a shared machine two timings taken minutes apart say little; this script
interleaves the two versions run by run, so both see the same load. The base
(``main`` by default) is exported with ``git archive`` into a temporary
directory and run with ``PYTHONPATH`` pointing at it; its compiled kernels are
the working tree's, which is only right when ``native/`` and ``setup.py`` do
not differ between the two (checked, refused otherwise).

Two measurements, each run in a fresh process, every run printed with the
load average before and after it:

* brazil4 at ``--stages`` (120), all 82 openings, ``--iterations`` (10) x
  ``--forward-passes`` (2), seed 0, on 1 and 2 workers: the training's own
  clock, the 1-over-2-worker speedup of each version (goal: at least 1.7),
  with ``--opening-chunk`` (0, caudal's default);
* a Cobre case (4ree by default) as ``benchmarks/vs_cobre.py`` runs caudal's
  side (the case's seed and iteration limit, caudal's opening tree), for
  each of ``--cobre-passes`` (1 and 4) on 1 and 2 workers: the process's wall
  time, and 2-worker over 1-worker time (goal: at most 0.6).

Both versions must give the same lower bounds when they are meant to (a
change of speed, not of results), and the script says whether they do::

    python benchmarks/before_after.py                       # main against the working tree, 2 rounds
    python benchmarks/before_after.py --base HEAD~3 --rounds 3 --skip-cobre
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
from vs_cobre import CAUDAL_RUN, prepare_case

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASE = ROOT / "tests" / "data" / "cobre" / "4ree"

BRAZIL4_RUN = r"""
import json, sys
import caudal
from caudal.examples import brazil4
stages, iterations, passes = (int(a) for a in sys.argv[1:4])
chunk, threads = (sys.argv[4] if sys.argv[4] == "auto" else int(sys.argv[4])), int(sys.argv[5])
result = caudal.train(brazil4(stages=stages), iterations=iterations, forward_passes=passes, seed=0,
                      threads=threads, solver="native", opening_chunk=chunk)
print(json.dumps({"seconds": result.wall_time, "lower_bound": result.lower_bound}))
"""


def load_text() -> str:
    return " ".join(f"{x:.2f}" for x in load_average())


def export(base: str, into: Path) -> Path:
    """The ``src`` directory of ``base`` exported into ``into``, with the working tree's compiled kernels."""
    changed = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", base, "--", "native", "setup.py"])
    if changed.returncode != 0:
        sys.exit(f"before_after: native/ or setup.py differ between {base} and the working tree; "
                 "the base would need its own build")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", base, "src"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    for built in (ROOT / "src" / "caudal").glob("*.so"):
        shutil.copy2(built, into / "src" / "caudal" / built.name)
    return into / "src"


def run(source: Path, code: str, *args: object) -> dict:
    environment = dict(os.environ, PYTHONPATH=str(source))
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True,
                          env=environment)
    if done.returncode != 0:
        sys.exit(f"before_after: a run from {source} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(label: str, versions: dict[str, Path], rounds: int, workers: list[int], code: str,
            *args: object) -> dict[tuple[str, int], list[dict]]:
    """Every version on every worker count, ``rounds`` times, interleaved; each run printed as it ends."""
    runs: dict[tuple[str, int], list[dict]] = {}
    for round_ in range(1, rounds + 1):
        for n in workers:
            for name, source in versions.items():
                before = load_text()
                result = run(source, code, *args, n)
                runs.setdefault((name, n), []).append(result)
                print(f"{label} round {round_} {name:5s} {n} worker(s): {result['seconds']:7.2f} s, "
                      f"bound {result['lower_bound']:.10e} | load {before} -> {load_text()}", flush=True)
    return runs


def summarise(label: str, runs: dict[tuple[str, int], list[dict]], versions: list[str], workers: list[int]) -> None:
    """Median times, each version's 2-over-1-worker ratio, and whether the versions' bounds agree."""
    for name in versions:
        medians = {n: statistics.median(r["seconds"] for r in runs[(name, n)]) for n in workers}
        text = ", ".join(f"{n} worker(s) {medians[n]:.2f} s" for n in workers)
        if 1 in medians and 2 in medians:
            text += f"; speedup {medians[1] / medians[2]:.2f} (2-worker time {medians[2] / medians[1]:.2f} of 1)"
        print(f"{label} {name}: medians {text}")
    bounds = {name: {r["lower_bound"] for n in workers for r in runs[(name, n)]} for name in versions}
    same = len(set.union(*bounds.values())) == 1
    print(f"{label}: {'one lower bound for every run' if same else 'LOWER BOUNDS DIFFER: ' + repr(bounds)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="main", help="the commit to compare the working tree with (default main)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of every run (default 2)")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--stages", type=int, default=120)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--forward-passes", type=int, default=2)
    parser.add_argument("--opening-chunk", default="0", help="brazil4's opening split: 0 (default), auto or N")
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE, help="a Cobre 0.5 case directory (default 4ree)")
    parser.add_argument("--cobre-passes", default="1,4", help="forward passes of the case runs (default 1,4)")
    parser.add_argument("--skip-brazil4", action="store_true")
    parser.add_argument("--skip-cobre", action="store_true", help="leave out the Cobre case runs")
    args = parser.parse_args()
    workers = [int(n) for n in args.workers.split(",")]
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.base], capture_output=True,
                            text=True, check=True).stdout.strip()
    print(f"base {args.base} ({commit}) against the working tree, {os.cpu_count()} CPUs; the machine may be shared")
    with tempfile.TemporaryDirectory(prefix="before_after_") as scratch:
        versions = {"base": export(args.base, Path(scratch)), "tree": ROOT / "src"}
        if not args.skip_brazil4:
            label = f"brazil4 {args.stages} stages {args.iterations}x{args.forward_passes} chunk {args.opening_chunk}"
            runs = measure(label, versions, args.rounds, workers, BRAZIL4_RUN, args.stages, args.iterations,
                           args.forward_passes, args.opening_chunk)
            summarise(label, runs, list(versions), workers)
        if not args.skip_cobre:
            from caudal.hydro import cobre

            iterations = cobre.load_case(args.case).training.iterations
            for passes in (int(p) for p in args.cobre_passes.split(",")):
                case = prepare_case(args.case, Path(scratch) / f"case{passes}", iterations, passes, True, args.case)
                label = f"{args.case.name} {iterations}x{passes}"
                runs = measure(label, versions, args.rounds, workers, CAUDAL_RUN, case, iterations, passes)
                summarise(label, runs, list(versions), workers)


if __name__ == "__main__":
    main()
