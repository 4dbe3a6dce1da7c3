"""Risk aversion on brazil4: what a CVaR-weighted policy pays up front and saves in the tail.

    python benchmarks/risk_brazil4.py                     # 24 stages, 82 openings, 3 policies: ~15 minutes on 2 cores
    python benchmarks/risk_brazil4.py --stages 6 --iterations 10 --scenarios 100 --out /tmp/risk   # smoke run

Trains brazil4 once with the expectation and once with each risk-averse
measure asked for, then simulates every policy on the same scenarios (same
seed: scenario ``k`` is the same sequence of historical years for every
policy, so differences are the policies', not the dice's). A risk-averse
policy weighs dry openings more, so it keeps more water in the reservoirs and
burns more thermal fuel now: a higher first-stage cost, a higher mean, and
lower high quantiles of the total cost. The script measures whether that holds.

Writes into ``--out`` (default ``docs/images``):

* ``risk_brazil4.csv``: per policy, the trained bound (each measure's own
  nested risk-adjusted value, not comparable across measures), the
  first-stage cost, the mean, 90% and 95% quantiles and CVaR (mean of the
  worst 10% and 5%) of the simulated total discounted cost, and the stored
  energy left after the first stage;
* ``risk_brazil4.png``: overlaid histograms of the total cost, the mean and
  95% quantile of the stage cost, and a quantile fan of the stored energy,
  over the stages.

The same table is printed as Markdown, after a line naming the machine.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from machine import describe_machine

import caudal
from caudal.examples import brazil4

ROOT = Path(__file__).resolve().parent.parent
MONEY = 1e6
"""Costs are reported in millions."""


def parse_measure(text: str) -> caudal.RiskMeasure:
    """``expectation``, ``cvar:ALPHA`` or ``eavar:LAMBDA,ALPHA`` (caudal's conventions)."""
    name, _, arguments = text.partition(":")
    values = [float(v) for v in arguments.split(",") if v]
    if name == "expectation" and not values:
        return caudal.Expectation()
    if name == "cvar" and len(values) == 1:
        return caudal.CVaR(values[0])
    if name == "eavar" and len(values) == 2:
        return caudal.EAVaR(values[0], values[1])
    raise argparse.ArgumentTypeError(f"not a risk measure: {text!r} (expectation, cvar:ALPHA, eavar:LAMBDA,ALPHA)")


def label(measure: caudal.RiskMeasure) -> str:
    if isinstance(measure, caudal.CVaR):
        return f"CVaR({measure.alpha:g})"
    if isinstance(measure, caudal.EAVaR):
        return f"EAVaR(lam={measure.lam:g}, alpha={measure.alpha:g})"
    return "Expectation"


def tail_mean(totals: np.ndarray, fraction: float) -> float:
    """Empirical CVaR: the mean of the worst ``fraction`` of the totals (at least one)."""
    worst = np.sort(totals)[::-1]
    return float(worst[: max(1, int(round(fraction * totals.size)))].mean())


def study(problem: caudal.Problem, measure: caudal.RiskMeasure, args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    result = caudal.train(problem, iterations=args.iterations, forward_passes=args.forward_passes, seed=args.seed,
                          threads=args.threads, risk_measure=measure)
    simulation = caudal.simulate(result, scenarios=args.scenarios, seed=args.simulation_seed, threads=args.threads)
    totals = simulation.total_costs
    stored = simulation.states.sum(axis=2)  # [scenario, stage]: stored energy over the four subsystems
    return {
        "policy": label(measure),
        "bound": result.bound,
        "first_stage_cost": float(simulation.stage_costs[:, 0].mean()),
        "stored_after_first_stage": float(stored[:, 0].mean()),
        "mean": float(totals.mean()),
        "q90": float(np.quantile(totals, 0.90)),
        "q95": float(np.quantile(totals, 0.95)),
        "cvar10": tail_mean(totals, 0.10),
        "cvar05": tail_mean(totals, 0.05),
        "seconds": time.perf_counter() - started,
        "_totals": totals,
        "_stage_costs": simulation.stage_costs,
        "_stored": stored,
    }


COLUMNS = [
    ("policy", "policy", "{}"),
    ("bound", "trained bound (own measure)", "{:.2f}"),
    ("first_stage_cost", "first-stage cost", "{:.3f}"),
    ("stored_after_first_stage", "stored energy after stage 1", "{:.0f}"),
    ("mean", "mean total", "{:.2f}"),
    ("q90", "90% quantile", "{:.2f}"),
    ("q95", "95% quantile", "{:.2f}"),
    ("cvar10", "CVaR 10% (mean of worst 10%)", "{:.2f}"),
    ("cvar05", "CVaR 5% (mean of worst 5%)", "{:.2f}"),
]
"""Costs in millions (the bound too); stored energy in the case's units."""


def cell(row: dict, key: str, fmt: str) -> str:
    value = row[key]
    if key == "policy":
        return value
    return fmt.format(value / MONEY if key != "stored_after_first_stage" else value)


def write_table(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([key for key, _, _ in COLUMNS] + ["train_and_simulate_s"])
        for row in rows:
            writer.writerow([cell(row, key, fmt) for key, _, fmt in COLUMNS] + [f"{row['seconds']:.0f}"])


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(title for _, title, _ in COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(row, key, fmt) for key, _, fmt in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    figure, (hist, costs, stored) = plt.subplots(1, 3, figsize=(15, 4.6))
    every = np.concatenate([row["_totals"] for row in rows]) / MONEY
    bins = np.linspace(every.min(), np.quantile(every, 0.995), 50)
    for colour, row in zip(colours, rows, strict=False):
        totals = row["_totals"] / MONEY
        hist.hist(totals, bins=bins, alpha=0.45, color=colour, label=row["policy"])
        hist.axvline(row["mean"] / MONEY, color=colour, ls="--", lw=1)
        hist.axvline(row["q95"] / MONEY, color=colour, ls="-", lw=1.5)
        stages = np.arange(1, row["_stage_costs"].shape[1] + 1)
        stage_costs = row["_stage_costs"] / MONEY
        costs.plot(stages, stage_costs.mean(axis=0), color=colour, ls="--", lw=1)
        costs.plot(stages, np.quantile(stage_costs, 0.95, axis=0), color=colour, lw=1.5, label=row["policy"])
        low, median, high = np.quantile(row["_stored"], (0.05, 0.5, 0.95), axis=0)
        stored.fill_between(stages, low, high, color=colour, alpha=0.15)
        stored.plot(stages, median, color=colour, lw=1.5, label=row["policy"])
    hist.set_xlabel("total discounted cost (millions)")
    hist.set_ylabel("scenarios")
    hist.set_title("Total cost (dashed: mean, solid: 95% quantile)")
    hist.legend(fontsize=8)
    costs.set_xlabel("stage (month)")
    costs.set_ylabel("stage cost (millions, undiscounted)")
    costs.set_title("Stage cost (dashed: mean, solid: 95% quantile)")
    costs.legend(fontsize=8)
    stored.set_xlabel("stage (month)")
    stored.set_ylabel("stored energy, 4 subsystems")
    stored.set_title("Stored energy after the stage (median, 5-95%)")
    stored.legend(fontsize=8)
    for axis in (hist, costs, stored):
        axis.grid(alpha=0.3)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", type=int, default=24)
    parser.add_argument("--openings", type=int, default=None, help="default: all 82 historical years")
    parser.add_argument("--iterations", type=int, default=150)
    parser.add_argument("--forward-passes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="training seed (the same for every policy)")
    parser.add_argument("--scenarios", type=int, default=1000)
    parser.add_argument("--simulation-seed", type=int, default=2024, help="the same scenarios for every policy")
    parser.add_argument("--risk", type=parse_measure, nargs="+", default=[caudal.EAVaR(0.5, 0.1), caudal.CVaR(0.25)],
                        help="risk-averse measures to compare with the expectation (default eavar:0.5,0.1 cvar:0.25)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()

    problem = brazil4(stages=args.stages, openings=args.openings)
    n_openings = problem.stages[-1].n_openings
    setup = (f"brazil4, {args.stages} stages, {n_openings} openings; {args.iterations} iterations x "
             f"{args.forward_passes} forward passes; {args.scenarios} simulated scenarios "
             f"(seed {args.simulation_seed})")
    print(describe_machine())
    print(setup)
    rows = [study(problem, measure, args) for measure in [caudal.Expectation(), *args.risk]]
    args.out.mkdir(parents=True, exist_ok=True)
    write_table(rows, args.out / "risk_brazil4.csv")
    plot(rows, args.out / "risk_brazil4.png", setup)
    print("costs in millions, discounted to the first stage (the first-stage cost is not discounted)")
    print(markdown_table(rows))
    print("train + simulate seconds: " + ", ".join(f"{row['policy']} {row['seconds']:.0f}" for row in rows))
    neutral = rows[0]
    for row in rows[1:]:
        ratio = row["first_stage_cost"] / neutral["first_stage_cost"]
        print(f"{row['policy']} vs Expectation: first-stage cost {ratio:.3f}x, "
              f"q95 {row['q95'] / neutral['q95']:.3f}x, CVaR 5% {row['cvar05'] / neutral['cvar05']:.3f}x, "
              f"mean {row['mean'] / neutral['mean']:.3f}x")
    print(f"wrote {args.out / 'risk_brazil4.csv'} and {args.out / 'risk_brazil4.png'}")


if __name__ == "__main__":
    main()
