"""``profile.parquet``: writing the gathered rows with their types, and reading them back.

Rows travel between ranks as flat float64 (one ``allgather_rows``); here they
get their column types back (integers stay exact: counters are far below 2**53).
pyarrow is imported when a file is written or read, not with caudal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from caudal.profiling.columns import COLUMNS, INDEX, NAMES


def schema(metadata: dict[str, str] | None = None):
    """The Arrow schema of ``profile.parquet``, with ``metadata`` under ``caudal.`` keys."""
    import pyarrow as pa

    fields = [pa.field(name, pa.from_numpy_dtype(dtype)) for name, dtype, _ in COLUMNS]
    return pa.schema(fields, metadata={f"caudal.{key}": value for key, value in (metadata or {}).items()})


def write_profile(path: Path, rows: np.ndarray, metadata: dict[str, str] | None = None) -> Path:
    """Write rows (float64[n, WIDTH]) sorted by iteration, rank and thread; returns ``path``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    order = np.lexsort((rows[:, INDEX["thread"]], rows[:, INDEX["rank"]], rows[:, INDEX["iteration"]]))
    rows = rows[order]
    arrays = [pa.array(_typed(rows[:, i], dtype)) for i, (_, dtype, _) in enumerate(COLUMNS)]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema(metadata)), tmp)
    tmp.replace(path)
    return path


def read_profile(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The columns of a ``profile.parquet`` as numpy arrays, and its metadata (without the ``caudal.`` prefix)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    missing = [name for name in NAMES if name not in table.column_names]
    if missing:
        raise ValueError(f"{path}: not a caudal profile (missing columns {', '.join(missing)})")
    columns = {name: table.column(name).to_numpy() for name in NAMES}
    raw = table.schema.metadata or {}
    metadata = {
        key.decode()[len("caudal."):]: value.decode() for key, value in raw.items() if key.startswith(b"caudal.")
    }
    return columns, metadata


def _typed(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return np.rint(values).astype(dtype) if dtype.kind == "i" else values.astype(dtype)
