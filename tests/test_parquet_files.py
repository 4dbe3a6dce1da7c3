"""caudal's Parquet reader (arro3) gives the values pyarrow gives, and a damaged file is one clear error."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from caudal.parquet_files import (
    ParquetError,
    ParquetFile,
    epoch_days,
    is_date,
    is_floating,
    is_integer,
    is_null,
    null_count,
    type_name,
    values,
    write_table,
)

DATA = Path(__file__).parent / "data" / "cobre"
STATS = DATA / "4ree" / "scenarios" / "inflow_seasonal_stats.parquet"


def test_a_case_file_reads_as_pyarrow_reads_it() -> None:
    public = pq.read_table(STATS)
    with ParquetFile(STATS) as mine:
        assert mine.names == public.column_names
        table = mine.read()
        for name in public.column_names:
            assert table.column(name).to_pylist() == public.column(name).to_pylist()
            assert values(table.column(name)).tolist() == public.column(name).to_numpy().tolist()
        column = public.column_names[-1]
        assert mine.read(columns=[column]).column_names == [column]


def test_nullable_typed_columns_survive_a_round_trip(tmp_path: Path) -> None:
    table = pa.table({
        "b": pa.array([1.5, None, -2.0]), "a": pa.array([3, 2, 1], pa.int32()),
        "d": pa.array([date(2024, 1, 31), date(1969, 12, 31), date(2024, 3, 1)], pa.date32()),
        "n": pa.nulls(3), "s": pa.array(["x", None, "z"]),
    })
    write_table(table, tmp_path / "t.parquet", compression="zstd")
    with ParquetFile(tmp_path / "t.parquet") as mine:
        read = mine.read()
        assert read.column_names == ["b", "a", "d", "n", "s"]
        assert read.column("b").to_pylist() == [1.5, None, -2.0]
        assert mine.read(columns=["a", "b"]).column_names == ["a", "b"]
        b, a, d, n, s = (read.column(name) for name in read.column_names)
    assert (is_floating(b), is_integer(b), is_integer(a), is_date(d), is_null(n), is_integer(s)) == (
        True, False, True, True, True, False)
    assert [null_count(c) for c in (b, a, d, n, s)] == [1, 0, 0, 3, 1]
    assert epoch_days(d).tolist() == [19753, -1, 19783]
    assert (type_name(a), type_name(s)) == ("Int32", "Utf8")


def test_an_empty_table_gives_empty_arrays(tmp_path: Path) -> None:
    write_table(pa.table({"a": pa.array([], pa.int32()), "b": pa.array([], pa.float64())}), tmp_path / "e.parquet")
    with ParquetFile(tmp_path / "e.parquet") as mine:
        assert values(mine.read().column("a")).dtype.kind == "i"
        assert values(mine.read().column("b")).shape == (0,)


def test_a_missing_column_and_a_missing_file_are_errors(tmp_path: Path) -> None:
    with ParquetFile(STATS) as mine, pytest.raises(KeyError, match="nope"):
        mine.read(columns=["nope"])
    with pytest.raises(OSError):
        ParquetFile(tmp_path / "absent.parquet")


@pytest.mark.parametrize("damage", ["text", "empty", "truncated", "footer", "footer_length"])
def test_a_damaged_file_is_a_parquet_error(tmp_path: Path, damage: str) -> None:
    data = STATS.read_bytes()
    footer = int.from_bytes(data[-8:-4], "little")
    damaged = {
        "text": b"hydro_id,stage_id\n0,1\n" * 4,
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "footer": data[: -8 - footer] + bytes(footer) + data[-8:],  # the footer zeroed, its framing intact
        "footer_length": data[:-8] + (len(data) * 2).to_bytes(4, "little") + b"PAR1",
    }[damage]
    path = tmp_path / "bad.parquet"
    path.write_bytes(damaged)
    with pytest.raises(ParquetError):
        ParquetFile(path)
