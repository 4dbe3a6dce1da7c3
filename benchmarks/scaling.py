"""Strong scaling on brazil4: time per iteration for ranks x threads layouts, side by side.

Runs ``caudal train`` under ``mpiexec`` for each layout on the same case, seed,
iterations and forward passes, and prints the time per iteration, the speedup
over 1 rank x 1 thread, and the time each layout spent in communication.

    python benchmarks/scaling.py                        # brazil4, 120 stages
    python benchmarks/scaling.py --stages 24 --iterations 5 --layouts 1x1,2x1,1x2,2x2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import describe_machine


def mpiexec() -> str:
    return str(Path(sys.executable).parent / "mpiexec")


def run_layout(ranks: int, threads: int, args: argparse.Namespace, out: Path) -> dict:
    command = [
        mpiexec(), "-n", str(ranks), sys.executable, "-m", "caudal", "train", "brazil4",
        "--stages", str(args.stages), "--iterations", str(args.iterations),
        "--forward-passes", str(args.forward_passes), "--threads", str(threads),
        "--solver", args.solver, "--output", str(out), "--quiet",
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{ranks}x{threads} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads((out / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=120)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--forward-passes", type=int, default=8)
    parser.add_argument("--layouts", default="1x1,2x1,1x2")
    parser.add_argument("--solver", default="auto")
    args = parser.parse_args()
    layouts = [tuple(int(x) for x in item.split("x")) for item in args.layouts.split(",")]
    print(describe_machine())
    print(f"case: brazil4, {args.stages} stages, 82 openings; {args.iterations} iterations x "
          f"{args.forward_passes} forward passes; solver {args.solver}")
    print(f"{'layout':>8} {'workers':>8} {'s/iter':>9} {'speedup':>8} {'efficiency':>10} "
          f"{'comm s/iter':>12} {'bound':>16} {'digest':>34}")
    base = None
    with tempfile.TemporaryDirectory() as tmp:
        for ranks, threads in layouts:
            summary = run_layout(ranks, threads, args, Path(tmp) / f"{ranks}x{threads}")
            per_iteration = summary["wall_time_s"] / summary["iterations"]
            base = base or per_iteration
            workers = ranks * threads
            speedup = base / per_iteration
            comm = summary["phase_seconds"].get("communication", 0.0) / summary["iterations"]
            print(f"{ranks:>4}x{threads:<3} {workers:>8} {per_iteration:>9.3f} {speedup:>8.2f} "
                  f"{speedup / workers:>10.2f} {comm:>12.4f} {summary['lower_bound']:>16.4f} "
                  f"{summary['policy_digest']:>34}")


if __name__ == "__main__":
    main()
