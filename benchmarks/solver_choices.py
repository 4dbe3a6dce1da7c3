"""HiGHS option variants for the stage solves, side by side on a Cobre case (4ree by default).

Cobre's release notes list its simplex choices: Devex pricing (caudal's too),
no cost perturbation, no scaling. This script trains the same case with the
same seed under each variant of caudal's options, in rounds (every variant
once per round, so a load change on a shared machine hits them all), and
prints each run's training time, LP solves, simplex iterations, retries and
lower bound, with the load average before and after each round. The variants
run through the highspy reference workspace, whose options are one dict
(``SDDP_OPTIONS``, the mirror of ``native/sddp_options.pxd``), so no rebuild is
needed; simplex iterations and retries do not depend on the machine's load.

    python benchmarks/solver_choices.py --iterations 32 --rounds 2
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import caudal
from caudal.hydro import cobre
from caudal.solver import highspy_workspace

ROOT = Path(__file__).resolve().parent.parent
ENGINE = dict(highspy_workspace.SDDP_OPTIONS)

VARIANTS = {
    "engine (equilibration, Devex, perturbation on)": {},
    "no scaling": {"simplex_scale_strategy": 0},
    "no cost perturbation": {"dual_simplex_cost_perturbation_multiplier": 0.0},
    "dual steepest edge": {"simplex_dual_edge_weight_strategy": 2},
    "no scaling, no perturbation": {"simplex_scale_strategy": 0, "dual_simplex_cost_perturbation_multiplier": 0.0},
}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", type=Path, default=ROOT / "tests" / "data" / "cobre" / "4ree")
    parser.add_argument("--iterations", type=int, default=32)
    parser.add_argument("--forward-passes", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    study = cobre.load_case(args.case)
    print(f"{args.case.name}: {args.iterations} iterations x {args.forward_passes} forward passes, highspy, 1 thread")
    print(f"{'variant':48} {'train s':>8} {'solves':>7} {'simplex it':>10} {'retries':>7}  lower bound")
    for round_ in range(args.rounds):
        before = load()
        for name, changes in VARIANTS.items():
            highspy_workspace.SDDP_OPTIONS.clear()
            highspy_workspace.SDDP_OPTIONS.update(ENGINE | changes)
            try:
                result = caudal.train(study.problem, iterations=args.iterations, forward_passes=args.forward_passes,
                                      seed=study.training.seed, threads=1, solver="highspy")
            except Exception as error:  # a variant whose solves fail is a result too
                print(f"{name:48} failed: {error}", flush=True)
                continue
            stats = result.solver_stats
            print(f"{name:48} {result.history[-1].time_s:8.2f} {stats['solves']:7d} {stats['simplex_iterations']:10d} "
                  f"{stats['retries']:7d}  {result.lower_bound:.10g}", flush=True)
        print(f"(round {round_ + 1}: load {before} -> {load()})", flush=True)
    highspy_workspace.SDDP_OPTIONS.clear()
    highspy_workspace.SDDP_OPTIONS.update(ENGINE)


if __name__ == "__main__":
    main()
