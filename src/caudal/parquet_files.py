"""Read Parquet files with pyarrow's reader alone, without the rest of ``pyarrow.parquet``.

``import pyarrow.parquet`` also imports ``pyarrow.fs``, which loads the S3,
GCS and HDFS filesystems: ``libarrow_s3`` and OpenSSL's ``libcrypto`` add
about 9 MB to the resident memory of every process that reads a Cobre case,
although a case is a local directory. The Parquet reader itself is the
``ParquetReader`` of ``pyarrow._parquet``, which ``pyarrow.parquet.ParquetFile``
wraps; opening it with a path string needs no filesystem layer.
``pyarrow._parquet`` is not pyarrow's public API, so :class:`ParquetFile`
falls back to ``pyarrow.parquet.ParquetFile`` when the reader is missing or
its signature changed (``tests/test_parquet_files.py`` checks both give the
same tables).

Reads run on the calling thread (``use_threads=False``): case files are small,
and pyarrow's thread pool would add threads (each with a stack and a malloc
arena) to a process that never needs them again.

Arrow's allocator is chosen in ``caudal/__init__.py`` (see ``ARROW_ALLOCATOR`` there):
it must be set before pyarrow is first imported.

Writing is rare in a training (outputs, checkpoint exports): :func:`write_table`
imports ``pyarrow.parquet`` on first use.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any


def _open_reader(path: Path) -> Any:
    """pyarrow's Parquet reader opened on ``path``, or ``None`` if its private API is not the one this knows."""
    try:
        from pyarrow._parquet import ParquetReader
    except ImportError:  # pragma: no cover - a pyarrow without the private module
        return None
    reader = ParquetReader()
    try:
        reader.open(str(path), pre_buffer=False)
    except TypeError:  # pragma: no cover - the signature changed: use the public wrapper
        return None
    return reader


class ParquetFile:
    """One Parquet file read whole or by columns: the part of ``pyarrow.parquet.ParquetFile`` case readers use.

    Errors are pyarrow's (``OSError`` for a missing file, ``pyarrow.ArrowException``
    for a damaged one), as with ``pyarrow.parquet.ParquetFile``.
    """

    def __init__(self, path: str | Path) -> None:
        self._reader = _open_reader(Path(path))
        self._public = None
        if self._reader is None:  # pragma: no cover - see _open_reader
            import pyarrow.parquet as pq

            self._public = pq.ParquetFile(path)

    @property
    def schema_arrow(self) -> Any:
        """The file's schema as a ``pyarrow.Schema``."""
        return (self._public or self._reader).schema_arrow

    def read(self, columns: list[str] | None = None) -> Any:
        """The file as a ``pyarrow.Table``, or only ``columns`` (a missing name is a ``KeyError``)."""
        if self._public is not None:  # pragma: no cover - see _open_reader
            return self._public.read(columns=columns, use_threads=False)
        indices = None if columns is None else [self._column_index(name) for name in columns]
        return self._reader.read_all(column_indices=indices, use_threads=False)

    def _column_index(self, name: str) -> int:
        names = self._reader.schema_arrow.names
        if name not in names:
            raise KeyError(f"no column {name!r} in the Parquet file")
        return names.index(name)

    def close(self) -> None:
        (self._public or self._reader).close()

    def __enter__(self) -> ParquetFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def write_table(table: Any, path: str | Path, **options: Any) -> None:
    """``pyarrow.parquet.write_table`` on the calling thread, imported on first use."""
    import pyarrow.parquet as pq

    pq.write_table(table, str(path), **options)
