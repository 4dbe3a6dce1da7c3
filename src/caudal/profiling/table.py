"""``profile.parquet``: writing the gathered rows with their types, and reading them back.

Rows travel between ranks as flat float64 (one ``allgather_rows``); here they
get their column types back (integers stay exact: counters are far below 2**53).
pyarrow is imported when a file is written or read, not with caudal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from caudal.profiling.columns import ADDED_COLUMNS, COLUMNS, INDEX, NAMES


def schema(metadata: dict[str, str] | None = None):
    """The Arrow schema of ``profile.parquet``, with ``metadata`` under ``caudal.`` keys."""
    import pyarrow as pa

    fields = [pa.field(name, pa.from_numpy_dtype(dtype)) for name, dtype, _ in COLUMNS]
    return pa.schema(fields, metadata={f"caudal.{key}": value for key, value in (metadata or {}).items()})


def write_profile(
    path: Path, rows: np.ndarray, metadata: dict[str, str] | None = None, append_before: int | None = None
) -> Path:
    """Write rows (float64[n, WIDTH]) sorted by iteration, rank and thread; returns ``path``.

    ``append_before``: a resumed run's first iteration. The rows of the
    earlier iterations already in ``path`` are kept, so the file covers the
    whole training; rows from iteration ``append_before`` on (a run that went
    further than the checkpoint it resumed from) are replaced by the new ones.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if append_before is not None and path.is_file():
        earlier, _ = read_profile(path)
        keep = earlier["iteration"] < append_before
        old = np.column_stack([earlier[name][keep].astype(np.float64) for name in NAMES])
        rows = np.concatenate([old.reshape(-1, len(NAMES)), rows])
    order = np.lexsort((rows[:, INDEX["thread"]], rows[:, INDEX["rank"]], rows[:, INDEX["iteration"]]))
    rows = rows[order]
    arrays = [pa.array(_typed(rows[:, i], dtype)) for i, (_, dtype, _) in enumerate(COLUMNS)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema(metadata)), tmp)
    tmp.replace(path)
    return path


def iteration_ranges(iterations: np.ndarray) -> str:
    """The iterations a profile covers, as runs of consecutive numbers: ``"1-20"``, ``"1-5, 9-12"``."""
    values = np.unique(np.asarray(iterations, dtype=np.int64))
    if values.size == 0:
        return "none"
    breaks = np.flatnonzero(np.diff(values) != 1)
    starts = np.concatenate([[values[0]], values[breaks + 1]])
    stops = np.concatenate([values[breaks], [values[-1]]])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in zip(starts, stops, strict=True))


def read_profile(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The columns of a ``profile.parquet`` as numpy arrays, and its metadata (without the ``caudal.`` prefix)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    missing = [name for name in NAMES if name not in table.column_names and name not in ADDED_COLUMNS]
    if missing:
        raise ValueError(f"{path}: not a caudal profile (missing columns {', '.join(missing)})")
    columns = {
        name: table.column(name).to_numpy() if name in table.column_names else np.zeros(table.num_rows)
        for name in NAMES
    }
    raw = table.schema.metadata or {}
    metadata = {
        key.decode()[len("caudal."):]: value.decode() for key, value in raw.items() if key.startswith(b"caudal.")
    }
    return columns, metadata


def _typed(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.rint(values).astype(dtype) if dtype.kind == "i" else values.astype(dtype)
