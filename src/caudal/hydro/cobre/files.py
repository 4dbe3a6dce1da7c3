"""Reading the raw files of a case directory: JSON documents and Parquet tables.

Only syntax and shape are checked here (the file parses, the table has its
columns with usable types); what the values mean is for the reader. Errors name
the file relative to the case directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from caudal.hydro.cobre.errors import CaseError, unsupported
from caudal.hydro.cobre.fields import MAX_MAGNITUDE, Record
from caudal.parquet_files import ParquetFile

if TYPE_CHECKING:  # pyarrow is imported by the functions that read or write Parquet
    import pyarrow as pa

INT = "int"
FLOAT = "float"


class CaseFiles:
    """The files of one case directory."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise CaseError(str(root), None, None, "is not a directory")

    def exists(self, name: str) -> bool:
        return (self.root / name).exists()

    def json(self, name: str) -> Record:
        """The top-level object of a required JSON file."""
        path = self.root / name
        if not path.is_file():
            raise CaseError(name, None, None, "is missing (a Cobre case needs it)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_object_without_duplicates)
        except DuplicateKey as exc:
            raise CaseError(name, None, exc.key, "appears twice in one object (which one counts?)") from None
        except json.JSONDecodeError as exc:
            raise CaseError(name, None, None, f"is not valid JSON: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise CaseError(name, None, None, f"cannot be read: {exc}") from exc
        except RecursionError:
            raise CaseError(name, None, None, "is nested too deeply to be a Cobre file") from None
        except ValueError as exc:  # an integer literal of more than 4300 digits
            raise CaseError(name, None, None, f"is not valid JSON: {exc}") from None
        return Record(name, None, data)

    def table(
        self, name: str, columns: dict[str, str], optional: tuple[str, ...] = (), read_apart: tuple[str, ...] = ()
    ) -> dict[str, np.ndarray]:
        """The named columns of a Parquet file as numpy arrays (``INT`` or ``FLOAT``).

        Columns listed in ``optional`` may be absent (they are then missing from
        the result); any other missing column, a null value or a non-numeric
        type is an error naming the file and the column. A column the file
        holds that is neither in ``columns`` nor in ``read_apart`` (columns the
        caller reads itself, such as a nullable one) is refused by name.
        """
        import pyarrow as pa  # here, not at the top: a case without Parquet files never loads pyarrow

        path = self.root / name
        try:
            # ParquetFile, not read_table: read_table goes through pyarrow.dataset,
            # whose libraries (dataset, acero, substrait) add about 25 MB of RSS
            with ParquetFile(path) as parquet:
                table = parquet.read()
        except (OSError, pa.ArrowException) as exc:
            raise CaseError(name, None, None, f"cannot be read as Parquet: {exc}") from exc
        unknown = [column for column in table.column_names if column not in columns and column not in read_apart]
        if unknown:
            raise unsupported(name, None, unknown[0], f"the column {unknown[0]!r}")
        out: dict[str, np.ndarray] = {}
        for column, kind in columns.items():
            if column not in table.column_names:
                if column in optional:
                    continue
                raise CaseError(name, None, column, f"column is missing (columns: {', '.join(table.column_names)})")
            out[column] = _numeric(name, column, table.column(column), kind)
        return out


def _numeric(file: str, column: str, data: pa.ChunkedArray, kind: str) -> np.ndarray:
    import pyarrow as pa

    if data.null_count:
        raise CaseError(file, None, column, f"has {data.null_count} null value(s)")
    dtype = data.type
    if kind == INT and not pa.types.is_integer(dtype):
        raise CaseError(file, None, column, f"must be an integer column, got {dtype}")
    if kind == FLOAT and not (pa.types.is_floating(dtype) or pa.types.is_integer(dtype)):
        raise CaseError(file, None, column, f"must be a numeric column, got {dtype}")
    values = data.to_numpy()
    if kind == INT:
        if values.size and pa.types.is_unsigned_integer(dtype) and int(values.max()) > np.iinfo(np.int64).max:
            raise CaseError(file, None, column, f"holds {int(values.max())}, beyond the int64 range")
        return values.astype(np.int64)
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise CaseError(file, None, column, "has non-finite values")
    if values.size and float(np.abs(values).max()) > MAX_MAGNITUDE:
        row = int(np.argmax(np.abs(values)))
        raise CaseError(file, None, column, f"row {row} is {values[row]:g}, beyond {MAX_MAGNITUDE:g}: far larger "
                        "than any quantity of a case (a unit mistake or a typo?)")
    return values


class DuplicateKey(ValueError):
    """A JSON object names one key twice."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict:
    """``json``'s object hook: the object, unless a key appears twice (JSON allows it; a planner never means it)."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return data
