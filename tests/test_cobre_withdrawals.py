"""Water withdrawals (``constraints/hydro_bounds.parquet``), in both formats.

d11 (Cobre's example: 10 m3/s withdrawn from a plant with 30 m3/s of
inflow) must reproduce its known cost as a deterministic equivalent and as a
trained bound. Its 0.18 version, and two with only 2 m3/s of inflow so the
withdrawal cannot be met (violation costs 50,000 and 1 per m3/s and hour),
must give the costs Cobre 0.18.0 gave on the very same directories
(cobre-python 0.18.0, ``cobre.run.run`` with simulation off): that pins how
the shortfall is priced.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, KNOWN_COSTS, assert_fails_naming

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre import CaseError

D11 = "d11-water-withdrawal"
BOUNDS = "constraints/hydro_bounds.parquet"
SAME = 1e-9

# Lower bounds Cobre 0.18.0 reported on d11_in_018(inflow, violation cost).
COBRE_018 = {
    (30.0, 50_000.0): 5_982_222.222222224,  # d11 itself: the known cost 3,930,320,000/657
    (2.0, 50_000.0): 10_070_222.222222198,
    (2.0, 1.0): 8_624_822.222222224,
}


def train_bound(study: cobre.CobreStudy) -> float:
    settings = study.training
    return caudal.train(
        study.problem, iterations=settings.iterations, forward_passes=settings.forward_passes, seed=settings.seed
    ).lower_bound


def test_d11_reproduces_its_known_cost() -> None:
    study = cobre.load_case(DATA / "deterministic" / D11)
    assert study.case.withdrawals == {(0, 0): 10.0, (0, 1): 10.0}
    assert study.case.withdrawal_costs == {0: (50_000.0, 50_000.0)}
    expected = KNOWN_COSTS[D11]
    assert caudal.deterministic_equivalent(study.problem).objective == pytest.approx(expected, rel=SAME)
    assert train_bound(study) == pytest.approx(expected, rel=SAME)


def stats(values: list[float], entity: str, mean: str, std: str) -> pa.Table:
    return pa.table({entity: pa.array([0, 0], pa.int32()), "stage_id": pa.array([0, 1], pa.int32()),
                     mean: values, std: [0.0, 0.0]})


def d11_in_018(root: Path, inflow: float, violation_cost: float) -> Path:
    """d11 written in the 0.18 format: Cobre's d02 conversion with d11's changes."""
    case = root / f"d11-018-{inflow:g}-{violation_cost:g}"
    shutil.copytree(DATA / "cases-0.18" / "deterministic" / "d02-single-hydro", case)
    original = DATA / "deterministic" / D11
    shutil.copy(original / "scenarios" / "load_seasonal_stats.parquet", case / "scenarios")
    pq.write_table(stats([inflow, inflow], "hydro_id", "mean_m3s", "std_m3s"),
                   case / "scenarios" / "inflow_seasonal_stats.parquet", compression="zstd")
    (case / "constraints").mkdir()
    shutil.copy(original / BOUNDS, case / BOUNDS)
    penalties = json.loads((case / "penalties.json").read_text())
    penalties["bus"]["deficit_segments"][0]["cost"] = 50_000.0
    penalties["hydro"]["water_withdrawal_violation_cost"] = violation_cost
    (case / "penalties.json").write_text(json.dumps(penalties))
    buses = json.loads((case / "system/buses.json").read_text())
    buses["buses"][0].pop("deficit_segments")
    (case / "system/buses.json").write_text(json.dumps(buses))
    thermals = json.loads((case / "system/thermals.json").read_text())
    thermals["thermals"][0]["cost_per_mwh"] = 100.0
    (case / "system/thermals.json").write_text(json.dumps(thermals))
    return case


@pytest.mark.parametrize(("inflow", "violation_cost"), sorted(COBRE_018))
def test_018_withdrawals_give_cobres_costs(tmp_path: Path, inflow: float, violation_cost: float) -> None:
    study = cobre.load_case(d11_in_018(tmp_path, inflow, violation_cost))
    expected = COBRE_018[(inflow, violation_cost)]
    assert caudal.deterministic_equivalent(study.problem).objective == pytest.approx(expected, rel=SAME)
    assert train_bound(study) == pytest.approx(expected, rel=SAME)


def write_bounds(case: Path, columns: dict) -> None:
    pq.write_table(pa.table(columns), case / BOUNDS)


IDS = {"hydro_id": pa.array([0, 0], pa.int32()), "stage_id": pa.array([0, 1], pa.int32())}


@pytest.mark.parametrize(
    ("columns", "entity", "field", "words"),
    [
        ({"hydro_id": pa.array([0, 3], pa.int32()), "stage_id": pa.array([0, 1], pa.int32()),
          "water_withdrawal_m3s": [10.0, 10.0]}, "hydro 3, stage 1", "hydro_id", "hydro 3, which is not defined"),
        ({"hydro_id": pa.array([0, 0], pa.int32()), "stage_id": pa.array([0, 2], pa.int32()),
          "water_withdrawal_m3s": [10.0, 10.0]}, "hydro 0, stage 2", "stage_id", "not in stages.json"),
        ({**IDS, "water_withdrawal_m3s": [10.0, -1.0]}, "hydro 0, stage 1", "water_withdrawal_m3s",
         "non-negative"),
        ({"stage_id": pa.array([0, 1], pa.int32()), "water_withdrawal_m3s": [10.0, 10.0]}, None, "hydro_id",
         "missing"),
        ({**IDS, "water_withdrawal_m3s": [10.0, 10.0], "min_storage_hm3": [50.0, None]}, "hydro 0, stage 0",
         "min_storage_hm3", "not supported"),
        ({**IDS, "water_withdrawal_m3s": [10.0, 10.0], "max_diversion_m3s": [5.0, None]}, None, "max_diversion_m3s",
         "not supported"),
    ],
)
def test_bad_withdrawals_fail_naming_file_entity_and_field(
    tmp_path: Path, capsys, columns: dict, entity: str | None, field: str, words: str
) -> None:
    case = tmp_path / D11
    shutil.copytree(DATA / "deterministic" / D11, case)
    write_bounds(case, columns)
    assert_fails_naming(case, capsys, BOUNDS, entity, field, words)


def test_a_negative_violation_cost_is_an_error(tmp_path: Path) -> None:
    case = tmp_path / D11
    shutil.copytree(DATA / "deterministic" / D11, case)
    penalties = json.loads((case / "penalties.json").read_text())
    penalties["hydro"]["water_withdrawal_violation_neg_cost"] = -1.0
    (case / "penalties.json").write_text(json.dumps(penalties))
    with pytest.raises(CaseError) as info:
        cobre.load_case(case)
    assert (info.value.file, info.value.field) == ("penalties.json", "hydro.water_withdrawal_violation_neg_cost")
