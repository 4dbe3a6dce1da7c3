"""caudal's Parquet reader gives the tables pyarrow's public ``ParquetFile`` gives, on the calling thread."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from caudal.parquet_files import ParquetFile, write_table

STATS = Path(__file__).parent / "data" / "cobre" / "4ree" / "scenarios" / "inflow_seasonal_stats.parquet"


def test_a_case_file_reads_as_pyarrow_reads_it() -> None:
    with pq.ParquetFile(STATS) as public, ParquetFile(STATS) as mine:
        assert mine.schema_arrow == public.schema_arrow
        assert mine.read().equals(public.read())
        column = public.schema_arrow.names[-1]
        assert mine.read(columns=[column]).equals(public.read(columns=[column]))


def test_nullable_columns_and_column_order_survive_a_round_trip(tmp_path: Path) -> None:
    table = pa.table({"b": pa.array([1.5, None, -2.0]), "a": pa.array([3, 2, 1], pa.int32())})
    write_table(table, tmp_path / "t.parquet", compression="zstd")
    with ParquetFile(tmp_path / "t.parquet") as mine:
        assert mine.read().equals(table)
        assert mine.read(columns=["a", "b"]).column_names == ["a", "b"]


def test_a_missing_column_and_a_missing_file_are_errors(tmp_path: Path) -> None:
    with ParquetFile(STATS) as mine, pytest.raises(KeyError, match="nope"):
        mine.read(columns=["nope"])
    with pytest.raises(OSError):
        ParquetFile(tmp_path / "absent.parquet")
