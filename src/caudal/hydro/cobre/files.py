"""Reading the raw files of a case directory: JSON documents and Parquet tables.

Only syntax and shape are checked here (the file parses, the table has its
columns with usable types); what the values mean is for the reader. Errors name
the file relative to the case directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from caudal.hydro.cobre.errors import CaseError, unsupported
from caudal.hydro.cobre.fields import MAX_MAGNITUDE, Record
from caudal.parquet_files import (
    ParquetError,
    ParquetFile,
    is_date,
    is_floating,
    is_integer,
    is_null,
    is_unsigned,
    null_count,
    type_name,
)
from caudal.parquet_files import values as column_values

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

    def parquet(self, name: str) -> Any:
        """The whole Parquet file ``name`` as an arro3 ``Table`` (:mod:`caudal.parquet_files`), unchecked.

        For the readers of nullable or non-numeric columns; :meth:`table` checks the numeric ones.
        A file that cannot be read is an error naming it.
        """
        try:
            with ParquetFile(self.root / name) as parquet:
                return parquet.read()
        except (OSError, ParquetError) as exc:
            raise CaseError(name, None, None, f"cannot be read as Parquet: {exc}") from exc

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
        table = self.parquet(name)
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


def nullable_numbers(file: str, table: Any, name: str, *, integer: bool = False) -> list[float | None]:
    """A column of ``table`` (from :meth:`CaseFiles.parquet`) that may hold nulls.

    As floats, ``None`` for a null; an error naming ``file`` and the column
    unless it is numeric (an integer one with ``integer``) or all null.
    """
    column = table.column(name)
    if not (is_integer(column) or is_null(column) or (not integer and is_floating(column))):
        raise CaseError(file, None, name, f"must be {'an integer' if integer else 'a numeric'} column, "
                        f"got {type_name(column)}")
    return [None if value is None else float(value) for value in column.to_pylist()]


def date_column(file: str, table: Any, name: str) -> Any:
    """The column ``name`` of ``table``, which must hold dates without nulls (an error naming it otherwise)."""
    column = table.column(name)
    if not is_date(column) or null_count(column):
        raise CaseError(file, None, name, f"must be a date column without nulls, got {type_name(column)}")
    return column


def _numeric(file: str, column: str, data: Any, kind: str) -> np.ndarray:
    """A column (arro3 ``ChunkedArray``) as int64 or float64 values, checked."""
    if null_count(data):
        raise CaseError(file, None, column, f"has {null_count(data)} null value(s)")
    if kind == INT and not is_integer(data):
        raise CaseError(file, None, column, f"must be an integer column, got {type_name(data)}")
    if kind == FLOAT and not (is_floating(data) or is_integer(data)):
        raise CaseError(file, None, column, f"must be a numeric column, got {type_name(data)}")
    values = column_values(data)
    if kind == INT:
        if values.size and is_unsigned(data) and int(values.max()) > np.iinfo(np.int64).max:
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
