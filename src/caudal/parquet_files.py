"""Read Parquet files with arro3 (arrow-rs), and write them with pyarrow.

Every Cobre case holds Parquet tables, so every process that trains one reads
Parquet. pyarrow's reader costs about 29 MB of resident memory in such a
process (its C++ libraries, mapped and relocated whole on import), more than a
small case's whole training: on 4ree it was a third of the peak. arro3's
``read_parquet`` (the Rust arrow-rs reader behind a small extension) costs
about 14 MB for the same files, so reading goes through it and pyarrow is
imported only where a run writes Parquet (outputs, exports), after training.

A reader's columns are arro3 ``ChunkedArray`` objects (``type``,
``null_count``, ``to_numpy()``, ``to_pylist()``, ``cast()``); the helpers below
are the type questions the case readers ask of them, so the readers need not
know arro3's type API.

arro3 panics (a ``BaseException``, not an ``Exception``) on some damaged
files: :class:`ParquetFile` checks the framing a Parquet file must have before
handing it over, and turns whatever arro3 raises into :class:`ParquetError`,
so a bad file is one clear error naming it.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

_MAGIC = b"PAR1"
_FRAME = len(_MAGIC) * 2 + 4  # leading magic, footer length, trailing magic


class ParquetError(ValueError):
    """A file that is not a readable Parquet file (a missing one is an ``OSError``)."""


class ParquetFile:
    """One Parquet file, read whole on opening; :meth:`read` gives all its columns or some.

    Raises ``OSError`` when the file cannot be opened and :class:`ParquetError`
    when it is not Parquet or is damaged.
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        _check_framing(path)
        from arro3.io import read_parquet  # here: writers and in-memory cases never load the reader

        try:
            self._table = read_parquet(str(path)).read_all()
        except OSError:
            raise
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - arro3 panics (pyo3's PanicException) on some damaged files
            raise ParquetError(f"damaged: {exc}") from None

    @property
    def names(self) -> list[str]:
        """The columns, in the file's order."""
        return list(self._table.column_names)

    def read(self, columns: list[str] | None = None) -> Any:
        """The file as an arro3 ``Table``, or only ``columns`` (a missing name is a ``KeyError``)."""
        if columns is None:
            return self._table
        for name in columns:
            if name not in self._table.column_names:
                raise KeyError(f"no column {name!r} in the Parquet file")
        return self._table.select(columns)

    def close(self) -> None:
        self._table = None

    def __enter__(self) -> ParquetFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def _check_framing(path: Path) -> None:
    """Raise :class:`ParquetError` unless ``path`` starts and ends with Parquet's magic around a footer that fits."""
    with path.open("rb") as file:
        size = file.seek(0, 2)
        if size < _FRAME:
            raise ParquetError(f"not a Parquet file ({size} bytes)")
        file.seek(0)
        head = file.read(len(_MAGIC))
        file.seek(size - 8)
        tail = file.read(8)
    footer = int.from_bytes(tail[:4], "little")
    if head != _MAGIC or tail[4:] != _MAGIC:
        raise ParquetError("not a Parquet file (no PAR1 magic at both ends)")
    if footer > size - _FRAME:
        raise ParquetError(f"damaged: its footer claims {footer} bytes of a {size}-byte file")


def type_name(column: Any) -> str:
    """The column's Arrow type as a short name (``Int32``, ``Float64``, ``Utf8``, ``Date32``...)."""
    text = str(column.type).strip()
    return text[text.find("<") + 1:text.rfind(">")] if "<" in text else text


def is_integer(column: Any) -> bool:
    from arro3.core import DataType

    return DataType.is_integer(column.type)


def is_unsigned(column: Any) -> bool:
    from arro3.core import DataType

    return DataType.is_unsigned_integer(column.type)


def is_floating(column: Any) -> bool:
    from arro3.core import DataType

    return DataType.is_floating(column.type)


def is_date(column: Any) -> bool:
    from arro3.core import DataType

    return DataType.is_date(column.type)


def is_null(column: Any) -> bool:
    """Whether the column has Arrow's null type (every value null, no other type)."""
    from arro3.core import DataType

    return DataType.is_null(column.type)


def null_count(column: Any) -> int:
    """How many values are null (arro3 counts none in a column of the null type; all of them are)."""
    return len(column) if is_null(column) else int(column.null_count)


def values(column: Any) -> np.ndarray:
    """A numeric column without nulls as a numpy array (an empty one too: arro3 has no chunk to convert then)."""
    if len(column) == 0:
        return np.empty(0, dtype=np.int64 if is_integer(column) else np.float64)
    return np.asarray(column.to_numpy())


def epoch_days(column: Any) -> Any:
    """int64 days since 1970-01-01 of a date column without nulls (``Date32`` or ``Date64``)."""
    from arro3.core import DataType

    return values(column.cast(DataType.date32()).cast(DataType.int32())).astype(np.int64)


def write_table(table: Any, path: str | Path, **options: Any) -> None:
    """``pyarrow.parquet.write_table`` on the calling thread, imported on first use."""
    import pyarrow.parquet as pq

    pq.write_table(table, str(path), **options)
