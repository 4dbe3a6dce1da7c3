"""caudal against Cobre itself on a Cobre case (4ree by default), side by side in one run.

Both engines train the same case with the same iterations and forward passes,
with 1 and 2 workers (caudal's threads, Cobre's threads), each run in a fresh
process so its peak resident memory is its own. By default both read the same
opening tree (caudal's, written into a temporary copy of the case as
``scenarios/noise_openings.parquet``), so they solve the very same sampled
problem and their lower bounds are comparable. Printed: wall time (loading the
case and training, no simulation) and peak RSS of each run, their ratios, and
the lower bounds with their relative difference.

Cobre runs from its Python wheel (``cobre-python==0.5.1``, Python 3.12 only),
in its own virtual environment, created with pip if missing::

    python benchmarks/vs_cobre.py                       # 4ree, its config's 256 iterations x 4 passes
    python benchmarks/vs_cobre.py --iterations 64 --workers 1 --repeat 3
    python benchmarks/vs_cobre.py --cobre-venv /opt/cobre-venv --own-openings
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import describe_machine

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASE = ROOT / "tests" / "data" / "cobre" / "4ree"
COBRE_PACKAGE = "cobre-python==0.5.1"

# Peak RSS is read from /proc/self/status (VmHWM): getrusage's ru_maxrss survives exec on Linux, so a child
# would report at least the RSS of the Python process that started it.
PEAK_RSS = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024"

CAUDAL_RUN = r"""
import json, sys, time
started = time.perf_counter()
import caudal
from caudal.hydro import cobre
case, iterations, passes, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
study = cobre.load_case(case)
result = caudal.train(study.problem, iterations=iterations, forward_passes=passes, seed=study.training.seed,
                      threads=threads)
print(json.dumps({
    "seconds": time.perf_counter() - started, "train_seconds": result.wall_time, "lower_bound": result.lower_bound,
    "iterations": result.iterations, "peak_rss_mb": PEAK_RSS,
}))
""".replace("PEAK_RSS", PEAK_RSS)

COBRE_RUN = r"""
import json, sys, time
case, output, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
started = time.perf_counter()
import cobre
result = cobre.run.run(case, output_dir=output, threads=threads, skip_simulation=True)
print(json.dumps({
    "seconds": time.perf_counter() - started, "train_seconds": result["total_time_ms"] / 1000,
    "lower_bound": result["lower_bound"], "iterations": result["iterations"],
    "peak_rss_mb": PEAK_RSS,
}))
""".replace("PEAK_RSS", PEAK_RSS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE, help="a Cobre case directory (default 4ree)")
    parser.add_argument("--iterations", type=int, default=None, help="default: the case's iteration limit")
    parser.add_argument("--forward-passes", type=int, default=None, help="default: the case's forward passes")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--cobre-venv", type=Path, default=Path("/tmp/cobre-venv"),
                        help="virtual environment with cobre-python (created with pip if missing)")
    parser.add_argument("--python312", default=None, help="Python 3.12 used to create the venv (default: found)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per engine and worker count, alternating engines; the fastest is kept "
                        "(for a machine shared with other work)")
    parser.add_argument("--own-openings", action="store_true",
                        help="let each engine draw its own openings (bounds then differ by sampling)")
    args = parser.parse_args()

    from caudal.hydro import cobre

    settings = cobre.load_case(args.case).training
    iterations = args.iterations or settings.iterations
    passes = args.forward_passes or settings.forward_passes
    workers = [int(w) for w in args.workers.split(",")]
    cobre_python = ensure_cobre(args.cobre_venv, args.python312)
    print(describe_machine())
    print(f"case {args.case.name}: {iterations} iterations x {passes} forward passes, "
          f"{'each engine its own openings' if args.own_openings else 'the same openings (caudal tree)'}")
    with tempfile.TemporaryDirectory(prefix="vs_cobre_") as scratch:
        case = prepare_case(args.case, Path(scratch), iterations, passes, shared=not args.own_openings)
        rows = []
        for n in workers:
            mine_runs, their_runs = [], []
            for _ in range(max(1, args.repeat)):
                mine_runs.append(run([sys.executable, "-c", CAUDAL_RUN, str(case), str(iterations), str(passes),
                                      str(n)]))
                their_runs.append(run([str(cobre_python), "-c", COBRE_RUN, str(case),
                                       str(Path(scratch) / f"out{n}"), str(n)]))
            mine = min(mine_runs, key=lambda r: r["seconds"])
            theirs = min(their_runs, key=lambda r: r["seconds"])
            rows.append((n, mine, theirs))
            print(f"  {n} worker(s): caudal {mine['seconds']:.1f}s, Cobre {theirs['seconds']:.1f}s", flush=True)
    report(rows)
    if not args.own_openings:
        check_bounds(rows)


def ensure_cobre(venv: Path, python312: str | None) -> Path:
    """The venv's interpreter, after creating the venv and installing Cobre if needed."""
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import cobre"], capture_output=True).returncode == 0:
        return python
    interpreter = python312 or find_python312()
    print(f"creating {venv} with {interpreter} and installing {COBRE_PACKAGE} ...", flush=True)
    subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", COBRE_PACKAGE], check=True)
    return python


def find_python312() -> str:
    for candidate in ("python3.12",):
        path = shutil.which(candidate)
        if path and subprocess.run([path, "--version"], capture_output=True).returncode == 0:
            return path
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        for found in sorted(Path(root, "versions").glob("3.12*/bin/python3.12")):
            return str(found)
    sys.exit("vs_cobre: no Python 3.12 found (cobre-python 0.5.1 needs it); pass --python312")


def prepare_case(source: Path, scratch: Path, iterations: int, passes: int, shared: bool) -> Path:
    """A copy of the case with the run's iteration limit and passes, and caudal's tree if ``shared``."""
    from caudal.hydro import cobre

    case = scratch / source.name
    shutil.copytree(source, case, ignore=shutil.ignore_patterns("output"))
    config_path = case / "config.json"
    config = json.loads(config_path.read_text())
    config["training"]["forward_passes"] = passes
    config["training"]["stopping_rules"] = [{"type": "iteration_limit", "limit": iterations}]
    config["simulation"] = {"enabled": False}
    config_path.write_text(json.dumps(config, indent=2))
    if shared and not (case / "scenarios" / "noise_openings.parquet").exists():
        study = cobre.load_case(case)
        cobre.write_noise_openings(case / "scenarios" / "noise_openings.parquet", study.noise)
    return case


def run(command: list[str]) -> dict:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"vs_cobre: {command[0]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


BOUND_AGREEMENT = 1e-3
"""Relative difference of the two engines' lower bounds on the same openings beyond which a cut is suspect.

After the same iterations the bounds of two correct engines differ only by
how far each has converged (about 1e-5 on 4ree after 256 iterations); a
bound well above the other's means an invalid cut.
"""


def check_bounds(rows: list[tuple[int, dict, dict]]) -> None:
    for n, mine, theirs in rows:
        difference = (mine["lower_bound"] - theirs["lower_bound"]) / abs(theirs["lower_bound"])
        if abs(difference) > BOUND_AGREEMENT:
            sys.exit(f"vs_cobre: with {n} worker(s) the lower bounds differ by {difference:+.1e}, more than "
                     f"{BOUND_AGREEMENT:.0e}: one engine made an invalid cut or did not converge")


def report(rows: list[tuple[int, dict, dict]]) -> None:
    print()
    print("workers | wall s caudal / Cobre = ratio | peak RSS MB caudal / Cobre = ratio | "
          "lower bound caudal / Cobre (rel. diff)")
    for n, mine, theirs in rows:
        difference = (mine["lower_bound"] - theirs["lower_bound"]) / abs(theirs["lower_bound"])
        time_ratio = mine["seconds"] / theirs["seconds"]
        print(
            f"{n:7d} | {mine['seconds']:6.1f} / {theirs['seconds']:6.1f} = {time_ratio:5.2f} | "
            f"{mine['peak_rss_mb']:6.0f} / {theirs['peak_rss_mb']:6.0f} = "
            f"{mine['peak_rss_mb'] / theirs['peak_rss_mb']:5.2f} | "
            f"{mine['lower_bound']:.10g} / {theirs['lower_bound']:.10g} ({difference:+.1e})"
        )
    print("(wall time: loading the case and training, in a fresh process; caudal's own training time "
          + ", ".join(f"{mine['train_seconds']:.1f}s" for _, mine, _ in rows)
          + "; Cobre's reported total " + ", ".join(f"{theirs['train_seconds']:.1f}s" for _, _, theirs in rows) + ")")


if __name__ == "__main__":
    main()
