"""Working sets against every cut as a row, side by side in one run.

    python benchmarks/working_sets.py                   # 4ree 256 iterations and brazil4 24x20 60 iterations
    python benchmarks/working_sets.py --quick           # a smoke run, under a minute
    python benchmarks/working_sets.py --repeat 3        # alternate the two modes, keep each one's fastest

A training's stage LPs hold as rows only the cuts highest at one of their
visited states and check the others after every solve (``caudal.sddp.working_set``).
This trains the same case twice, with and without working sets, same seed,
one thread, and prints the wall time of each and their ratio, the LP solves
(the difference is the re-solves after adding reserve cuts), the cuts added,
the cut rows of the stage LPs at the end, and both lower bounds. The two runs
may take different paths on degenerate LPs, so their bounds agree closely but
not bit for bit.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from machine import describe_machine, load_average

from caudal.examples import brazil4
from caudal.hydro import cobre
from caudal.parallel.pool import SerialPool
from caudal.sddp.training import TrainingOptions, TrainingState, run_training
from caudal.solver.highspy_workspace import HighspyWorkspace
from caudal.solver.native_workspace import NATIVE_AVAILABLE, NativeWorkspace

ROOT = Path(__file__).resolve().parent.parent


def run(problem, iterations: int, passes: int, seed: int, working_sets: bool) -> dict:
    state = TrainingState.fresh(problem, working_sets=working_sets)
    workspace = NativeWorkspace() if NATIVE_AVAILABLE else HighspyWorkspace()
    started = time.perf_counter()
    run_training(state, SerialPool(workspace), TrainingOptions(iterations=iterations, forward_passes=passes, seed=seed))
    stats = workspace.stats
    rows = [lp.num_cuts for lp in state.cache.lps[:-1]]
    return {
        "seconds": time.perf_counter() - started, "solves": stats.solves, "added": stats.cuts_added,
        "rows": (min(rows), sum(rows) / len(rows), max(rows)), "bound": state.history[-1].lower_bound,
    }


def compare(name: str, problem, iterations: int, passes: int, seed: int, repeat: int) -> None:
    runs: dict[bool, list[dict]] = {True: [], False: []}
    for _ in range(repeat):
        for mode in (True, False):
            runs[mode].append(run(problem, iterations, passes, seed, mode))
    lean, every = (min(runs[mode], key=lambda r: r["seconds"]) for mode in (True, False))
    print(f"{name}: {iterations} iterations x {passes} forward passes, 1 thread, best of {repeat}")
    for label, r in (("working sets", lean), ("every cut a row", every)):
        low, mean, high = r["rows"]
        print(f"  {label:16s} {r['seconds']:7.1f} s  {r['solves']:7d} solves  {r['added']:6d} cuts added  "
              f"cut rows per stage LP {low}..{high} (mean {mean:.0f})  bound {r['bound']:.10e}")
    print(f"  time ratio working sets / every cut: {lean['seconds'] / every['seconds']:.2f}; "
          f"bounds differ by {(lean['bound'] - every['bound']) / abs(every['bound']):+.1e} (relative)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few iterations")
    parser.add_argument("--repeat", type=int, default=1, help="runs per mode, alternating; the fastest is kept")
    args = parser.parse_args()
    print(describe_machine())
    study = cobre.load_case(ROOT / "tests" / "data" / "cobre" / "4ree")
    compare("4ree", study.problem.compile(), 32 if args.quick else 256, 4, study.training.seed, args.repeat)
    case = brazil4(stages=12 if args.quick else 24, openings=20).compile()
    compare("brazil4 24 stages x 20 openings" if not args.quick else "brazil4 12 stages x 20 openings",
            case, 10 if args.quick else 60, 4, 1, args.repeat)
    print("load average " + " ".join(f"{value:.2f}" for value in load_average()))


if __name__ == "__main__":
    main()
