"""Values a Cobre case may hold but a planner would hardly mean: one named warning each, in both formats.

Each test changes one field of the shipped 1dtoy case (format 0.5.x and its
0.18 conversion) and expects exactly one warning naming the file, the entity
and the field; the cases caudal ships raise none.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from caudal.cli import main
from caudal.hydro.cobre import CaseWarning
from caudal.hydro.cobre.formats import read_case
from caudal.hydro.cobre.suspicious import SuspiciousValue, suspicions

DATA = Path(__file__).parent / "data" / "cobre"
FORMATS = {"0.5": DATA / "1dtoy", "0.18": DATA / "cases-0.18" / "1dtoy"}


def edit_json(case: Path, file: str, change: Callable[[dict], None]) -> None:
    path = case / file
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def no_turbine(data: dict) -> None:
    hydro = data["hydros"][0]
    hydro["generation"].update(max_turbined_m3s=0.0, max_generation_mw=0.0)
    for group in hydro.get("unit_groups", []):  # 0.18 keeps the capacity per unit group too
        group.update(max_turbined_m3s=0.0, max_generation_mw=0.0)


def zero_load(case: Path) -> None:
    path = case / "scenarios" / "load_seasonal_stats.parquet"
    table = pq.read_table(path)
    for name in ("mean_mw", "std_mw"):
        column = table.column(name)
        table = table.set_column(table.schema.get_field_index(name), name, pc.multiply(column, 0.0))
    pq.write_table(table, path)


def rising_then_falling_deficit(data: dict) -> None:
    data["buses"][0]["deficit_segments"] = [{"depth_mw": 10.0, "cost": 2000.0}, {"depth_mw": None, "cost": 1000.0}]


EDITS: dict[str, tuple[Callable[[Path], None], str]] = {
    "thermal_without_capacity": (
        lambda case: edit_json(case, "system/thermals.json",
                               lambda d: d["thermals"][0]["generation"].update(max_mw=0.0)),
        "system/thermals.json: thermal 0: field 'generation.max_mw': is 0",
    ),
    "thermal_above_deficit": (
        lambda case: edit_json(case, "system/thermals.json", lambda d: d["thermals"][1].update(cost_per_mwh=5000.0)),
        "system/thermals.json: thermal 1: field 'cost_per_mwh': 5000 is above every bus's deficit cost (at most 1000)",
    ),
    "deficit_not_increasing": (
        lambda case: edit_json(case, "system/buses.json", rising_then_falling_deficit),
        "system/buses.json: bus 0: field 'deficit_segments[1].cost': 1000 is below segment 0's 2000",
    ),
    "hydro_that_only_spills": (
        lambda case: edit_json(case, "system/hydros.json", no_turbine),
        "system/hydros.json: hydro 0: field 'generation.max_turbined_m3s': is 0 and the plant has no downstream_id",
    ),
    "no_load": (
        zero_load,
        "scenarios/load_seasonal_stats.parquet: field 'mean_mw': is 0 for every bus in every stage",
    ),
}


@pytest.mark.parametrize("version", FORMATS)
@pytest.mark.parametrize("name", EDITS)
def test_each_suspicious_value_is_one_named_warning(tmp_path, version, name):
    case = tmp_path / "case"
    shutil.copytree(FORMATS[version], case)
    edit, says = EDITS[name]
    edit(case)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        read_case(case)
        read_case(case)  # loaded again: not repeated
    ours = [w for w in caught if issubclass(w.category, SuspiciousValue)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert issubclass(ours[0].category, CaseWarning)
    assert str(ours[0].message).startswith(says), str(ours[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert [s.name for s in suspicions(read_case(case))] == [name]


def test_the_command_line_shows_a_suspicious_value_as_one_warning_line(tmp_path, capfd):
    case = tmp_path / "case"
    shutil.copytree(FORMATS["0.5"], case)
    EDITS["thermal_without_capacity"][0](case)
    with warnings.catch_warnings():
        assert main(["train", str(case), "--iterations", "2", "--threads", "1", "-q"]) == 0
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if "SuspiciousValue" in line or "warning" in line]
    assert lines == [f"caudal: warning: {EDITS['thermal_without_capacity'][1]}: the plant can never generate "
                     "(leave a retired plant out of the case)"], err


def shipped_cases() -> list[Path]:
    return sorted(p.parent for p in DATA.rglob("config.json") if "output" not in p.parts)


def test_the_shipped_cases_raise_no_warning():
    cases = shipped_cases()
    assert len(cases) >= 30  # 0.5.x and 0.18 examples, deterministic cases and variants
    for case in cases:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            read_case(case)
        assert not [str(w.message) for w in caught if issubclass(w.category, SuspiciousValue)], case
