"""The sweep's results: one row per variant, in ``sweep.parquet`` and as a printed table.

Columns: ``variant`` (its number), ``name`` (its folder under ``variants/``),
one column per grid parameter (prefixed ``param_`` if its name is one of the
following), ``status`` (done, timed_out, failed, interrupted, not_run),
``attempts``, and from the last attempt ``iterations_run``,
``lower_bound`` (the policy's bound), ``simulated_mean`` (the last
iteration's forward-pass cost estimate), ``seconds`` (its training time),
``lp_solves``, ``group`` and ``error``; ``total_seconds`` adds up every attempt.
Each variant's folder holds the full story: ``convergence.csv``,
``summary.json``, ``train.log``, ``checkpoints/``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from caudal.sweep.grid import Value, Variant, format_value
from caudal.sweep.scheduler import Scheduler

RESULTS_FILE = "sweep.parquet"
RESULT_COLUMNS = (
    "variant", "name", "status", "attempts", "iterations_run", "lower_bound", "simulated_mean", "seconds",
    "total_seconds", "lp_solves", "group", "error", "output",
)


def param_column(name: str) -> str:
    """A parameter's column: its own name unless a result column has it."""
    return f"param_{name}" if name in RESULT_COLUMNS else name


def rows(variants: Sequence[Variant], scheduler: Scheduler, output: Path) -> list[dict]:
    table = []
    for variant in variants:
        history = scheduler.history[variant.index]
        last = history[-1] if history else None
        table.append({
            "variant": variant.index,
            "name": variant.slug,
            **{param_column(key): value for key, value in variant.params.items()},
            "status": scheduler.status(variant.index),
            "attempts": len(history),
            "iterations_run": last.iterations if last else 0,
            "lower_bound": last.bound if last else math.nan,
            "simulated_mean": last.simulated if last else math.nan,
            "seconds": last.seconds if last else 0.0,
            "total_seconds": sum(a.seconds for a in history),
            "lp_solves": last.lp_solves if last else 0,
            "group": last.group if last else -1,
            "error": last.error if last else "",
            "output": str(output / "variants" / variant.slug),
        })
    return table


def write_parquet(table: list[dict], path: Path) -> None:
    """One row per variant; a parameter column mixing numbers and text is stored as text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {}
    for name in table[0] if table else []:
        values = [row.get(name) for row in table]
        columns[name] = pa.array(_uniform(values))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


def _uniform(values: list[Value | None]) -> list:
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {int, float} and float in kinds:
        return [float(v) if v is not None else None for v in values]
    if len(kinds) > 1:
        return [format_value(v) if v is not None else None for v in values]
    return values


def print_summary(table: list[dict], params: Sequence[str], console=None) -> None:
    """The results as a rich table on the terminal (or the given console); ``params`` are the grid's names."""
    import sys

    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=None if sys.stdout.isatty() else 200)  # a log file: no truncated columns
    colours = {"done": "green", "timed_out": "yellow", "failed": "red", "interrupted": "yellow", "not_run": "dim"}
    table_view = Table(title=f"caudal sweep: {len(table)} variants", title_justify="left")
    for column in ("#", *params, "status", "tries", "iterations", "bound", "simulated", "seconds"):
        table_view.add_column(column, justify="left" if column in ("status",) else "right")
    for row in table:
        status = row["status"]
        table_view.add_row(
            str(row["variant"]),
            *(format_value(row[param_column(p)]) for p in params),
            f"[{colours.get(status, 'white')}]{status}[/]",
            str(row["attempts"]),
            str(row["iterations_run"]),
            _number(row["lower_bound"]),
            _number(row["simulated_mean"]),
            f"{row['total_seconds']:.2f}",
        )
    console.print(table_view)
    failed = [row for row in table if row["status"] in ("failed", "timed_out") and row["error"]]
    for row in failed:
        console.print(f"variant {row['variant']} ({row['name']}): {row['error']}", highlight=False, soft_wrap=True)


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.6g}"
