"""Converged bounds of caudal and Cobre 0.5.1 on small instances of the national case.

    python benchmarks/national_convergence.py                 # the instances below, 300 iterations
    python benchmarks/national_convergence.py --iterations 100

Two iterations of the full-size case cannot compare two engines (each samples its
own forward scenarios). A converged bound can: on an instance small enough for
caudal's deterministic equivalent (every scenario of the opening tree in one LP),
both engines' lower bounds must reach that optimum. For each instance this writes
the case directory once, then prints caudal's deterministic equivalent, caudal's
SDDP lower bound and Cobre's lower bound and upper bound after the same number of
iterations (4 forward passes), and each bound's relative distance to the optimum.

Cobre runs from ``cobre-python==0.5.1`` in its own Python 3.12 venv (see
``vs_cobre.py``, whose helpers this uses).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from vs_cobre import ensure_cobre

from caudal.examples.national_case import write_national

# (hydros, thermals, subsystems, stages, openings, par_order, blocks): from a
# single stage up to a few basins, with one to three load blocks.
INSTANCES = [
    (1, 1, 1, 1, 1, 1, 3),
    (2, 2, 1, 1, 1, 1, 3),
    (2, 2, 1, 2, 1, 1, 1),
    (2, 2, 1, 2, 1, 1, 2),
    (2, 2, 1, 2, 1, 1, 3),
    (8, 4, 1, 3, 2, 2, 3),
    (30, 15, 3, 6, 1, 2, 3),
    (30, 15, 3, 6, 3, 2, 3),
]

CAUDAL_RUN = r"""
import json, sys
import caudal
from caudal.hydro import cobre
study = cobre.load_case(sys.argv[1])
exact = caudal.deterministic_equivalent(study.problem).objective
trained = caudal.train(study.problem, iterations=int(sys.argv[2]), forward_passes=4, seed=study.training.seed,
                       threads=1)
print(json.dumps({"exact": exact, "lower_bound": trained.lower_bound}))
"""

COBRE_RUN = r"""
import json, sys
import cobre
result = cobre.run.run(sys.argv[1], output_dir=sys.argv[2], threads=1, skip_simulation=True)
print(json.dumps({"lower_bound": result["lower_bound"], "upper_bound": result["upper_bound"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--cobre-venv", type=Path, default=Path("/tmp/cobre-0.5.1-venv"),
                        help="virtual environment with cobre-python 0.5.1 (created with pip if missing)")
    parser.add_argument("--python312", default=None, help="Python 3.12 used to create the venv (default: found)")
    args = parser.parse_args()
    cobre_python = ensure_cobre(args.cobre_venv, "0.5.1", args.python312)
    print("hydros thermals subsystems stages openings par blocks | exact (caudal DE) | caudal LB (rel) | "
          "Cobre LB (rel) | Cobre UB")
    with tempfile.TemporaryDirectory() as scratch:
        for number, sizes in enumerate(INSTANCES):
            hydros, thermals, subsystems, stages, openings, par_order, blocks = sizes
            case = write_national(Path(scratch) / f"case{number}", hydros=hydros, thermals=thermals,
                                  subsystems=subsystems, stages=stages, openings=openings, par_order=par_order,
                                  blocks=blocks)
            config = json.loads((case / "config.json").read_text())
            config["training"]["forward_passes"] = 4
            config["training"]["stopping_rules"] = [{"type": "iteration_limit", "limit": args.iterations}]
            (case / "config.json").write_text(json.dumps(config, indent=1))
            mine = json.loads(subprocess.run([sys.executable, "-c", CAUDAL_RUN, str(case), str(args.iterations)],
                                             check=True, capture_output=True, text=True).stdout)
            theirs = json.loads(subprocess.run([str(cobre_python), "-c", COBRE_RUN, str(case),
                                                str(Path(scratch) / f"out{number}")],
                                               check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            exact = mine["exact"]

            print(" ".join(str(s) for s in sizes), f"| {exact:.10g} | {mine['lower_bound']:.10g} "
                  f"({relative(mine['lower_bound'], exact)}) | {theirs['lower_bound']:.10g} "
                  f"({relative(theirs['lower_bound'], exact)}) | "
                  f"{theirs['upper_bound']:.10g}", flush=True)


def relative(value: float, exact: float) -> str:
    return f"{(value - exact) / max(abs(exact), 1.0):+.2e}"


if __name__ == "__main__":
    main()
