"""Single-cut against multi-cut, side by side: when does one cut per opening pay?

    nice -n 10 python benchmarks/multicut.py           # about 30 minutes on 2 shared cores
    nice -n 10 python benchmarks/multicut.py --quick   # a smoke run, a couple of minutes

Single-cut adds one cut per trial state to the stage before: the average of
the openings' linearisations. Multi-cut (``train(multi_cut=True)``) keeps each
opening's linearisation as its own cut on its own value column, so the LP
approximates every opening's cost-to-go separately. Both solve exactly the
same LPs per iteration (every opening at every trial state); multi-cut's
bound rises in fewer iterations, but its stage LPs get ``O`` times as many
cut rows (``O`` openings), so each iteration costs more. Which wins depends
on ``O``, on how many states the value function spans, and on the horizon.

Three cases, each trained both ways with the same seed, forward passes,
threads and wall-time budget:

* brazil4, 12 and 48 monthly stages, all 82 historical openings: many
  openings, 4 states;
* a cascade of 16 reservoirs (16 states), 6 stages, 3 openings: few openings,
  many states, short horizon, small enough for the deterministic equivalent.

The reference is the deterministic equivalent when the tree is small enough,
else the higher of the two runs' final bounds (both are valid lower bounds,
so the higher is the better estimate of the optimum; it is the "long
reference run"). Reported per run: iterations done, final bound and its gap
to the reference, iterations and seconds until the bound is within 1% and
0.1% of the reference, seconds per iteration (first and last 10), and cut
rows in the largest stage LP at the end. ``--selection`` adds both modes with
limited-memory Level-1 cut selection, which keeps the LPs small. Progress
goes to standard error, the report to standard output.

Measured (2 shared cores, ``--selection``): on brazil4 multi-cut loses. Its
bound per iteration is higher early on, but 82 cut rows per trial state make
an iteration ~15-20x dearer after 50 iterations, and within the same budget
its bound stays 2-5% below single-cut's (selection keeps most per-opening
cuts: each is the highest of its opening somewhere). On the 16-reservoir,
3-opening cascade it pays: half the iterations and time to 1%, a quarter of
the time to 0.1%, with or without selection.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np
from machine import describe_machine, load_average

import caudal
from caudal.examples import brazil4

TOLERANCES = (0.01, 0.001)


def cascade(reservoirs: int = 16, stages: int = 6, openings: int = 3, seed: int = 0) -> caudal.Problem:
    """Reservoirs in pairs (the second downstream of the first) sharing one demand.

    Inflows have a common and an own lognormal factor per opening, so the
    openings differ in where water is scarce: each opening's cost-to-go has
    its kinks elsewhere in the space of the ``reservoirs`` storages, which is
    what a single averaged cut per trial state blurs. Thermal tiers of rising
    cost and a deficit price make the cost-to-go convex with many pieces.
    """
    rng = np.random.default_rng(seed)
    capacity = rng.uniform(50.0, 150.0, reservoirs)
    initial = capacity * rng.uniform(0.3, 0.7, reservoirs)
    max_turbine = rng.uniform(20.0, 40.0, reservoirs)
    productivity = rng.uniform(0.8, 1.2, reservoirs)
    mean_inflow = rng.uniform(10.0, 30.0, reservoirs)
    demand = float(np.sum(productivity * mean_inflow))
    tiers = ((0.25 * demand, 50.0), (0.25 * demand, 120.0), (0.5 * demand, 300.0))
    problem = caudal.Problem(name=f"cascade {reservoirs} reservoirs x {stages} stages x {openings} openings")
    for t in range(stages):
        stage = problem.add_stage(discount=0.99)
        storage = [
            stage.add_state(f"v{i}", upper=float(capacity[i]), initial=float(initial[i])) for i in range(reservoirs)
        ]
        season = 1.0 + 0.5 * np.sin(2 * np.pi * t / 12)
        common = rng.lognormal(0.0, 0.6, openings)
        own = rng.lognormal(0.0, 0.4, (openings, reservoirs))
        inflow = [
            stage.add_uncertain(f"inflow{i}", season * mean_inflow[i] * common * own[:, i]) for i in range(reservoirs)
        ]
        turbined = [stage.add_variable(f"u{i}", upper=float(max_turbine[i])) for i in range(reservoirs)]
        spilled = [stage.add_variable(f"s{i}", cost=0.01) for i in range(reservoirs)]
        thermal = [stage.add_variable(f"g{k}", upper=cap, cost=cost) for k, (cap, cost) in enumerate(tiers)]
        deficit = stage.add_variable("deficit", cost=1000.0)
        for i in range(reservoirs):
            balance = {storage[i].out: 1.0, turbined[i]: 1.0, spilled[i]: 1.0, storage[i].incoming: -1.0}
            if i % 2 == 1:  # downstream of reservoir i - 1
                balance[turbined[i - 1]] = -1.0
                balance[spilled[i - 1]] = -1.0
            stage.add_constraint(balance, "==", inflow[i], name=f"water{i}")
        supply = {turbined[i]: float(productivity[i]) for i in range(reservoirs)}
        supply |= {g: 1.0 for g in thermal} | {deficit: 1.0}
        stage.add_constraint(supply, ">=", demand, name="demand")
    return problem


@dataclass
class Case:
    name: str
    problem: caudal.Problem
    iterations: int
    seconds: float
    exact: float | None = None  # the deterministic equivalent, when the tree is small enough
    exact_seconds: float = 0.0


@dataclass
class Run:
    multi_cut: bool
    selection: bool
    bounds: np.ndarray  # bound after each iteration
    times: np.ndarray  # seconds since the start after each iteration
    cut_rows: int  # largest number of cut rows in a stage LP at the end
    load: tuple[float, float]  # 1-minute load average before and after

    @property
    def label(self) -> str:
        return ("multi-cut" if self.multi_cut else "single-cut") + (" + LML1" if self.selection else "")

    def first_within(self, reference: float, tolerance: float) -> tuple[int, float] | None:
        """(iteration, seconds) when the bound first came within ``tolerance`` of ``reference``."""
        hit = np.flatnonzero(reference - self.bounds <= tolerance * abs(reference))
        return (int(hit[0]) + 1, float(self.times[hit[0]])) if hit.size else None

    def seconds_per_iteration(self, which: slice) -> float:
        return float(np.diff(self.times, prepend=0.0)[which].mean())


def train(case: Case, multi_cut: bool, selection: bool, args: argparse.Namespace) -> Run:
    label = ("multi-cut" if multi_cut else "single-cut") + (" with selection" if selection else "")
    print(f"--- {case.name}: {label} ---", file=sys.stderr, flush=True)
    before = load_average()[0]
    result = caudal.train(
        case.problem, iterations=case.iterations, time_limit=case.seconds, forward_passes=args.forward_passes,
        seed=args.seed, threads=args.threads, solver=args.solver, multi_cut=multi_cut,
        cut_selection=caudal.LimitedMemoryLevel1() if selection else None, log=sys.stderr if args.verbose else False,
    )
    history = result.history
    return Run(
        multi_cut=multi_cut,
        selection=selection,
        bounds=np.array([r.lower_bound for r in history]),
        times=np.array([r.time_s for r in history]),
        cut_rows=max(int(pool.active.sum()) for pool in result.policy.cut_pools),
        load=(before, load_average()[0]),
    )


def cell(hit: tuple[int, float] | None) -> str:
    return "not reached" if hit is None else f"{hit[0]:>4} it {hit[1]:8.1f} s"


def report(case: Case, runs: list[Run]) -> None:
    if case.exact is not None:
        reference, source = case.exact, f"deterministic equivalent ({case.exact_seconds:.1f} s)"
    else:
        best = max(runs, key=lambda run: run.bounds[-1])
        reference, source = float(best.bounds[-1]), f"best final bound ({best.label}, {best.bounds.size} iterations)"
    print(f"\n{case.name}")
    budget = f"budget {case.iterations} iterations or {case.seconds:.0f} s per run"
    print(f"  reference {reference:,.4f}: {source}; {budget}")
    header = (
        f"  {'':17}  {'iters':>5}  {'final bound':>16}  {'gap':>8}  {'to within 1%':>18}  {'to within 0.1%':>18}"
        f"  {'s/it first 10':>13}  {'s/it last 10':>12}  {'cut rows':>8}  {'load':>9}"
    )
    print(header)
    for run in runs:
        gap = (reference - run.bounds[-1]) / abs(reference)
        print(
            f"  {run.label:17}  {run.bounds.size:5d}  {run.bounds[-1]:16,.4f}  {gap:8.3%}  "
            f"{cell(run.first_within(reference, TOLERANCES[0])):>18}  "
            f"{cell(run.first_within(reference, TOLERANCES[1])):>18}  "
            f"{run.seconds_per_iteration(slice(0, 10)):13.3f}  {run.seconds_per_iteration(slice(-10, None)):12.3f}  "
            f"{run.cut_rows:8d}  {run.load[0]:4.1f}/{run.load[1]:4.1f}"
        )
    for single, multi in zip(runs[::2], runs[1::2], strict=True):
        for tolerance in TOLERANCES:
            a, b = single.first_within(reference, tolerance), multi.first_within(reference, tolerance)
            if a is not None and b is not None:
                verdict = f"{multi.label} takes {b[1] / a[1]:.2f}x the time and {b[0] / a[0]:.2f}x the iterations"
            elif b is not None:
                verdict = f"only {multi.label} gets there within the budget"
            elif a is not None:
                verdict = f"only {single.label} gets there within the budget"
            else:
                verdict = "neither gets there within the budget"
            print(f"  to within {tolerance:.1%}: {verdict} of {single.label}")


def cases(args: argparse.Namespace) -> list[Case]:
    scale = 0.1 if args.quick else 1.0
    chosen = [
        Case("brazil4, 12 stages, 82 openings", brazil4(stages=12), 2000, args.seconds * scale),
        Case("brazil4, 48 stages, 82 openings", brazil4(stages=48), 2000, 2 * args.seconds * scale),
    ]
    small = cascade(reservoirs=8 if args.quick else 16)
    started = time.perf_counter()
    exact = caudal.deterministic_equivalent(small)
    chosen.append(
        Case(small.name, small, 40 if args.quick else 400, args.seconds * scale, exact.objective,
             time.perf_counter() - started)
    )
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0,
                        help="wall-time budget of one run (48 stages: twice this); default 300")
    parser.add_argument("--forward-passes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--solver", default="native")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a tenth of the budget, a smaller cascade")
    parser.add_argument("--verbose", action="store_true", help="the training logs on standard error")
    parser.add_argument("--selection", action="store_true",
                        help="also train both ways with LimitedMemoryLevel1 cut selection (doubles the time)")
    args = parser.parse_args()
    print(describe_machine())
    print(
        f"single-cut vs multi-cut: {args.forward_passes} forward pass(es) per iteration, seed {args.seed}, "
        f"{args.threads} thread(s), solver {args.solver}; same budget for both modes"
    )
    modes = [(False, False), (True, False)] + ([(False, True), (True, True)] if args.selection else [])
    for case in cases(args):
        report(case, [train(case, multi_cut, selection, args) for multi_cut, selection in modes])


if __name__ == "__main__":
    main()
