"""PNG plots a planner would rather look at than read (``caudal plot``).

* :func:`plot_convergence`: lower bound and the simulated cost's 95% interval per iteration.
* :func:`plot_fan`: quantile fan chart of a state, variable or cost over the stages of a simulation.
* :func:`plot_cuts`: the cuts of one stage's value function along one state.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

FAN_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MATPLOTLIB_MISSING = "needs matplotlib, which is not installed: pip install 'caudal[plots]'"
"""Compute nodes need no plotting, so matplotlib is an extra; this says how to add it."""


def _pyplot():
    try:
        import matplotlib
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(f"plotting {MATPLOTLIB_MISSING}", name="matplotlib") from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_convergence(run_dir: Path, out: Path | None = None) -> Path:
    """``convergence.png`` from a run's ``convergence.csv``."""
    run_dir = Path(run_dir)
    source = run_dir / "convergence.csv"
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such file (train with --output {run_dir})")
    with open(source, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{source}: holds no iteration")
    column = {name: np.array([float(r[name]) for r in rows]) for name in rows[0]}
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 4.5))
    iterations = column["iteration"]
    axis.fill_between(iterations, column["upper_bound_low"], column["upper_bound_high"], alpha=0.25,
                      label="simulated cost, 95% interval")
    axis.plot(iterations, column["upper_bound_mean"], lw=0.8, label="simulated cost (mean of forward passes)")
    axis.plot(iterations, column["lower_bound"], lw=2, label="lower bound")
    axis.set_xlabel("iteration")
    axis.set_ylabel("cost")
    axis.set_title(f"Convergence: {run_dir.name}")
    axis.legend()
    axis.grid(alpha=0.3)
    out = Path(out) if out else run_dir / "convergence.png"
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out


def plot_fan(simulation_dir: Path, column: str, out: Path | None = None, label: str | None = None) -> Path:
    """Quantile fan of ``column`` (e.g. ``state:stored_0``, ``var:hydro_0``, ``stage_cost``) over stages."""
    import pyarrow.dataset as ds

    simulation_dir = Path(simulation_dir)
    source = simulation_dir / "simulation" if (simulation_dir / "simulation").is_dir() else simulation_dir
    table = ds.dataset(source, partitioning="hive").to_table()
    if column not in table.column_names:
        choices = ", ".join(c for c in table.column_names if c not in ("scenario", "stage", "block"))
        raise ValueError(f"{source}: no column {column!r}; the simulation has {choices}")
    stage = table["stage"].to_numpy()
    values = table[column].to_numpy()
    stages = np.unique(stage)
    bands = np.array([np.nanquantile(values[stage == t], FAN_QUANTILES) for t in stages])
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 4.5))
    axis.fill_between(stages, bands[:, 0], bands[:, 4], alpha=0.2, color="C0", label="5%-95%")
    axis.fill_between(stages, bands[:, 1], bands[:, 3], alpha=0.35, color="C0", label="25%-75%")
    axis.plot(stages, bands[:, 2], lw=2, color="C0", label="median")
    axis.set_xlabel("stage")
    axis.set_ylabel(label or column)
    axis.set_title(f"{column} over {int(table['scenario'].to_numpy().max()) + 1} simulated scenarios")
    axis.legend()
    axis.grid(alpha=0.3)
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
    axis.set_xlabel(state)
    axis.set_ylabel("cost-to-go")
    axis.set_title(title or f"{len(intercepts)} cuts along {state}")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return Path(out)
