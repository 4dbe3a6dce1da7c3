"""The opening tree of a Cobre case: caudal's seeded generator, and noise_openings.parquet both ways."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from cobre_cases import DATA

from caudal.hydro import cobre


def random_load_case(tmp_path: Path) -> Path:
    """1dtoy with a random load (std 5 MW): the tree gets a second entity, the bus."""
    case = tmp_path / "1dtoy"
    shutil.copytree(DATA / "1dtoy", case)
    path = case / "scenarios/load_seasonal_stats.parquet"
    table = pq.read_table(path)
    pq.write_table(table.set_column(3, "std_mw", pa.array([5.0] * table.num_rows)), path)
    return case


def test_generator_is_seeded(tmp_path: Path) -> None:
    case = random_load_case(tmp_path)
    first, again, other = (cobre.load_case(case, seed=s) for s in (7, 7, 8))
    assert first.entities.hydros == (0,) and first.entities.load_buses == (0,)
    assert [n.shape for n in first.noise] == [(10, 2)] * 4
    assert all((a == b).all() for a, b in zip(first.noise, again.noise, strict=True))
    assert not any((a == b).all() for a, b in zip(first.noise, other.noise, strict=True))


def test_load_openings_follow_the_noise(tmp_path: Path) -> None:
    study = cobre.load_case(random_load_case(tmp_path))
    for layout, noise in zip(study.layouts, study.noise, strict=True):
        assert np.allclose(layout.load[:, 0, 0], 75.0 + 5.0 * noise[:, 1])


def test_written_tree_reads_back_identically(tmp_path: Path) -> None:
    case = random_load_case(tmp_path)
    study = cobre.load_case(case)
    cobre.write_noise_openings(case / "scenarios/noise_openings.parquet", study.noise)
    schema = pq.read_schema(case / "scenarios/noise_openings.parquet")
    assert [str(t) for t in schema.types] == ["int32", "uint32", "uint32", "double"]
    again = cobre.load_case(case, seed=99)  # the file wins over any seed
    assert again.noise_source == "file"
    assert all((a == b).all() for a, b in zip(study.noise, again.noise, strict=True))
