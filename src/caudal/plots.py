"""PNG plots a planner would rather look at than read (``caudal plot``), fit for a report.

* :func:`plot_convergence`: the bound (named by the problem's sense) and the
  simulated cost per iteration, with the simulated cost's 95% confidence band
  only for iterations that had enough forward passes for one.
* :func:`plot_fan`: quantile fan chart of a state, variable or cost over the
  stages of a simulation, optionally beside a spaghetti plot of individual
  scenarios' trajectories.
* :func:`plot_cuts`: the cuts of one stage's value function along one state.

Every axis carries a label and, where caudal knows it, the unit: costs are in
the case's money units, discounted to the first stage; states, variables and
duals are in the case's own units (hm3, MW, ... as the case defines them).
Iterations and stages are counted from 1, as in ``convergence.csv`` and the log.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

FAN_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MATPLOTLIB_MISSING = "needs matplotlib, which is not installed: pip install 'caudal[plots]'"
"""Compute nodes need no plotting, so matplotlib is an extra; this says how to add it."""

COST_UNIT = "cost units, first-stage money"
CASE_UNIT = "case units"
CONVERGENCE_SOURCE = "convergence.csv"


def _pyplot():
    try:
        import matplotlib
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"plotting {MATPLOTLIB_MISSING}", name="matplotlib") from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _integer_ticks(axis) -> None:
    """Whole numbers only on the x axis: there is no iteration or stage 2.5."""
    from matplotlib.ticker import MaxNLocator

    axis.xaxis.set_major_locator(MaxNLocator(integer=True))


class UnknownColumn(ValueError):
    """A column the simulation does not hold: the command line reports it as a usage error (exit 2)."""


def column_label(column: str) -> str:
    """The axis label of a simulation column, with its unit."""
    kind, _, name = column.partition(":")
    if not name:
        money = {"stage_cost": "cost units, the stage's own money", "future_cost": "cost units, the stage's money"}
        return f"{column.replace('_', ' ')} ({money.get(column, COST_UNIT)})"
    meaning = {"state": "state", "var": "variable", "dual": "dual of constraint"}.get(kind, kind)
    unit = f"{COST_UNIT} per {CASE_UNIT}" if kind == "dual" else CASE_UNIT
    return f"{name} ({meaning}, {unit})"


def plot_convergence(run_dir: Path, out: Path | None = None) -> Path:
    """``convergence.png`` from a run's ``convergence.csv`` (either sense's column names)."""
    run_dir = Path(run_dir)
    source = run_dir / CONVERGENCE_SOURCE
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file (train with --output {run_dir})")
    with open(source, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{source}: holds no iteration")
    column = {name: np.array([float(r[name]) for r in rows]) for name in rows[0]}
    maximize = "upper_bound" in column
    bound, simulated = ("upper_bound", "lower_bound") if maximize else ("lower_bound", "upper_bound")
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 4.5))
    iterations = column["iteration"]
    low, high = column[f"{simulated}_low"], column[f"{simulated}_high"]
    if np.isfinite(low).any():  # NaN where an iteration had too few forward passes: no band drawn there
        axis.fill_between(iterations, low, high, alpha=0.25,
                          label="simulated cost, 95% confidence interval (normal, from 30 forward passes)")
    axis.plot(iterations, column[f"{simulated}_mean"], lw=0.8, marker=".",
              label="simulated cost (mean of the iteration's forward passes)")
    axis.plot(iterations, column[bound], lw=2, label=f"{bound.replace('_', ' ')} (the policy's bound)")
    axis.set_xlabel("iteration")
    axis.set_ylabel(f"{'value' if maximize else 'cost'} ({COST_UNIT})")
    _integer_ticks(axis)
    axis.set_title(f"Convergence: {run_dir.name}")
    axis.legend()
    axis.grid(alpha=0.3)
    out = Path(out) if out else run_dir / "convergence.png"
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out


def plot_fan(
    simulation_dir: Path, column: str, out: Path | None = None, label: str | None = None, spaghetti: int = 0
) -> Path:
    """Quantile fan of ``column`` (e.g. ``state:stored_0``, ``var:hydro_0``, ``stage_cost``) over stages.

    ``spaghetti``: also draw the trajectories of the first ``spaghetti``
    scenarios in a panel beside the fan, where a single path's ups and downs
    show (a fan only shows the spread at each stage).
    """
    import pyarrow.dataset as ds

    simulation_dir = Path(simulation_dir)
    source = simulation_dir / "simulation" if (simulation_dir / "simulation").is_dir() else simulation_dir
    table = ds.dataset(source, partitioning="hive").to_table()
    if column not in table.column_names:
        choices = ", ".join(c for c in table.column_names if c not in ("scenario", "stage", "block"))
        raise UnknownColumn(f"{source}: no column {column!r}; the simulation has {choices}")
    stage = table["stage"].to_numpy()
    scenario = table["scenario"].to_numpy()
    values = table[column].to_numpy()
    stages = np.unique(stage)
    shown = stages + 1 - stages.min()  # stages count from 1 on the axis, whatever the table's first stage
    bands = np.array([np.nanquantile(values[stage == t], FAN_QUANTILES) for t in stages])
    n_scenarios = int(np.unique(scenario).size)
    plt = _pyplot()
    panels = 2 if spaghetti > 0 else 1
    figure, axes = plt.subplots(1, panels, figsize=(8 * panels, 4.5), sharey=True, squeeze=False)
    axis = axes[0, 0]
    axis.fill_between(shown, bands[:, 0], bands[:, 4], alpha=0.2, color="C0", label="5%-95%")
    axis.fill_between(shown, bands[:, 1], bands[:, 3], alpha=0.35, color="C0", label="25%-75%")
    axis.plot(shown, bands[:, 2], lw=2, color="C0", label="median")
    axis.set_title(f"{column}: quantiles over {n_scenarios} simulated scenarios")
    axis.legend()
    if spaghetti > 0:
        paths = axes[0, 1]
        chosen = np.unique(scenario)[:spaghetti]
        for s in chosen:
            mine = scenario == s
            order = np.argsort(stage[mine])
            paths.plot(stage[mine][order] + 1 - stages.min(), values[mine][order], lw=0.7, alpha=0.6)
        paths.plot(shown, bands[:, 2], lw=2, color="k", label="median of all scenarios")
        paths.set_title(f"{column}: {chosen.size} of {n_scenarios} scenarios' trajectories")
        paths.legend()
    for axis in axes[0]:
        axis.set_xlabel("stage")
        _integer_ticks(axis)
        axis.grid(alpha=0.3)
    axes[0, 0].set_ylabel(label or column_label(column))
    out = Path(out) if out else simulation_dir / f"fan_{column.replace(':', '_')}.png"
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out


def plot_cuts(
    intercepts: np.ndarray,
    coefficients: np.ndarray,
    state_names: tuple[str, ...],
    state: str,
    reference: np.ndarray,
    lower: float,
    upper: float,
    out: Path,
    title: str = "",
) -> Path:
    """Each cut along ``state`` (the others held at ``reference``), and their maximum."""
    if state not in state_names:
        raise ValueError(f"no state {state!r}; the states are {', '.join(state_names)}")
    i = state_names.index(state)
    grid = np.linspace(lower, upper, 200)
    base = intercepts + coefficients @ reference - coefficients[:, i] * reference[i]
    lines = base[None, :] + grid[:, None] * coefficients[None, :, i]
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 4.5))
    envelope = lines.max(axis=1)
    axis.plot(grid, lines, color="0.6", lw=0.5)
    axis.plot(grid, envelope, color="C3", lw=2, label="value function approximation")
    pad = 0.3 * (envelope.max() - envelope.min()) + 1.0
    axis.set_ylim(envelope.min() - pad, envelope.max() + pad)  # steep cuts would hide the approximation
    axis.set_xlabel(f"{state} (state, {CASE_UNIT})")
    axis.set_ylabel("cost-to-go (cost units, the stage's money)")
    axis.set_title(title or f"{len(intercepts)} cuts along {state}")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return Path(out)
