"""Resident memory after each phase of one caudal training process, two source trees side by side.

The phases of ``vs_cobre.py``'s caudal run, in one fresh process per run:
the interpreter, ``import numpy``, ``import caudal``, ``from caudal.hydro
import cobre``, ``cobre.load_case`` and ``caudal.train``; after each, VmRSS
from ``/proc/self/status``, and at the end VmHWM (the peak ``vs_cobre.py``
reports). ``--before SRC`` (for example the ``src`` of a ``git archive`` of
the base commit, with the compiled ``_*.so`` copied in) and this checkout's
``src`` alternate run by run, each first on ``PYTHONPATH``. The load average
is printed before and after every run; every run is printed::

    python benchmarks/memory_phases.py --before /tmp/base/src --workers 1,2 --repeat 2

The case is 4ree with caudal's openings written in (as ``vs_cobre.py`` and
``memory.py`` prepare it), trained for ``--iterations`` x 4 forward passes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import describe_machine, load_average
from vs_cobre import DEFAULT_CASE, prepare_case

ROOT = Path(__file__).resolve().parent.parent
AFTER = ROOT / "src"
PHASES = ("python", "import numpy", "import caudal", "import cobre", "load_case", "train")

RUN = r"""
import json, sys
def status(key):
    return int(next(l for l in open('/proc/self/status') if l.startswith(key)).split()[1]) / 1024
rss = [status('VmRSS')]
import numpy
rss.append(status('VmRSS'))
import caudal
rss.append(status('VmRSS'))
from caudal.hydro import cobre
rss.append(status('VmRSS'))
case, iterations, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
study = cobre.load_case(case)
rss.append(status('VmRSS'))
load_peak = status('VmHWM')
caudal.train(study.problem, iterations=iterations, forward_passes=4, seed=study.training.seed, threads=threads)
rss.append(status('VmRSS'))
print(json.dumps({"rss": rss, "load_peak": load_peak, "peak": status('VmHWM'),
                  "pyarrow": 'pyarrow' in sys.modules, "openssl": '_hashlib' in sys.modules}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, default=None, help="a caudal src tree to compare with (default: none)")
    parser.add_argument("--iterations", type=int, default=64, help="4ree iterations of 4 forward passes (default 64)")
    parser.add_argument("--workers", default="1", help="comma-separated worker counts (default 1)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tree per worker count (default 1)")
    args = parser.parse_args()
    trees = ([("before", args.before.resolve())] if args.before else []) + [("after", AFTER)]
    print(describe_machine())
    print("trees: " + ", ".join(f"{name} = {path}" for name, path in trees))
    print(f"4ree, {args.iterations} iterations x 4 forward passes; VmRSS in MiB after each phase, then VmHWM")
    print(f"workers tree   | {' | '.join(f'{p:>13s}' for p in PHASES)} | load peak | peak | load before -> after")
    with tempfile.TemporaryDirectory(prefix="memory_phases_") as scratch:
        case = prepare_case(DEFAULT_CASE, Path(scratch) / "4ree", args.iterations, 4, True, DEFAULT_CASE)
        for workers in (int(n) for n in args.workers.split(",")):
            for _ in range(max(1, args.repeat)):
                for tree, src in trees:
                    before = load_text()
                    result = run(src, case, args.iterations, workers)
                    cells = " | ".join(f"{value:13.1f}" for value in result["rss"])
                    print(f"{workers:7d} {tree:6s} | {cells} | {result['load_peak']:9.1f} | {result['peak']:4.1f} | "
                          f"{before} -> {load_text()}", flush=True)


def run(src: Path, case: Path, iterations: int, workers: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    env.pop("ARROW_DEFAULT_MEMORY_POOL", None)  # each tree chooses (or not) its own Arrow allocator
    done = subprocess.run([sys.executable, "-c", RUN, str(case), str(iterations), str(workers)],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"memory_phases: caudal ({src}) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def load_text() -> str:
    return " ".join(f"{x:.2f}" for x in load_average())


if __name__ == "__main__":
    main()
