"""Peak memory of a resume: how many copies of the cut pools a resume holds at once.

A synthetic policy (``checkpoint_scale.py``'s: dense random cuts at every stage
but the last, visited states) is written once as a checkpoint directory; then
fresh processes resume it, each with one of the codes compared (``--code
NAME=SRC``: a ``src`` directory holding a ``caudal`` package, e.g. an export of
main; the default is this checkout), alternating, one process per measurement:

* ``rss``: the process builds the problem, resets its peak RSS
  (``/proc/self/clear_refs``), runs ``resume_state`` (what ``caudal train
  --resume`` runs: read, verify, pools, archives, stage LPs) and reports VmHWM,
  the RSS before the resume, and its growth;
* ``tracemalloc``: the same under ``tracemalloc`` (started after the problem is
  built). It sees numpy's and Python's allocations, not the pages of a memory
  map, so it does not see a checkpoint file mapped whole.

The pools' own bytes (the arrays a resume must hold once) are printed beside.
Every figure is in MB of 10^6 bytes.

    python benchmarks/resume_memory.py --cuts 2000 --stages 120 --states 403 \\
        --code new=src --code old=/tmp/main-src/src
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KB = 1024  # /proc/self/status says kB and means KiB


def child(args: argparse.Namespace) -> None:
    """One measurement in this (fresh) process; prints one JSON line."""
    import tracemalloc

    sys.path.insert(0, str(HERE))
    from checkpoint_scale import synthetic_problem

    from caudal.checkpoint.during_training import resume_state
    from caudal.parallel.comm import SingleProcessCommunicator
    from caudal.sddp.training import TrainingOptions

    problem = synthetic_problem(args.stages, args.states)
    options = TrainingOptions(iterations=100, forward_passes=200, seed=0)
    comm = SingleProcessCommunicator()
    if args.mode == "tracemalloc":
        tracemalloc.start()
    with open("/proc/self/clear_refs", "w") as reset:
        reset.write("5")  # VmHWM := VmRSS: the peak from here on is the resume's
    before = _status_kb("VmRSS")
    started = time.perf_counter()
    state, _, _ = resume_state(args.checkpoint, problem, options, comm)
    seconds = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1] if args.mode == "tracemalloc" else 0
    pools = sum(pool.nbytes for pool in state.pools)
    archives = sum(archive.nbytes for archive in state.visited)
    print(json.dumps({"hwm_kb": _status_kb("VmHWM"), "before_kb": before, "seconds": seconds,
                      "traced": traced, "pools": pools, "archives": archives}))


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _row(name: str, mode: str, row: dict, load: str) -> str:
    """One printed row; ``held`` is the pools and archives the resumed state holds."""
    held = row["pools"] + row["archives"]
    growth = (row["hwm_kb"] - row["before_kb"]) * KB
    traced = f"{row['traced'] / 1e6:.1f}" if mode == "tracemalloc" else "-"
    return (f"{name:>6} {mode:>11} {row['pools'] / 1e6:>9.1f} {row['archives'] / 1e6:>12.1f} "
            f"{row['before_kb'] * KB / 1e6:>14.1f} {row['hwm_kb'] * KB / 1e6:>9.1f} {growth / 1e6:>10.1f} "
            f"{growth / held:>12.2f} {traced:>15} {row['seconds']:>9.2f}  {load}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stages", type=int, default=120)
    parser.add_argument("--states", type=int, default=403)
    parser.add_argument("--cuts", type=int, default=2000, help="cuts per stage (all but the last)")
    parser.add_argument("--visited", type=int, default=200, help="visited-state rows per stage")
    parser.add_argument("--code", action="append", default=[], help="NAME=SRC, a src directory with caudal")
    parser.add_argument("--repeats", type=int, default=2, help="rounds; each runs every code in every mode")
    parser.add_argument("--directory", type=Path, default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--modes", default="rss,tracemalloc", help="comma-separated: rss, tracemalloc")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("rss", "tracemalloc"), default="rss", help=argparse.SUPPRESS)
    parser.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    from checkpoint_scale import size_of, synthetic_problem, synthetic_state
    from machine import describe_machine, load_average

    def load() -> str:
        return " ".join(f"{value:.1f}" for value in load_average())

    from caudal.checkpoint import write_checkpoint
    from caudal.sddp.training import TrainingOptions

    codes = [tuple(text.split("=", 1)) for text in args.code] or [("this", str(HERE.parent / "src"))]
    print(describe_machine())
    with tempfile.TemporaryDirectory(dir=args.directory) as tmp:
        problem = synthetic_problem(args.stages, args.states)
        state = synthetic_state(problem, args.cuts, args.visited)
        options = TrainingOptions(iterations=100, forward_passes=200, seed=0)
        path = write_checkpoint(Path(tmp), state, options, as_directory=True, threads=2)
        del state
        print(f"checkpoint directory: {args.stages} stages x {args.cuts:,} cuts x {args.states} states, "
              f"{args.visited} visited rows a stage: {size_of(path) / 1e6:.1f} MB in "
              f"{len(list(path.iterdir()))} files; load average {load()}")
        print(f"{'code':>6} {'mode':>11} {'pools MB':>9} {'archives MB':>12} {'RSS before MB':>14} "
              f"{'VmHWM MB':>9} {'growth MB':>10} {'growth/held':>12} {'traced peak MB':>15} {'resume s':>9}  load")
        for repeat in range(args.repeats):
            order = codes if repeat % 2 == 0 else codes[::-1]
            for name, src in order:
                for mode in args.modes.split(","):
                    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--mode", mode,
                               "--checkpoint", str(path), "--stages", str(args.stages), "--states", str(args.states)]
                    environment = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
                    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
                    if done.returncode != 0:
                        raise SystemExit(f"{name} ({mode}) failed:\n{done.stderr}")
                    row = json.loads(done.stdout.strip().splitlines()[-1])
                    print(_row(name, mode, row, load()), flush=True)


if __name__ == "__main__":
    main()
