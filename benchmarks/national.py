"""caudal on the national-size synthetic system, and Cobre 0.5.1 on the very same case, in one run.

    python benchmarks/national.py                             # 160 hydros, 130 thermals, 120 stages, 20 openings
    python benchmarks/national.py --stages 24 --hydros 80     # a smaller system
    python benchmarks/national.py --no-cobre --cuts 0,1000    # caudal alone, fewer cut counts

Printed, in order:

1. the stage LP of the middle stage: rows x columns, nonzeros, states;
2. one LP solve's time with 0, 1,000, 5,000 and 10,000 cuts, with working sets
   (Level-1 dominant cuts as rows, the rest in reserve) and with every cut a row.
   The cuts are valid for the stage: real Benders cuts from a backward step at
   trial states that forward passes visited, and the rest random convex
   combinations of two real cuts with their intercept lowered by up to 5%
   (below a valid cut is valid). Each measurement is a backward work item (every
   opening at one trial state, the first solve from the slack basis, each next
   one from the previous), divided by its solves; the LP is loaded before;
3. training iterations with 4 forward passes (caudal on 1 and 2 threads and on
   2 ranks of 1 thread; Cobre on 1 and 2 threads), each run a fresh process on
   the written case directory (same openings, ``noise_openings.parquet``),
   caudal and Cobre alternating: the time of each iteration, the peak RSS of
   each rank, and the ratios. caudal's run loads the case, compiles it and
   drops the case and its builders before training, then re-creates the compiled problem
   (``compacted``), as ``caudal train`` does.
   Lower bounds are printed too, but after a few iterations they differ by
   each engine's forward sampling;
4. the machine and its load average, before and after.

Cobre runs from ``cobre-python==0.5.1`` in its own Python 3.12 venv (see
``vs_cobre.py``, whose helpers this uses).
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

import numpy as np
from machine import describe_machine, load_average
from vs_cobre import COBRE_RUN, PEAK_RSS, ensure_cobre, run

from caudal.examples.national_case import NationalSize, generate, with_training, write_case
from caudal.parallel.pool import SerialPool
from caudal.sddp.cuts import CutPool, StateArchive
from caudal.sddp.passes import backward_stage, forward_pass
from caudal.sddp.stage_cache import StageCache
from caudal.sddp.working_set import WorkingSets
from caudal.solver.native_workspace import NATIVE_AVAILABLE, NativeWorkspace
from caudal.solver.workspace import Basis

CAUDAL_RUN = r"""
import json, os, sys, time
import caudal
from caudal.hydro import cobre
from caudal.parallel.comm import world
case, iterations, passes, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
comm = world()
from caudal.sddp.free_heap import compacted
study = cobre.load_case(case)
# as `caudal train` does: each stage's builder goes once its template is built, the rest of the builders
# before training (some 45 MB at the default size), and the compiled problem is re-created in few arenas
seed, problem = study.training.seed, study.problem.compile(release_builders=True)
del study
problem = compacted(problem)
result = caudal.train(problem, iterations=iterations, forward_passes=passes, seed=seed, threads=threads, comm=comm)
times = [r.time_s for r in result.history]
line = json.dumps({
    "rank": comm.rank, "iteration_seconds": [b - a for a, b in zip([0.0] + times, times)],
    "lower_bound": result.lower_bound, "peak_rss_mb": PEAK_RSS,
})
os.write(1, (line + "\n").encode())  # one write per rank: two ranks' lines never interleave
""".replace("PEAK_RSS", PEAK_RSS)

REAL_CUTS = 40
"""Trial states (forward passes) whose real cuts seed the synthetic pools."""

SHIFT = 0.05
"""Synthetic cuts lie below a convex combination of two real ones by up to this share of its intercept."""


def main() -> None:
    defaults = NationalSize()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("hydros", "thermals", "subsystems", "stages", "openings", "par_order", "seed"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    parser.add_argument("--cuts", default="0,1000,5000,10000", help="cut counts of the LP solve times")
    parser.add_argument("--solves", type=int, default=3, help="backward work items timed per LP (after one warm-up)")
    parser.add_argument("--iterations", type=int, default=2, help="training iterations per run (default 2)")
    parser.add_argument("--forward-passes", type=int, default=4)
    parser.add_argument("--workers", default="1,2", help="thread counts of the training runs (default 1,2)")
    parser.add_argument("--ranks", type=int, default=2, help="also caudal on this many MPI ranks x 1 thread (0: no)")
    parser.add_argument("--no-cobre", action="store_true", help="caudal alone")
    parser.add_argument("--cobre-venv", type=Path, default=Path("/tmp/cobre-0.5.1-venv"))
    parser.add_argument("--skip-lp", action="store_true", help="skip the LP solve times")
    parser.add_argument("--skip-training", action="store_true", help="skip the training iterations")
    args = parser.parse_args()
    size = NationalSize(args.hydros, args.thermals, args.subsystems, args.stages, args.openings, args.par_order,
                        seed=args.seed)
    print(describe_machine())
    print("load average at start " + " ".join(f"{v:.2f}" for v in load_average()))
    system = generate(size)
    problem = system.problem().compile()
    t = problem.n_stages // 2
    template = problem.templates[t]
    print(f"national system: {size.hydros} hydros in {len(system.basins)} basins, {size.thermals} thermals, "
          f"{size.subsystems} subsystems, {size.stages} stages x {size.blocks} blocks, {size.openings} openings, "
          f"PAR order up to {size.par_order}, seed {size.seed}")
    print(f"stage LP (stage {t}): {template.num_rows} rows x {template.num_cols} columns, "
          f"{template.values.size} nonzeros, {problem.n_states} states", flush=True)
    if not args.skip_lp and problem.n_stages > 2:
        lp_solve_times(problem, t, [int(c) for c in args.cuts.split(",")], args.solves)
    if not args.skip_training:
        training_runs(system, args)
    print("load average at end " + " ".join(f"{v:.2f}" for v in load_average()))


# -- 2. one LP solve with N cuts -----------------------------------------------------------------------------------


def lp_solve_times(problem, t: int, cut_counts: list[int], n_timed: int) -> None:
    workspace = NativeWorkspace() if NATIVE_AVAILABLE else None
    if workspace is None:
        print("LP solve times: the native kernel is not built; skipped")
        return
    pool = SerialPool(workspace, "native")
    started = time.perf_counter()
    intercepts, coefficients, visited, incoming = real_cuts(problem, t, pool)
    print(f"{intercepts.size} real cuts for stage {t} from {REAL_CUTS} forward passes and a backward step "
          f"({time.perf_counter() - started:.1f} s)", flush=True)
    rng = np.random.default_rng(0)
    largest = max(cut_counts)
    all_intercepts, all_coefficients = synthetic_cuts(intercepts, coefficients, largest, rng)
    print(f"one LP solve of stage {t}, ms (a backward work item of {problem.templates[t].n_openings} openings from "
          f"the slack basis, divided by its solves; best of {n_timed} work items, alternating modes)")
    print("   cuts | working sets: ms/solve  rows  reserve added | every cut a row: ms/solve  rows | ratio")
    for n in cut_counts:
        lps = {mode: stage_lp(problem, t, all_intercepts[:n], all_coefficients[:n], visited, mode)
               for mode in (True, False)}
        best = {True: np.inf, False: np.inf}
        added = {True: 0, False: 0}
        for mode in (True, False):  # warm-up: loads the LP
            time_work_item(workspace, lps[mode], incoming[0], 0)
        for j in range(1, n_timed + 1):
            for mode in (True, False):
                before = workspace.stats.cuts_added
                seconds, solves = time_work_item(workspace, lps[mode], incoming[j % len(incoming)], j)
                best[mode] = min(best[mode], seconds / solves)
                added[mode] += workspace.stats.cuts_added - before
        lean, full = lps[True], lps[False]
        reserve = 0 if lean.reserve is None else lean.reserve.size
        print(f"{n:7d} | {1000 * best[True]:22.2f} {lean.num_cuts:5d} {reserve:7d} {added[True]:5d} | "
              f"{1000 * best[False]:25.2f} {full.num_cuts:5d} | {best[True] / best[False]:5.2f}", flush=True)


def real_cuts(problem, t: int, pool: SerialPool):
    """Cuts of stage ``t`` from one backward step at the states forward passes visit, and those states."""
    pools = [CutPool(problem.n_states) for _ in range(problem.n_stages)]
    cache = StageCache(problem, pools)
    rng = np.random.default_rng(1)
    scenarios = rng.integers(0, [tp.n_openings for tp in problem.templates], (REAL_CUTS, problem.n_stages))
    forward = forward_pass(problem, cache, pool, scenarios.astype(np.int32))
    intercepts, coefficients, _ = backward_stage(cache, pool, t + 1, forward.states[t])
    # the stage's visited states, and the incoming states its backward work items start from
    return intercepts, coefficients, forward.states[t], forward.states[t - 1]


def synthetic_cuts(intercepts: np.ndarray, coefficients: np.ndarray, n: int, rng: np.random.Generator):
    """``n`` valid cuts: the real ones, then convex combinations of two of them, lowered a little."""
    n_real = intercepts.size
    if n <= n_real:
        return intercepts[:n], coefficients[:n]
    extra = n - n_real
    a, b = rng.integers(0, n_real, extra), rng.integers(0, n_real, extra)
    weight = rng.random(extra)
    mixed_intercepts = weight * intercepts[a] + (1 - weight) * intercepts[b]
    mixed_intercepts -= rng.random(extra) * SHIFT * np.abs(mixed_intercepts)
    mixed = weight[:, None] * coefficients[a] + (1 - weight)[:, None] * coefficients[b]
    return np.concatenate((intercepts, mixed_intercepts)), np.concatenate((coefficients, mixed))


def stage_lp(problem, t: int, intercepts: np.ndarray, coefficients: np.ndarray, visited: np.ndarray,
             working_sets: bool):
    """Stage ``t``'s LP with these cuts, built as training builds it (with or without a working set)."""
    pools = [CutPool(problem.n_states) for _ in range(problem.n_stages)]
    if intercepts.size:
        pools[t].add(intercepts, coefficients, 0, np.arange(intercepts.size))
    archives = [StateArchive(problem.n_states) for _ in range(problem.n_stages)]
    archives[t].add(visited)
    cache = StageCache(problem, pools, WorkingSets(archives) if working_sets else None)
    return cache.lps[t]


def time_work_item(workspace, lp, incoming: np.ndarray, trial: int) -> tuple[float, int]:
    n_open = lp.template.n_openings
    values = np.empty(n_open)
    subgradients = np.empty((n_open, incoming.shape[0]))
    before = workspace.stats.solves
    started = time.perf_counter()
    workspace.solve_backward(lp, Basis.slack(lp), np.ascontiguousarray(incoming), trial, values, subgradients, None)
    return time.perf_counter() - started, workspace.stats.solves - before


# -- 3. training iterations, caudal and Cobre alternating ---------------------------------------------------------


def training_runs(system, args) -> None:
    workers = [int(w) for w in args.workers.split(",")]
    cobre_python = None if args.no_cobre else ensure_cobre(args.cobre_venv, "0.5.1", None)
    with tempfile.TemporaryDirectory(prefix="national_") as scratch:
        case = Path(scratch) / "national"
        write_case(with_training(system, args.iterations, args.forward_passes), case)
        print(f"training: {args.iterations} iterations x {args.forward_passes} forward passes on the written case "
              f"(fresh process per run, caudal and Cobre alternating)", flush=True)
        rows = []
        layouts = [(1, n) for n in workers] + ([(args.ranks, 1)] if args.ranks > 1 else [])
        for ranks, threads in layouts:
            mine = caudal_run(case, args, ranks, threads)
            theirs = None
            if cobre_python is not None and ranks == 1:
                theirs = cobre_run(cobre_python, case, Path(scratch) / f"out{threads}", threads)
            rows.append((ranks, threads, mine, theirs))
            peaks = ", ".join(f"{r['peak_rss_mb']:.1f}" for r in mine)
            print(f"  {ranks} rank(s) x {threads} thread(s): caudal {sum(mine[0]['iteration_seconds']):.1f} s, "
                  f"peak RSS {peaks} MB"
                  + ("" if theirs is None else f"; Cobre {sum(theirs['iteration_seconds']):.1f} s, "
                     f"peak RSS {theirs['peak_rss_mb']:.1f} MB")
                  + f" (load average {' '.join(f'{v:.2f}' for v in load_average())})", flush=True)
    report(rows)


def caudal_run(case: Path, args, ranks: int, threads: int) -> list[dict]:
    command = [sys.executable, "-c", CAUDAL_RUN, str(case), str(args.iterations), str(args.forward_passes),
               str(threads)]
    if ranks > 1:
        command = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), *command]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if done.returncode != 0:
        sys.exit(f"national: caudal failed:\n{done.stderr}")
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return sorted(results, key=lambda r: r["rank"])


def cobre_run(python: Path, case: Path, output: Path, threads: int) -> dict:
    import pyarrow.parquet as pq

    result = run([str(python), "-c", COBRE_RUN, str(case), str(output), str(threads), "0.5.1"])
    with pq.ParquetFile(output / "training" / "convergence.parquet") as parquet:
        table = parquet.read()
    result["iteration_seconds"] = [ms / 1000 for ms in table.column("time_total_ms").to_pylist()]
    return result


def report(rows) -> None:
    print()
    print("layout        | s per iteration caudal (each)      | Cobre (each)              | ratio of mean | "
          "peak RSS MB per rank caudal | Cobre | ratio | lower bound caudal / Cobre")
    for ranks, threads, mine, theirs in rows:
        each = mine[0]["iteration_seconds"]
        mean = sum(each) / len(each)
        rss = [r["peak_rss_mb"] for r in mine]
        line = f"{ranks} x {threads} thread{'s' if threads > 1 else ' '} | " \
               f"{mean:6.2f} ({', '.join(f'{s:.2f}' for s in each)}) | "
        if theirs is None:
            line += f"{'-':25s} | {'-':13s} | {', '.join(f'{r:.0f}' for r in rss):27s} | {'-':5s} | {'-':5s} | " \
                    f"{mine[0]['lower_bound']:.8e}"
        else:
            their_each = theirs["iteration_seconds"]
            their_mean = sum(their_each) / len(their_each)
            line += (f"{their_mean:6.2f} ({', '.join(f'{s:.2f}' for s in their_each)}) | {mean / their_mean:13.2f} | "
                     f"{', '.join(f'{r:.0f}' for r in rss):27s} | {theirs['peak_rss_mb']:5.0f} | "
                     f"{max(rss) / theirs['peak_rss_mb']:5.2f} | "
                     f"{mine[0]['lower_bound']:.8e} / {theirs['lower_bound']:.8e}")
        print(line)
    print("(caudal: iteration times from its history, rank 0's clock; Cobre: time_total_ms of its convergence.parquet; "
          "peak RSS is VmHWM of each process, case loading included)")


if __name__ == "__main__":
    main()
