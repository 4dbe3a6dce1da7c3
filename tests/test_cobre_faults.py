"""Inputs that used to be accepted silently or crash with a traceback: each is one named line, exit 2.

Duplicate JSON keys, extra Parquet columns, an initial storage above the
reservoir's maximum, integer literals too large for a float, JSON nested
thousands deep, and magnitudes no case holds (an inflow mean of 1e300 used to
reach HiGHS and come back as a rejected LP without file or field).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_cobre_validation import copy_case, edit, error

from caudal.cli import main

INFLOWS = "scenarios/inflow_seasonal_stats.parquet"


def test_a_duplicate_json_key_is_refused(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    path = case / "initial_conditions.json"
    path.write_text(path.read_text().replace('"value_hm3": 80.0', '"value_hm3": 80.0, "value_hm3": 10.0', 1))
    exc = error(case)
    assert (exc.file, exc.field) == ("initial_conditions.json", "value_hm3")
    assert "twice" in exc.problem


def test_an_extra_parquet_column_is_refused_like_an_extra_json_field(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    table = pq.read_table(case / INFLOWS)
    pq.write_table(table.append_column("mean_m3s_2030", pa.array(np.zeros(table.num_rows))), case / INFLOWS)
    exc = error(case)
    assert (exc.file, exc.field) == (INFLOWS, "mean_m3s_2030")
    assert "not supported" in exc.problem


def test_initial_storage_above_the_maximum_is_refused(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    edit(case, "initial_conditions.json", lambda d: d["storage"][0].update(value_hm3=1e6))
    exc = error(case)
    assert (exc.file, exc.entity, exc.field) == ("initial_conditions.json", "hydro 0", "storage.value_hm3")
    assert "above the reservoir's maximum" in exc.problem


def test_an_integer_too_large_for_a_float_is_named(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    path = case / "initial_conditions.json"
    path.write_text(path.read_text().replace("80.0", "1" + "0" * 400, 1))
    exc = error(case)
    assert (exc.file, exc.entity, exc.field) == ("initial_conditions.json", "hydro 0", "value_hm3")
    assert "401-digit integer" in exc.problem


def test_json_nested_too_deeply_is_named(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    (case / "penalties.json").write_text("[" * 100_000 + "]" * 100_000)
    exc = error(case)
    assert exc.file == "penalties.json" and "nested too deeply" in exc.problem


def test_an_absurd_json_magnitude_is_named(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    edit(case, "system/thermals.json", lambda d: d["thermals"][0].update(cost_per_mwh=1e300))
    exc = error(case)
    assert (exc.file, exc.entity, exc.field) == ("system/thermals.json", "thermal 0", "cost_per_mwh")
    assert "beyond 1e+12" in exc.problem


@pytest.mark.parametrize("value", [1e300, 1e13])
def test_an_absurd_inflow_mean_is_named_not_left_to_highs(tmp_path: Path, capsys, value: float) -> None:
    case = copy_case(tmp_path)
    table = pq.read_table(case / INFLOWS)
    means = table.column("mean_m3s").to_numpy().copy()
    means[0] = value
    pq.write_table(table.set_column(table.column_names.index("mean_m3s"), "mean_m3s", pa.array(means)), case / INFLOWS)
    assert main(["train", str(case), "--iterations", "1"]) == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and f"{INFLOWS}: field 'mean_m3s': row 0 is {value:g}" in message


def test_a_num_scenarios_no_machine_holds_is_refused(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    edit(case, "stages.json", lambda d: d["stages"][0].update(num_scenarios=10**9))
    exc = error(case)
    assert (exc.file, exc.field) == ("stages.json", "stages[].num_scenarios")
    assert "GiB of memory" in exc.problem


def test_the_checks_leave_the_shipped_cases_alone() -> None:
    from cobre_cases import DATA

    from caudal.hydro import cobre

    for config in sorted(DATA.rglob("config.json")):
        cobre.load_case(config.parent)


def test_a_block_of_vanishing_length_is_named(tmp_path: Path) -> None:
    """1e-300 hours used to reach HiGHS and come back as a rejected LP (found by tests/test_cobre_fuzz.py)."""
    case = copy_case(tmp_path)
    edit(case, "stages.json", lambda d: d["stages"][0]["blocks"][0].update(hours=1e-300))
    exc = error(case)
    assert (exc.file, exc.field) == ("stages.json", "hours")
    assert "must be at least 0.001" in exc.problem
