"""Peak resident memory of one caudal training process, two source trees side by side, with Cobre's beside them.

Each run is a fresh process that loads a Cobre case and trains it, measured
exactly as ``vs_cobre.py`` measures (its ``CAUDAL_RUN``: VmHWM of that one
process, case loading included; nothing moves to a child process). Two
caudal source trees alternate run by run: ``--before SRC`` (for example the
``src`` of a ``git archive`` of the base commit, with the compiled ``_*.so``
copied in) and this checkout's ``src``; each is put first on ``PYTHONPATH``.
Cobre runs the same case with ``vs_cobre.py``'s own ``COBRE_RUN`` (0.18.0 on
4ree converted to its format, 0.5.1 on the national case). The load average
is printed before and after every run; every run is printed, not the best::

    python benchmarks/memory.py --before /tmp/base/src                  # 4ree 1 and 2 workers, national, Cobre
    python benchmarks/memory.py --before /tmp/base/src --repeat 2 --no-national

The national case is ``caudal.examples.national``'s default size written as a
Cobre case (as ``national.py`` does), trained for ``--national-iterations``
iterations of 4 forward passes: its peak comes from loading and building
the stage LPs, not from cuts.
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
from vs_cobre import CAUDAL_RUN, COBRE_RUN, DEFAULT_CASE, DEFAULT_SHARED, NEW_FORMAT, ensure_cobre, prepare_case, run

ROOT = Path(__file__).resolve().parent.parent
AFTER = ROOT / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, default=None, help="a caudal src tree to compare with (default: none)")
    parser.add_argument("--iterations", type=int, default=256, help="4ree iterations (default 256, as vs_cobre)")
    parser.add_argument("--workers", default="1,2", help="4ree worker counts (default 1,2)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each tree per setting (default 1)")
    parser.add_argument("--no-national", action="store_true", help="skip the national case")
    parser.add_argument("--national-iterations", type=int, default=2)
    parser.add_argument("--no-cobre", action="store_true")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="holds cases/cobre/cases-0.18/4ree")
    parser.add_argument("--venvs", type=Path, default=Path("/tmp"), help="holds cobre-VERSION-venv (as vs_cobre)")
    args = parser.parse_args()
    trees = ([("before", args.before.resolve())] if args.before else []) + [("after", AFTER)]
    print(describe_machine())
    print("trees: " + ", ".join(f"{name} = {path}" for name, path in trees))
    print("case     workers | tree    peak RSS MB | load before -> after")
    with tempfile.TemporaryDirectory(prefix="memory_") as scratch:
        here = Path(scratch)
        case = prepare_case(DEFAULT_CASE, here / "4ree", args.iterations, 4, True, DEFAULT_CASE)
        settings = [("4ree", case, args.iterations, int(n)) for n in args.workers.split(",")]
        if not args.no_national:
            settings.append(("national", national_case(here / "national", args.national_iterations),
                             args.national_iterations, 1))
        peaks: dict[tuple[str, int, str], list[float]] = {}
        for name, path, iterations, workers in settings:
            for _ in range(max(1, args.repeat)):
                for tree, src in trees:
                    before = load_text()
                    result = caudal_run(src, path, iterations, workers)
                    peaks.setdefault((name, workers, tree), []).append(result["peak_rss_mb"])
                    print(f"{name:8s} {workers:7d} | {tree:7s} {result['peak_rss_mb']:11.1f} | "
                          f"{before} -> {load_text()}", flush=True)
            if not args.no_cobre:
                cobre_runs(args, here, name, path, iterations, workers)
    print()
    print("case     workers | " + " | ".join(f"{tree} MB (each)" for tree, _ in trees))
    for name, _, _, workers in settings:
        cells = [", ".join(f"{p:.1f}" for p in peaks[(name, workers, tree)]) for tree, _ in trees]
        print(f"{name:8s} {workers:7d} | " + " | ".join(cells))


def caudal_run(src: Path, case: Path, iterations: int, workers: int) -> dict:
    """``vs_cobre.py``'s caudal run of ``case`` with ``src`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    env.pop("ARROW_DEFAULT_MEMORY_POOL", None)  # each tree chooses (or not) its own Arrow allocator
    command = [sys.executable, "-c", CAUDAL_RUN, str(case), str(iterations), "4", str(workers)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"memory: caudal ({src}) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def cobre_runs(args, here: Path, name: str, case: Path, iterations: int, workers: int) -> None:
    """Cobre on the same case and openings: 0.18.0 on 4ree (its format's copy), 0.5.1 on the national case."""
    if name == "4ree":
        version = NEW_FORMAT
        source = args.shared / "cases" / "cobre" / "cases-0.18" / "4ree"
        if not source.is_dir():
            print(f"  (no {source}: Cobre {version} skipped)")
            return
        theirs = prepare_case(source, here / f"cobre-4ree-{workers}", iterations, 4, True, DEFAULT_CASE,
                              new_format=True)
    else:
        version, theirs = "0.5.1", case
    python = ensure_cobre(args.venvs / f"cobre-{version}-venv", version, None)
    before = load_text()
    result = run([str(python), "-c", COBRE_RUN, str(theirs), str(here / f"out-{name}-{workers}"), str(workers),
                  version])
    print(f"{name:8s} {workers:7d} | Cobre {version} {result['peak_rss_mb']:6.1f} | {before} -> {load_text()}",
          flush=True)


def national_case(directory: Path, iterations: int) -> Path:
    """The default national system written as a Cobre case that trains ``iterations`` x 4 forward passes."""
    from caudal.examples.national_case import NationalSize, generate, with_training, write_case

    write_case(with_training(generate(NationalSize()), iterations, 4), directory)
    return directory


def load_text() -> str:
    return " ".join(f"{x:.2f}" for x in load_average())


if __name__ == "__main__":
    main()
