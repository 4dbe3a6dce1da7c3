"""caudal against Cobre 0.5.1 and Cobre 0.18.0 on a Cobre case (4ree by default), alternating in one run.

The engines train the same case with the same iterations, for each number of
forward passes (1 and 4 by default) and workers (1 and 2: caudal's threads,
Cobre's threads), each run in a fresh process so its peak resident memory is
its own. Every Cobre run is paired with a caudal run just before it, and the
load average is printed before and after each pair: on a shared machine a
pair whose load moved is not worth much. Every run is printed, not the best.

By default all engines read the same opening tree (caudal's, written into a
temporary copy of each case as ``scenarios/noise_openings.parquet``), so they
solve the very same sampled problem and their lower bounds are comparable.
Cobre 0.18 reads another format: its copy of the case comes from
``SHARED/cases/cobre/cases-0.18/CASE``, with ``training.scenario_source.openings``
set to ``{"source": "file"}`` so that it reads that tree instead of drawing its own.

Cobre runs from its Python wheels (``cobre-python``, Python 3.12 only), each
version in its own virtual environment, created with pip if missing::

    python benchmarks/vs_cobre.py --shared /work/shared      # 4ree, 256 iterations, 1 and 4 passes, 1 and 2 workers
    python benchmarks/vs_cobre.py --iterations 32 --forward-passes 1 --workers 1,2 --repeat 3
    python benchmarks/vs_cobre.py --cobre 0.18.0 --own-openings
    python benchmarks/vs_cobre.py --forward-passes 1 --opening-chunk 0,auto   # unsplit and split, side by side

Printed at the end, per forward passes and workers: the median wall time of
each engine, caudal's over Cobre's (goal: at most 0.8 of Cobre 0.18), caudal's
2-worker over its 1-worker time (goal: at most 0.6), and peak RSS ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import describe_machine, load_average

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASE = ROOT / "tests" / "data" / "cobre" / "4ree"
DEFAULT_SHARED = ROOT.parent / "shared"
COBRE_VERSIONS = ("0.5.1", "0.18.0")
NEW_FORMAT = "0.18.0"
"""The Cobre release that reads the case converted to its format (``SHARED/cases/cobre/cases-0.18``)."""

# Peak RSS is read from /proc/self/status (VmHWM): getrusage's ru_maxrss survives exec on Linux, so a child
# would report at least the RSS of the Python process that started it.
PEAK_RSS = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1]) / 1024"

CAUDAL_RUN = r"""
import json, sys, time
started = time.perf_counter()
import caudal
from caudal.hydro import cobre
case, iterations, passes, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
opening_chunk = sys.argv[5] if sys.argv[5] == "auto" else int(sys.argv[5])
study = cobre.load_case(case)
result = caudal.train(study.problem, iterations=iterations, forward_passes=passes, seed=study.training.seed,
                      threads=threads, opening_chunk=opening_chunk)
print(json.dumps({
    "seconds": time.perf_counter() - started, "train_seconds": result.wall_time, "lower_bound": result.lower_bound,
    "iterations": result.iterations, "peak_rss_mb": PEAK_RSS,
}))
""".replace("PEAK_RSS", PEAK_RSS)

COBRE_RUN = r"""
import json, sys, time
case, output, threads, version = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
started = time.perf_counter()
import cobre
options = {"skip_simulation": True} if version.startswith("0.5.") else {}  # 0.18: simulation off in its config
result = cobre.run.run(case, output_dir=output, threads=threads, **options)
print(json.dumps({
    "seconds": time.perf_counter() - started, "train_seconds": result["total_time_ms"] / 1000,
    "lower_bound": result["lower_bound"], "iterations": result["iterations"],
    "peak_rss_mb": PEAK_RSS,
}))
""".replace("PEAK_RSS", PEAK_RSS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", type=Path, default=DEFAULT_CASE, help="a Cobre 0.5 case directory (default 4ree)")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                        help="the shared reference data, holding cases/cobre/cases-0.18/CASE (default ../shared "
                        "beside the repository)")
    parser.add_argument("--iterations", type=int, default=None, help="default: the case's iteration limit")
    parser.add_argument("--forward-passes", default="1,4", help="comma-separated forward passes (default 1,4)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    parser.add_argument("--cobre", default=",".join(COBRE_VERSIONS),
                        help=f"comma-separated Cobre versions (default {','.join(COBRE_VERSIONS)})")
    parser.add_argument("--venvs", type=Path, default=Path("/tmp"),
                        help="where each Cobre version's venv is (cobre-VERSION-venv; created with pip if missing)")
    parser.add_argument("--python312", default=None, help="Python 3.12 used to create the venvs (default: found)")
    parser.add_argument("--repeat", type=int, default=1, help="pairs per engine, passes and workers")
    parser.add_argument("--opening-chunk", default="0",
                        help="caudal's opening split, comma-separated for several, each run before the same Cobre "
                        "run: 0 (none, the default), auto or N (docs/hot-path.md)")
    parser.add_argument("--own-openings", action="store_true",
                        help="let each engine draw its own openings (bounds then differ by sampling)")
    args = parser.parse_args()

    from caudal.hydro import cobre

    settings = cobre.load_case(args.case).training
    iterations = args.iterations or settings.iterations
    passes_list = [int(p) for p in args.forward_passes.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    versions = args.cobre.split(",")
    chunks = args.opening_chunk.split(",")
    new_case = args.shared / "cases" / "cobre" / "cases-0.18" / args.case.name
    if NEW_FORMAT in versions and not (new_case / "config.json").exists():
        sys.exit(f"vs_cobre: {new_case}/config.json not found: Cobre {NEW_FORMAT} needs the case in its format; "
                 "pass --shared DIR (the shared reference data) or --cobre 0.5.1")
    pythons = {v: ensure_cobre(args.venvs / f"cobre-{v}-venv", v, args.python312) for v in versions}
    print(describe_machine())
    print(f"case {args.case.name}: {iterations} iterations, "
          f"{'each engine its own openings' if args.own_openings else 'the same openings (caudal tree)'}, "
          f"caudal's opening chunk {args.opening_chunk}")
    print("pair | passes workers chunk | caudal s  Cobre s  ratio | RSS MB caudal  Cobre | lower bound caudal / Cobre "
          "| load before -> after")
    runs: dict[tuple[str, int, int], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="vs_cobre_") as scratch:
        for passes in passes_list:
            here = Path(scratch) / f"passes{passes}"
            mine_case = prepare_case(args.case, here / "caudal", iterations, passes, not args.own_openings, args.case)
            cases = {v: prepare_case(new_case if v == NEW_FORMAT else args.case, here / v, iterations, passes,
                                     not args.own_openings, args.case, new_format=v == NEW_FORMAT)
                     for v in versions}
            for n in workers:
                for pair in range(max(1, args.repeat)):
                    for v in versions:
                        before = load_text()
                        mine = {chunk: run([sys.executable, "-c", CAUDAL_RUN, str(mine_case), str(iterations),
                                            str(passes), str(n), chunk]) for chunk in chunks}
                        theirs = run([str(pythons[v]), "-c", COBRE_RUN, str(cases[v]), str(here / f"out-{v}-{n}"),
                                      str(n), v])
                        runs.setdefault((v, passes, n), []).append(theirs)
                        for chunk, ours in mine.items():
                            runs.setdefault((caudal_label(chunk), passes, n), []).append(ours)
                            print(f"{pair + 1:4d} | {passes:6d} {n:7d} {chunk:>5} | {ours['seconds']:8.2f} "
                                  f"{theirs['seconds']:8.2f} {ours['seconds'] / theirs['seconds']:6.2f} | "
                                  f"{ours['peak_rss_mb']:6.0f} {theirs['peak_rss_mb']:6.0f} ({v}) | "
                                  f"{ours['lower_bound']:.10g} / {theirs['lower_bound']:.10g} | {before} -> "
                                  f"{load_text()}", flush=True)
                            if not args.own_openings:
                                check_bounds(v, passes, n, ours, theirs, converged=iterations >= settings.iterations)
    report(runs, versions, passes_list, workers, chunks)


def caudal_label(chunk: str) -> str:
    """The key of caudal's runs with one opening chunk: ``caudal`` unsplit, else ``caudal/CHUNK``."""
    return "caudal" if chunk == "0" else f"caudal/{chunk}"


def load_text() -> str:
    return " ".join(f"{x:.2f}" for x in load_average())


def ensure_cobre(venv: Path, version: str, python312: str | None) -> Path:
    """The venv's interpreter, after creating the venv and installing ``cobre-python==version`` if needed."""
    python = venv / "bin" / "python"
    check = f"import cobre, sys; sys.exit(cobre.__version__ != {version!r})"
    if python.exists() and subprocess.run([str(python), "-c", check], capture_output=True).returncode == 0:
        return python
    interpreter = python312 or find_python312()
    print(f"creating {venv} with {interpreter} and installing cobre-python=={version} ...", flush=True)
    subprocess.run([interpreter, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"cobre-python=={version}"], check=True)
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
    sys.exit("vs_cobre: no Python 3.12 found (cobre-python's wheels need it); pass --python312")


def prepare_case(source: Path, case: Path, iterations: int, passes: int, shared: bool, tree_from: Path,
                 new_format: bool = False) -> Path:
    """A copy of ``source`` with the run's iteration limit and passes, no simulation, and caudal's tree if ``shared``.

    The tree is the one caudal draws for ``tree_from`` (the case in the 0.5
    format); ``new_format`` is Cobre 0.18's config, whose forward passes sit in
    ``training.selection`` and which reads the tree only when told to.
    """
    from caudal.hydro import cobre

    shutil.copytree(source, case, ignore=shutil.ignore_patterns("output"))
    config_path = case / "config.json"
    config = json.loads(config_path.read_text())
    training = config["training"]
    training["stopping_rules"] = [{"type": "iteration_limit", "limit": iterations}]
    config["simulation"] = {"enabled": False}
    if new_format:
        training.setdefault("selection", {"method": "sampled"})["forward_passes"] = passes
        if shared:
            training.setdefault("scenario_source", {})["openings"] = {"source": "file"}
    else:
        training["forward_passes"] = passes
    config_path.write_text(json.dumps(config, indent=2))
    tree = case / "scenarios" / "noise_openings.parquet"
    if shared and not tree.exists():
        cobre.write_noise_openings(tree, cobre.load_case(tree_from).noise)
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


def check_bounds(version: str, passes: int, n: int, mine: dict, theirs: dict, converged: bool) -> None:
    """Stop when the bounds after the case's full iteration limit differ; before it, only say so."""
    difference = (mine["lower_bound"] - theirs["lower_bound"]) / abs(theirs["lower_bound"])
    if abs(difference) <= BOUND_AGREEMENT:
        return
    message = (f"against Cobre {version} with {passes} forward passes and {n} worker(s) the lower bounds differ by "
               f"{difference:+.1e}, more than {BOUND_AGREEMENT:.0e}")
    if not converged:
        print(f"  ({message}: fewer iterations than the case's limit, the bounds need not have met yet)")
        return
    sys.exit(f"vs_cobre: {message}: one engine made an invalid cut or did not converge")


def median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def report(runs: dict[tuple[str, int, int], list[dict]], versions: list[str], passes_list: list[int],
           workers: list[int], chunks: list[str]) -> None:
    """Medians over every run of a setting (each run was printed above), and their ratios."""
    print()
    print("passes workers chunk | caudal s | "
          + " | ".join(f"Cobre {v} s, caudal/Cobre, RSS caudal/Cobre" for v in versions)
          + " | caudal time / its 1-worker time")
    for passes in passes_list:
        for n in workers:
            for chunk in chunks:
                mine = runs[(caudal_label(chunk), passes, n)]
                cells = []
                for v in versions:
                    theirs = runs[(v, passes, n)]
                    time_ratio = median(mine, "seconds") / median(theirs, "seconds")
                    rss_ratio = median(mine, "peak_rss_mb") / median(theirs, "peak_rss_mb")
                    cells.append(f"{median(theirs, 'seconds'):7.2f} {time_ratio:5.2f} {rss_ratio:5.2f}")
                one = runs.get((caudal_label(chunk), passes, workers[0]))
                scaling = median(mine, "seconds") / median(one, "seconds") if one else float("nan")
                print(f"{passes:6d} {n:7d} {chunk:>5} | {median(mine, 'seconds'):8.2f} | " + " | ".join(cells)
                      + f" | {scaling:5.2f}")
    print("(medians of every run above; wall time: loading the case and training, in a fresh process)")


if __name__ == "__main__":
    main()
