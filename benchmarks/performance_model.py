"""The performance model of docs/performance-model.md: check it on a sweep, project the production case.

    python benchmarks/performance_model.py check docs/scaling/brazil4-strong
        calibrate on the sweep's 1x1 run, predict every layout, print predicted vs measured
    python benchmarks/performance_model.py project
        calibrate the unit costs on the national-size case (caudal.examples.national: 160 hydros,
        130 thermals, 5 subsystems, 3 load blocks, 20 openings, PAR(2) lags as states) on a few
        stages, then project 120 stages x 192 forward passes onto 4..256 ranks over InfiniBand HDR
    python benchmarks/performance_model.py check docs/scaling/national-strong
        (after caudal scaling national --stages 12 ... -o docs/scaling/national-strong)
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from machine import describe_machine, load_average

import caudal
from caudal.cases import resolve_case
from caudal.profiling.machine import cores_available
from caudal.profiling.performance_model import (
    INFINIBAND_HDR,
    CaseShape,
    Network,
    bytes_per_iteration,
    calibrate,
    collectives_per_iteration,
    communication_seconds,
    iteration_seconds,
    run_seconds,
)
from caudal.profiling.table import read_profile

SHARED_MEMORY = Network("shared memory (MPICH, one node)", latency=1.0e-6, bandwidth=5e9)
"""A stand-in for the machine's own MPI: its collectives are measured, not modelled, in the check."""


# -- the production case, small enough to calibrate on ---------------------------------------
def production_case(stages: int, openings: int = 20) -> caudal.Problem:
    """The national-size case (:func:`caudal.examples.national`) on fewer stages: the production stage LP."""
    return caudal.examples.national(stages=stages, openings=openings)


def measure_refresh(problem: caudal.Problem, cut_counts=(0, 500, 1000, 2000), repeats: int = 5) -> tuple[float, float]:
    """CPU seconds of one stage LP refresh (template plus cuts, CSC): ``a + b * cut entries``, fitted."""
    from caudal.sddp.training import TrainingState

    state = TrainingState.fresh(problem.compile())
    pool = state.pools[0]
    rng = np.random.default_rng(0)
    entries, seconds = [], []
    for k, cuts in enumerate(cut_counts):
        if cuts > pool.size:
            new = cuts - pool.size
            pool.add(rng.random(new) * 1e6, -rng.random((new, pool.n_states)) * 100, k, np.arange(new))
        started = time.process_time()
        for _ in range(repeats):
            state.cache.refresh(0)
        seconds.append((time.process_time() - started) / repeats)
        entries.append(cuts * (pool.n_states + 1))
    slope, intercept = np.polyfit(entries, seconds, 1)
    return max(float(intercept), 0.0), max(float(slope), 0.0)


# -- shapes ---------------------------------------------------------------------------------
def shape_of(problem, forward_passes: int, max_active_cuts: int | None = None) -> CaseShape:
    compiled = problem.compile() if isinstance(problem, caudal.Problem) else problem
    templates = compiled.templates
    return CaseShape(
        stages=compiled.n_stages,
        openings=max(t.n_openings for t in templates[1:]) if compiled.n_stages > 1 else templates[0].n_openings,
        forward_passes=forward_passes,
        states=compiled.n_states,
        columns=max(t.num_cols for t in templates),
        rows=max(t.num_rows for t in templates),
        first_stage_openings=templates[0].n_openings,
        max_active_cuts=max_active_cuts,
    )


# -- check ----------------------------------------------------------------------------------
def check(sweep: Path, calibration: Path | None = None) -> None:
    """Predict every layout of a sweep from its 1x1 run.

    Unit costs are the 1x1 run's CPU times (the cost on a core of its own).
    Two predictions: on this machine with no other users (its cores shared only
    among the run's own workers), and given the CPU the workers actually got
    (the run's measured CPU share while busy, which the other users' load set).
    Communication is taken as measured (least rank): the model's network terms
    are for an interconnect, not for MPICH's shared memory under load.
    ``calibration``: take the unit costs from that sweep's 1x1 run instead (a
    weak sweep's 1x1 run has too few cuts to show how solves slow down with them).
    """
    rows = list(csv.DictReader(open(sweep / "scaling.csv", encoding="utf-8")))
    _, meta = read_profile(sweep / "runs" / rows[0]["layout"] / "profile.parquet")
    case = meta["case"]
    embedded = case in ("brazil4", "national")
    problem = resolve_case(case if embedded else f"tests/data/cobre/{case}").build(
        int(meta["stages"]) if embedded else None)
    source = calibration or sweep
    base_columns, base_meta = read_profile(source / "runs" / "1x1" / "profile.parquet")
    costs = calibrate(base_columns, shape_of(problem, int(base_meta["forward_passes"])), cpu=True)
    print(describe_machine())
    print(f"{sweep}: unit costs from the CPU time of {source}/runs/1x1: {describe_costs(costs)}")
    print("| layout | workers | fwd passes | measured s/iter | CPU got | model: no other users "
          "| model: given the CPU got "
          "| measured / model given CPU | comm measured s/iter |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        layout = row["layout"].rstrip("*")
        ranks, threads = int(row["ranks"]), int(row["threads"])
        columns, _ = read_profile(sweep / "runs" / layout / "profile.parquet")
        shape = shape_of(problem, int(row["forward_passes"]))
        lead = columns["thread"] == 0
        iterations = np.unique(columns["iteration"])
        comm = min(columns["communication_s"][lead & (columns["rank"] == r)].sum() for r in range(ranks))
        comm /= iterations.size
        share = float(row["cpu_share"])
        alone = _mean_iteration(shape, costs, ranks, threads, iterations, comm, cores=cores_available())
        given = _mean_iteration(shape, costs, ranks, threads, iterations, comm, cpu_share=share)
        measured = float(row["seconds_per_iteration"])
        print(f"| {row['layout']} | {ranks * threads} | {row['forward_passes']} | {measured:.3f} | {100 * share:.0f}% "
              f"| {alone:.3f} | {given:.3f} | {measured / given:.2f} | {comm:.3f} |")


def _mean_iteration(shape, costs, ranks, threads, iterations, comm, cores=None, cpu_share=None) -> float:
    """Mean modelled seconds per iteration; with ``cpu_share``, everything but communication runs that much slower."""
    total = 0.0
    for i in iterations:
        parts = iteration_seconds(shape, costs, ranks, threads, SHARED_MEMORY, int(i), cores_per_node=cores)
        parts.pop("communication")
        total += sum(parts.values()) / (cpu_share or 1.0) + comm
    return total / iterations.size


def describe_costs(costs) -> str:
    return (f"s_f(c) = {costs.forward[0] * 1e6:.1f} us + {costs.forward[1] * 1e9:.2f} ns x c; "
            f"s_b(c) = {costs.backward[0] * 1e6:.1f} us + {costs.backward[1] * 1e9:.2f} ns x c; refresh "
            f"{costs.cache[0] * 1e6:.1f} us + {costs.cache[1] * 1e9:.2f} ns x cut entries; serial per stage "
            f"h_f {costs.stage_overhead[0] * 1e6:.0f} us, h_b {costs.stage_overhead[1] * 1e6:.0f} us; "
            f"rest {costs.rest * 1e3:.2f} ms per iteration")


# -- project --------------------------------------------------------------------------------
def project(args: argparse.Namespace) -> None:
    print(describe_machine())
    print(f"load average before calibrating: {load_average()[0]:.2f}")
    case = production_case(stages=args.calibration_stages, openings=args.openings)
    cal_shape = shape_of(case, args.calibration_passes)
    print(f"national case's stage LP: {cal_shape.rows} rows x {cal_shape.columns} columns, {cal_shape.states} states, "
          f"{cal_shape.openings} openings; calibration: {args.calibration_stages} stages x "
          f"{args.calibration_passes} forward passes x {args.calibration_iterations} iterations, 1 rank x 1 thread")
    with tempfile.TemporaryDirectory() as scratch:
        caudal.train(case, iterations=args.calibration_iterations, forward_passes=args.calibration_passes,
                     threads=1, output=scratch, checkpoint_every=None, checkpoint_seconds=None)
        columns, _ = read_profile(Path(scratch) / "profile.parquet")
    costs = calibrate(columns, cal_shape, cpu=True)
    costs = replace(costs, cache=measure_refresh(case))  # the training's few refreshes are too noisy to fit
    lead = columns["thread"] == 0
    share = float(columns["busy_cpu_s"].sum() / columns["busy_s"].sum())
    print(f"per iteration of the calibration: cuts in the backward LPs; CPU ms per backward and per forward solve "
          f"(the workers got {100 * share:.0f}% of a core while busy: wall times are {1 / share:.2f}x these)")
    backward_solves = (cal_shape.stages - 1) * cal_shape.forward_passes * cal_shape.openings
    forward_solves = cal_shape.stages * cal_shape.forward_passes
    for i, b, f in zip(columns["iteration"][lead], columns["busy_backward_s"][lead], columns["busy_forward_s"][lead],
                       strict=True):
        print(f"  iteration {i}: {cal_shape.cuts(int(i))} cuts, s_b {1e3 * share * b / backward_solves:.3f} ms, "
              f"s_f {1e3 * share * f / forward_solves:.3f} ms")
    print(f"calibrated: {describe_costs(costs)}")
    print(json.dumps({"forward": costs.forward, "backward": costs.backward, "cache": costs.cache,
                      "rest": costs.rest, "stage_overhead": costs.stage_overhead}))
    production = CaseShape(stages=120, openings=args.openings, forward_passes=args.forward_passes,
                           states=cal_shape.states,
                           columns=cal_shape.columns, rows=cal_shape.rows, first_stage_openings=args.openings,
                           max_active_cuts=args.max_active_cuts)
    traffic = bytes_per_iteration(production, args.iterations)
    print(f"\nproduction: 120 stages, {args.forward_passes} forward passes, {args.openings} openings, "
          f"{production.states} states, "
          f"active cuts per stage capped at {args.max_active_cuts}; {args.iterations} iterations")
    print(f"collectives per iteration: {collectives_per_iteration(production.stages)}; bytes received per rank "
          f"per iteration: " + ", ".join(f"{k} {v / 2**20:.2f} MiB" for k, v in traffic.items())
          + f"; total {sum(traffic.values()) / 2**20:.1f} MiB")
    serial = run_seconds(production, costs, 1, 1, INFINIBAND_HDR, args.iterations)
    for threads in args.threads:
        print(f"\n{threads} thread(s) per rank; network {INFINIBAND_HDR.name} (latency "
              f"{INFINIBAND_HDR.latency * 1e6:.1f} us, {INFINIBAND_HDR.bandwidth / 1e9:.0f} GB/s)")
        print("| ranks | workers | trial states per worker and stage | s/iter (last) | compute | cache | "
              "comm latency | comm bandwidth | run time | speedup vs 1 worker | efficiency "
              f"| run time, sigma {args.sigma} | efficiency, sigma {args.sigma} |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for ranks in args.ranks:
            last = iteration_seconds(production, costs, ranks, threads, INFINIBAND_HDR, args.iterations)
            comm = communication_seconds(production, ranks, INFINIBAND_HDR, args.iterations)
            total = run_seconds(production, costs, ranks, threads, INFINIBAND_HDR, args.iterations)
            workers = ranks * threads
            per_worker = math.ceil(math.ceil(production.forward_passes / ranks) / threads)
            speedup = serial / total
            uneven = run_seconds(production, costs, ranks, threads, INFINIBAND_HDR, args.iterations, sigma=args.sigma)
            print(f"| {ranks} | {workers} | {per_worker} | {sum(last.values()):.1f} | "
                  f"{last['forward'] + last['backward'] + last['bound']:.1f} | {last['cache']:.2f} | "
                  f"{comm['latency']:.4f} | {comm['bandwidth']:.4f} | {_hours(total)} | {speedup:.0f} | "
                  f"{speedup / workers:.2f} | {_hours(uneven)} | {serial / uneven / workers:.2f} |")
    print(f"\none worker: {_hours(serial)}")


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check")
    check_parser.add_argument("sweep", type=Path)
    check_parser.add_argument("--calibrate-on", type=Path, default=None, metavar="SWEEP",
                              help="take the unit costs from this sweep's 1x1 run")
    project_parser = commands.add_parser("project")
    project_parser.add_argument("--openings", type=int, default=20)
    project_parser.add_argument("--calibration-stages", type=int, default=3)
    project_parser.add_argument("--calibration-passes", type=int, default=24)
    project_parser.add_argument("--calibration-iterations", type=int, default=6)
    project_parser.add_argument("--iterations", type=int, default=50, help="iterations of the projected run")
    project_parser.add_argument("--forward-passes", type=int, default=192, help="forward passes of the projected run")
    project_parser.add_argument("--max-active-cuts", type=int, default=2000)
    project_parser.add_argument("--ranks", type=lambda text: [int(x) for x in text.split(",")],
                                default=[4, 8, 16, 32, 64, 128, 192, 256])
    project_parser.add_argument("--threads", type=lambda text: [int(x) for x in text.split(",")], default=[1, 4])
    project_parser.add_argument("--sigma", type=float, default=0.1,
                                help="variation of one trial state's backward time, for the imbalance column")
    args = parser.parse_args()
    check(args.sweep, args.calibrate_on) if args.command == "check" else project(args)


if __name__ == "__main__":
    main()
