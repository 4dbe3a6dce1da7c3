"""HiGHS option variants for the stage solves, side by side on a Cobre case or the national system.

Cobre's release notes list its simplex choices: hot start for every opening
after the first, Devex pricing, no cost perturbation, row-wise PRICE, no
scaling. caudal's native kernel already hot-starts (a backward work item sets
the canonical basis for its first opening only; the others start from
HiGHS's factorisation as the previous opening left it) and prices with Devex.
The engine follows Cobre on the two others since December 2026, with
feasibility tolerances of 1e-9 (unscaled LPs need them, see
``native/sddp_options.pxd``); ``old`` is the engine before (equilibration
scaling, cost perturbation on, HiGHS's tolerances of 1e-7).
The variant ``no-ranging`` keeps the engine's options but solves every backward
opening, where the engine answers an opening from the previous one's optimal
basis when that basis stays optimal or a few dual pivots make it so (ranging,
docs/hot-path.md); ``no-pivots`` answers only the openings whose kept basis
stays optimal as it is.
This script trains the same case with the same seed under each variant of the
options, in rounds (every variant once per round, so a load change on a shared
machine hits them all), and prints each run's training time, LP solves,
simplex iterations (HiGHS's and the kernel's pivots on a kept basis), retries,
solve time per LP (solved, or answered from a kept basis: ``ranged``) and lower
bound, with the load average before and after each round.

``--solver native`` (the default) runs the compiled kernel, whose options are
changed per run by ``caudal._native.set_option_overrides`` (over
``native/sddp_options.pxd``), ``caudal._native.set_ranging`` and ``set_kept_pivots``; ``--solver highspy``
runs the reference workspace with its ``SDDP_OPTIONS`` dict, ``RANGING`` and ``kept_basis.KEPT_PIVOTS``
changed instead. Simplex iterations
and retries do not depend on the machine's load; times do.

    python benchmarks/solver_choices.py --iterations 256 --forward-passes 1 --rounds 3
    python benchmarks/solver_choices.py --national --stages 12 --iterations 3 --forward-passes 4
    python benchmarks/solver_choices.py --variants old,engine,scaling-no-perturbation,tolerances-1e-7
    python benchmarks/solver_choices.py --variants engine,no-pivots,no-ranging --brazil4 --stages 120 \
        --iterations 10 --forward-passes 2
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import caudal
from caudal.hydro import cobre
from caudal.solver import highspy_workspace, kept_basis

ROOT = Path(__file__).resolve().parent.parent
ENGINE = dict(highspy_workspace.SDDP_OPTIONS)
PIVOTS = kept_basis.KEPT_PIVOTS  # the engine's (native/_native.pyx has the same)

VARIANTS = {
    "engine": {},  # no scaling, no cost perturbation, tolerances 1e-9, Devex (native/sddp_options.pxd)
    "old": {"simplex_scale_strategy": 2, "dual_simplex_cost_perturbation_multiplier": 1.0,  # until Dec 2026
            "primal_feasibility_tolerance": 1e-7, "dual_feasibility_tolerance": 1e-7},
    "scaling-no-perturbation": {"simplex_scale_strategy": 2, "primal_feasibility_tolerance": 1e-7,
                                "dual_feasibility_tolerance": 1e-7},
    "perturbation": {"dual_simplex_cost_perturbation_multiplier": 1.0},
    "tolerances-1e-7": {"primal_feasibility_tolerance": 1e-7, "dual_feasibility_tolerance": 1e-7},
    "steepest-edge": {"simplex_dual_edge_weight_strategy": 2},
    "price-row": {"simplex_price_strategy": 1},
    "price-col": {"simplex_price_strategy": 0},
    "log-dev-0": {"log_dev_level": 0},  # HiGHS's default: a progress line formatted after every solve
    "no-ranging": {},  # the engine's options, every backward opening solved (NO_RANGING)
    "no-pivots": {},  # the engine's options, no dual pivots on a kept basis (NO_PIVOTS)
}
NO_RANGING = {"no-ranging"}
NO_PIVOTS = {"no-pivots"}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def set_variant(solver: str, changes: dict, ranging: bool = True, pivots: int = PIVOTS) -> None:
    """Make the workspaces created from now on solve with the engine's options plus ``changes``."""
    if solver == "native":
        from caudal import _native

        _native.set_option_overrides(changes)
        _native.set_ranging(ranging)
        _native.set_kept_pivots(pivots)
    else:
        highspy_workspace.SDDP_OPTIONS.clear()
        highspy_workspace.SDDP_OPTIONS.update(ENGINE | changes)
        highspy_workspace.RANGING = ranging
        kept_basis.KEPT_PIVOTS = pivots


def problem_and_seed(args: argparse.Namespace) -> tuple[caudal.Problem, int, str]:
    if args.brazil4:
        from caudal.examples import brazil4

        return brazil4(stages=args.stages), 0, f"brazil4 ({args.stages} stages, all openings)"
    if args.national:
        from caudal.examples import national

        problem = national(hydros=args.hydros, stages=args.stages)
        return problem, 0, f"national ({args.hydros} hydros, {args.stages} stages)"
    study = cobre.load_case(args.case)
    return study.problem, study.training.seed, args.case.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", type=Path, default=ROOT / "tests" / "data" / "cobre" / "4ree")
    parser.add_argument("--national", action="store_true", help="the national synthetic system instead of --case")
    parser.add_argument("--brazil4", action="store_true", help="the embedded brazil4 case at --stages instead")
    parser.add_argument("--hydros", type=int, default=160)
    parser.add_argument("--stages", type=int, default=12)
    parser.add_argument("--iterations", type=int, default=32)
    parser.add_argument("--forward-passes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--solver", choices=("native", "highspy"), default="native")
    parser.add_argument("--variants", default="old,engine", help=f"comma-separated, of {', '.join(VARIANTS)}")
    args = parser.parse_args()
    variants = {name: VARIANTS[name] for name in args.variants.split(",")}
    problem, seed, label = problem_and_seed(args)
    print(f"{label}: {args.iterations} iterations x {args.forward_passes} forward passes, "
          f"{args.solver}, {args.threads} thread(s); shared machine: compare within a round")
    print(f"{'variant':28} {'train s':>8} {'solves':>8} {'ranged':>8} {'simplex it':>10} {'it/LP':>8} "
          f"{'retries':>7} {'us/LP':>8}  lower bound")
    for round_ in range(args.rounds):
        before = load()
        for name, changes in variants.items():
            set_variant(args.solver, changes, ranging=name not in NO_RANGING,
                        pivots=0 if name in NO_PIVOTS else PIVOTS)
            try:
                result = caudal.train(problem, iterations=args.iterations, forward_passes=args.forward_passes,
                                      seed=seed, threads=args.threads, solver=args.solver)
            except Exception as error:  # a variant whose solves fail is a result too
                print(f"{name:28} failed: {error}", flush=True)
                continue
            stats = result.solver_stats
            lps = max(stats["solves"] + stats["ranged"], 1)  # solved, or answered from a kept basis
            print(f"{name:28} {result.history[-1].time_s:8.2f} {stats['solves']:8d} {stats['ranged']:8d} "
                  f"{stats['simplex_iterations']:10d} {stats['simplex_iterations'] / lps:8.2f} "
                  f"{stats['retries']:7d} {1e6 * stats['time_solve'] / lps:8.1f}  {result.lower_bound:.10g}",
                  flush=True)
        print(f"(round {round_ + 1}: load {before} -> {load()})", flush=True)
    set_variant(args.solver, {})


if __name__ == "__main__":
    main()
