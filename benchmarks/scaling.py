"""Strong scaling on brazil4: time per iteration for ranks x threads layouts, side by side.

A thin caller of :mod:`caudal.profiling.scaling` (what ``caudal scaling`` runs):
each layout is one ``caudal train`` under ``mpiexec`` on the same case, seed,
iterations and forward passes; the table shows the time per iteration, the
speedup over the first layout, and the time spent in communication.

    python benchmarks/scaling.py                        # brazil4, 120 stages
    python benchmarks/scaling.py --stages 24 --iterations 5 --layouts 1x1,2x1,1x2,2x2
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from caudal.profiling.report import wide_console
from caudal.profiling.scaling import Layout, SweepSpec, scaling_rows, sweep
from caudal.profiling.scaling_report import print_table, write_outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=120)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--forward-passes", type=int, default=8)
    parser.add_argument("--layouts", default="1x1,2x1,1x2")
    parser.add_argument("--solver", default="auto")
    parser.add_argument("--output", type=Path, default=None, help="keep the table, plot and runs here")
    args = parser.parse_args()
    layouts = tuple(Layout(*(int(x) for x in item.split("x"))) for item in args.layouts.split(","))
    spec = SweepSpec("brazil4", layouts, iterations=args.iterations, forward_passes=args.forward_passes,
                     stages=args.stages, solver=args.solver)
    console = wide_console()
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.output or Path(scratch)
        rows = scaling_rows(sweep(spec, directory), weak=False)
        print_table(rows, spec, console)
        for row in rows:
            console.print(f"{row.run.layout.label}: bound {row.run.lower_bound:.4f}, digest {row.run.policy_digest}")
        if args.output is not None:
            write_outputs(rows, spec, directory)


if __name__ == "__main__":
    main()
