"""Looking into checkpoints from outside a run: ``inspect`` and ``export``.

:func:`inspect_checkpoint` verifies a file and summarises it for a person;
:func:`export_cuts` writes every cut as one row of a table for other tools
(Parquet, CSV or JSON, by the output file's extension).
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from caudal.checkpoint.contents import Checkpoint
from caudal.checkpoint.store import read_checkpoint
from caudal.sddp.records import MIN_INTERVAL_SAMPLES

if TYPE_CHECKING:
    import pyarrow as pa


def inspect_checkpoint(path: str | os.PathLike) -> str:
    """A few lines on what the checkpoint holds; raises :class:`CheckpointError` if it does not verify."""
    checkpoint = read_checkpoint(path)
    case, options, writer = checkpoint.case, checkpoint.options, checkpoint.writer
    sense = "minimise" if case.sign > 0 else "maximise"
    written = (
        datetime.datetime.fromtimestamp(writer.written_at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        if np.isfinite(writer.written_at)
        else "unknown time"
    )
    time_limit = "none" if options.time_limit is None else f"{options.time_limit:g} s"
    extra = "".join(f", {key} {value}" for key, value in sorted(options.extra.items()))
    lines = [
        f"checkpoint {checkpoint.path}",
        f"  verified: yes (format {checkpoint.format_version}, {_checked(checkpoint)}, "
        f"{checkpoint.size_bytes:,} bytes)",
        f"  case: {case.name!r}, {case.n_stages} stages, {case.n_states} states "
        f"({', '.join(case.state_names)}), {sense}; fingerprint {checkpoint.case_fingerprint.hex()[:16]}",
        f"  options: forward passes {options.forward_passes}, seed {options.seed}, "
        f"iteration limit {options.iterations}, time limit {time_limit}{extra}; "
        f"fingerprint {checkpoint.options_fingerprint.hex()[:16]}",
        f"  iterations completed: {checkpoint.iteration}",
        "  " + _bounds(checkpoint),
        "  " + _cuts(checkpoint),
        f"  visited states: {sum(v.shape[0] for v in checkpoint.visited_states)} rows",
        *([f"  warm-started from {checkpoint.warm_start}"] if checkpoint.warm_start else []),
        f"  written {written} on {writer.hostname} by caudal {writer.caudal_version} (pid {writer.pid}), "
        f"layout {_counted(writer.ranks, 'rank')} x {_counted(writer.threads_per_rank, 'thread')}",
    ]
    return "\n".join(lines)


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _checked(checkpoint: Checkpoint) -> str:
    if checkpoint.files == 1:
        return "checksum ok"
    return f"directory of a manifest and {checkpoint.files - 1} stage files, every checksum ok"


def _bounds(checkpoint: Checkpoint) -> str:
    history = checkpoint.history
    if len(history) == 0:
        return "bounds: none yet"
    kind = "lower" if checkpoint.case.sign > 0 else "upper"
    low, high = history.upper_bound_low[-1], history.upper_bound_high[-1]
    interval = (
        f"95% interval {low:.10g} .. {high:.10g}" if np.isfinite(low) and np.isfinite(high)
        else f"no interval: fewer than {MIN_INTERVAL_SAMPLES} forward passes"
    )
    return (
        f"{kind} bound {history.lower_bound[-1]:.10g}; simulated cost {history.upper_bound_mean[-1]:.10g} "
        f"({interval}); {history.time_s[-1]:.1f} s of training"
    )


def _cuts(checkpoint: Checkpoint) -> str:
    counts = [pool.n_cuts for pool in checkpoint.cut_pools]
    active = sum(pool.n_active for pool in checkpoint.cut_pools)
    multi = any(pool.n_cuts and pool.target.any() for pool in checkpoint.cut_pools)
    runs: list[str] = []
    start = 0
    for t in range(1, len(counts) + 1):
        if t == len(counts) or counts[t] != counts[start]:
            stages = f"stage {start}" if t - 1 == start else f"stages {start}-{t - 1}"
            runs.append(f"{stages}: {counts[start]}")
            start = t
    layout = "multi-cut, one per next-stage opening" if multi else "single-cut"
    return f"cuts: {sum(counts)} ({active} active, {layout}); per stage: " + ", ".join(runs)


def cuts_table(checkpoint: Checkpoint) -> pa.Table:
    """Every cut as a row: stage, cut_id, iteration, forward_pass, active, [target,] intercept, coef_<state>...

    Intercepts and coefficients are in the solver's sense (minimisation): for a
    maximisation case, multiply by -1 to get values in the problem's sense.
    A multi-cut policy's table has a ``target`` column: the opening of the next
    stage whose value column the cut bounds.
    """
    import pyarrow as pa  # late: pyarrow is slow to import and only export needs it

    pools = checkpoint.cut_pools
    columns: dict[str, np.ndarray] = {
        "stage": np.concatenate([np.full(p.n_cuts, p.stage + 1, dtype=np.int32) for p in pools]),  # from 1
        "cut_id": np.concatenate([np.arange(p.n_cuts, dtype=np.int64) for p in pools]),
        "iteration": np.concatenate([p.iteration for p in pools]).astype(np.int64),
        "forward_pass": np.concatenate([p.forward_pass for p in pools]).astype(np.int64),
        "active": np.concatenate([p.active for p in pools]).astype(bool),
    }
    targets = np.concatenate([p.target for p in pools]).astype(np.int32)
    if targets.any():
        columns["target"] = targets
    columns |= {
        "intercept": np.concatenate([p.intercepts for p in pools]).astype(np.float64),
    }
    dense = np.concatenate([p.dense_coefficients() for p in pools]).reshape(-1, checkpoint.case.n_states)
    for k, name in enumerate(checkpoint.case.state_names):
        columns[f"coef_{name}"] = np.ascontiguousarray(dense[:, k])
    return pa.table(columns)


EXPORT_FORMATS = (".parquet", ".csv", ".json")
"""The cut table's formats, by the output file's extension."""


def export_cuts(path: str | os.PathLike, out_file: str | os.PathLike) -> Path:
    """Write the cuts of checkpoint ``path`` as a table, in the format its extension names.

    ``.parquet``, ``.csv``, or ``.json`` (one object whose keys are the
    columns, each a list of the rows' values). Any other extension raises
    ``ValueError`` before the checkpoint is read: a file named ``cuts.json``
    holding CSV would mislead whoever opens it.
    """
    out_file = Path(out_file)
    suffix = out_file.suffix.lower()
    if suffix not in EXPORT_FORMATS:
        raise ValueError(f"{out_file}: unknown cut table format {suffix or '(no extension)'!r}; "
                         f"name the file {', '.join('*' + s for s in EXPORT_FORMATS)}")
    table = cuts_table(read_checkpoint(path))
    if suffix == ".parquet":
        import pyarrow.parquet as pa_parquet

        pa_parquet.write_table(table, out_file)
    elif suffix == ".csv":
        import pyarrow.csv as pa_csv

        pa_csv.write_csv(table, out_file)
    else:
        columns = {name: table.column(name).to_numpy().tolist() for name in table.column_names}
        out_file.write_text(json.dumps(columns) + "\n", encoding="utf-8")
    return out_file
