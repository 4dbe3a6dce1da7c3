"""Non-controllable sources (wind, solar) with deterministic availability, in both formats.

d15 (Cobre's example: a 100 MW source at 50% availability beside one
thermal) must reproduce its known cost as a deterministic equivalent and as a
trained bound; Cobre credits the curtailment cost per MWh generated, which the
known cost shows (438,000 - 0.001 * 50 MW * 1460 h). The same case written in
the 0.18 format must give the same cost; Cobre 0.18.0 itself (cobre-python
0.18.0) reads that 0.18 case and gives 437,927.0.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, assert_fails_naming, assert_known_cost

from caudal.hydro import cobre
from caudal.hydro.cobre import CaseError

D15 = "d15-non-controllable-source"
SOURCES = "system/non_controllable_sources.json"
STATS = "scenarios/non_controllable_stats.parquet"


def test_d15_reproduces_its_known_cost() -> None:
    study = cobre.load_case(DATA / "deterministic" / D15)
    assert [s.curtailment_cost for s in study.case.sources] == [0.001]  # the source's own, not penalties.json's
    assert study.case.source_availability == {(0, 0): 0.5, (0, 1): 0.5}
    assert_known_cost(study, D15)


def d15_in_018(tmp_path: Path) -> Path:
    case = tmp_path / "d15-018"
    shutil.copytree(DATA / "cases-0.18" / "deterministic" / "d01-thermal-dispatch", case)
    original = DATA / "deterministic" / D15
    for name in ("inflow_seasonal_stats.parquet", "load_seasonal_stats.parquet", "non_controllable_stats.parquet"):
        shutil.copy(original / "scenarios" / name, case / "scenarios" / name)
    for name, key in (("system/thermals.json", "thermals"), (SOURCES, "non_controllable_sources")):
        data = json.loads((original / name).read_text())
        for item in data[key]:
            item["operational_start_date"] = "2024-01-01"
        (case / name).write_text(json.dumps(data))
    penalties = json.loads((original / "penalties.json").read_text())
    penalties["hydro"].pop("fpha_turbined_cost")
    penalties["hydro"]["turbined_cost"] = 0.0
    (case / "penalties.json").write_text(json.dumps(penalties))
    return case


def test_d15_in_the_018_format_has_the_same_cost(tmp_path: Path) -> None:
    assert_known_cost(cobre.load_case(d15_in_018(tmp_path)), D15)


def copy_d15(tmp_path: Path) -> Path:
    case = tmp_path / D15
    shutil.copytree(DATA / "deterministic" / D15, case)
    return case


def edit_source(case: Path, change) -> None:
    data = json.loads((case / SOURCES).read_text())
    change(data["non_controllable_sources"][0])
    (case / SOURCES).write_text(json.dumps(data))


def write_stats(case: Path, rows: list[tuple[int, int, float, float]]) -> None:
    columns = list(zip(*rows, strict=True))
    table = pa.table({"ncs_id": pa.array(columns[0], pa.int32()), "stage_id": pa.array(columns[1], pa.int32()),
                      "mean": columns[2], "std": columns[3]})
    pq.write_table(table, case / STATS)


@pytest.mark.parametrize(
    ("file", "change", "entity", "field", "words"),
    [
        (SOURCES, lambda c: edit_source(c, lambda s: s.update(bus_id=3)), "source 0", "bus_id", "bus 3"),
        (SOURCES, lambda c: edit_source(c, lambda s: s.pop("max_generation_mw")), "source 0", "max_generation_mw",
         "required"),
        (SOURCES, lambda c: edit_source(c, lambda s: s.update(max_generation_mw=-5.0)), "source 0",
         "max_generation_mw", "at least 0"),
        (SOURCES, lambda c: edit_source(c, lambda s: s.update(curtailment_cost=-1.0)), "source 0",
         "curtailment_cost", "at least 0"),
        (STATS, lambda c: write_stats(c, [(0, 0, 0.5, 0.0)]), "source 0", "stage_id", "no row for stage 1"),
        (STATS, lambda c: write_stats(c, [(0, 0, 0.5, 0.0), (0, 1, 0.5, 0.0), (0, 2, 0.5, 0.0)]),
         "source 0, stage 2", "stage_id", "not in stages.json"),
        (STATS, lambda c: write_stats(c, [(0, 0, 0.5, 0.0), (4, 1, 0.5, 0.0)]), "source 4, stage 1", "ncs_id",
         "source 4, which is not defined"),
        (STATS, lambda c: write_stats(c, [(0, 0, 0.5, -0.1), (0, 1, 0.5, 0.0)]), "source 0, stage 0", "std",
         "non-negative"),
        (SOURCES, lambda c: edit_source(c, lambda s: s.update(entry_stage_id=1)), "source 0", "entry_stage_id",
         "not supported"),
    ],
)
def test_bad_sources_fail_naming_file_entity_and_field(
    tmp_path: Path, capsys, file: str, change, entity: str, field: str, words: str
) -> None:
    case = copy_d15(tmp_path)
    change(case)
    assert_fails_naming(case, capsys, file, entity, field, words)


def test_a_source_that_cannot_be_curtailed_is_refused_in_018(tmp_path: Path) -> None:
    case = d15_in_018(tmp_path)
    data = json.loads((case / SOURCES).read_text())
    data["non_controllable_sources"][0]["allow_curtailment"] = False
    (case / SOURCES).write_text(json.dumps(data))
    with pytest.raises(CaseError) as info:
        cobre.load_case(case)
    assert (info.value.file, info.value.field) == (SOURCES, "allow_curtailment")
