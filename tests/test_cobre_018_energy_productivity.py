"""0.18's productivity cascade: ``system/hydro_energy_productivity.parquet``, and ``linearized_head`` plants.

Each case is built here from Cobre's 0.18 conversions of d02 and d04 and
from ``converted-0.18/d05-seasonal-fpha`` (Apache-2.0, see
data/cobre/LICENSE.cobre), by the ``VARIANTS`` builders below; the Parquet
files are written with Zstandard, which Cobre 0.18.0 reads. Each constant of
``COBRE_018_COSTS`` was measured by running Cobre 0.18.0 (cobre-python
0.18.0, ``cobre.run.run(case, output_dir=..., threads=1)``, the cases' own 10
iterations; simulation off in their config.json) on the folder the builder
wrote. The deterministic equivalent and the trained bound must equal each
other and that cost.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, assert_fails_naming, assert_reaches, edit

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre.format_018.energy_productivity import EQUIVALENT, SET_ASIDE
from caudal.hydro.cobre.production import ENERGY_PRODUCTIVITY_FILE as PRODUCTIVITY_FILE

DETERMINISTIC = DATA / "cases-0.18" / "deterministic"
CONVERTED = DATA / "converted-0.18"
MODELS = "system/hydro_production_models.json"
HYDROS = "system/hydros.json"
GEOMETRY = "system/hydro_geometry.parquet"
D07 = DATA / "deterministic" / "d07-fpha-computed"

Row = tuple[int, int | None, float | None, float | None, float | None]  # hydro, stage, equivalent, Q_ref, rho_esp


def write_productivity(case: Path, rows: list[Row]) -> None:
    """``hydro_energy_productivity.parquet`` with Cobre 0.18.0's five columns."""
    names = ("hydro_id", "stage_id", EQUIVALENT, *SET_ASIDE)
    types = (pa.int32(), pa.int32(), pa.float64(), pa.float64(), pa.float64())
    table = pa.table({name: pa.array([row[i] for row in rows], kind)
                      for i, (name, kind) in enumerate(zip(names, types, strict=True))})
    pq.write_table(table, case / PRODUCTIVITY_FILE, compression="zstd")


def copy(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest


def without_productivity(models: dict) -> None:
    for model in models["production_models"]:
        for entry in model.get("stage_ranges", []) + model.get("seasons", []):
            entry.pop("productivity_mw_per_m3s", None)


def as_model(name: str, productivity: float | None = None) -> Callable[[dict], None]:
    """Every stage range (and the plants' hydros.json model) set to ``name``, at ``productivity`` (None: absent)."""
    def change(data: dict) -> None:
        for model in data.get("production_models", []):
            for entry in model["stage_ranges"]:
                entry.update(model=name, productivity_mw_per_m3s=productivity)
        for hydro in data.get("hydros", []):
            hydro["generation"]["model"] = name
    return change


def with_d07_geometry(case: Path) -> Path:
    """d02's plant given d07's geometry, tailrace, losses and efficiency (what a head-dependent model would read)."""
    d07 = json.loads((D07 / HYDROS).read_text())["hydros"][0]
    edit(case, HYDROS, lambda d: d["hydros"][0].update({k: d07[k] for k in ("tailrace", "hydraulic_losses",
                                                                              "efficiency")}))
    pq.write_table(pq.read_table(D07 / GEOMETRY), case / GEOMETRY, compression="zstd")
    return case


# -- the variants ------------------------------------------------------------------------------------------


def d02_by_stage(dest: Path) -> Path:
    """d02, its productivity from the Parquet file: 1.0 in stage 0, 1.3 in stage 1."""
    case = copy(DETERMINISTIC / "d02-single-hydro", dest)
    edit(case, MODELS, without_productivity)
    write_productivity(case, [(0, 0, 1.0, None, None), (0, 1, 1.3, None, None)])
    return case


def d02_plant_row(dest: Path) -> Path:
    """d02, one row for every stage (null stage_id): 1.3."""
    case = copy(DETERMINISTIC / "d02-single-hydro", dest)
    edit(case, MODELS, without_productivity)
    write_productivity(case, [(0, None, 1.3, None, None)])
    return case


def d02_stage_row_wins(dest: Path) -> Path:
    """d02, 1.3 for every stage but 0.8 in stage 0: the stage's row wins."""
    case = copy(DETERMINISTIC / "d02-single-hydro", dest)
    edit(case, MODELS, without_productivity)
    write_productivity(case, [(0, None, 1.3, None, None), (0, 0, 0.8, None, None)])
    return case


def d02_set_aside_columns(dest: Path) -> Path:
    """``d02_by_stage`` with a reference outflow and a specific productivity: Cobre's cost does not move."""
    case = copy(DETERMINISTIC / "d02-single-hydro", dest)
    edit(case, MODELS, without_productivity)
    write_productivity(case, [(0, 0, 1.0, 25.0, 0.01), (0, 1, 1.3, 25.0, 0.01)])
    return case


def d04_mixed(dest: Path) -> Path:
    """d04: hydro 0 from the file (0.9 then 1.1), hydro 1 a linearized-head plant at 1.2 (JSON)."""
    case = copy(DETERMINISTIC / "d04-transmission", dest)

    def change(data: dict) -> None:
        data["production_models"][0]["stage_ranges"][0].pop("productivity_mw_per_m3s")
        data["production_models"][1]["stage_ranges"][0].update(model="linearized_head", productivity_mw_per_m3s=1.2)
    edit(case, MODELS, change)
    edit(case, HYDROS, lambda d: d["hydros"][1]["generation"].update(model="linearized_head"))
    write_productivity(case, [(0, 0, 0.9, None, None), (0, 1, 1.1, None, None)])
    return case


def d05_seasonal_default(dest: Path) -> Path:
    """d05-seasonal-fpha with season 0 left to a constant-productivity default_model, read from the file (0.8);
    the file's row of the FPHA stage (1.2) changes nothing."""
    case = copy(CONVERTED / "d05-seasonal-fpha", dest)

    def change(data: dict) -> None:
        data["production_models"][0]["default_model"] = "constant_productivity"
        data["production_models"][0]["seasons"].pop(0)
    edit(case, MODELS, change)
    write_productivity(case, [(0, 0, 0.8, None, None), (0, 1, 1.2, 25.0, 0.01)])
    return case


def d02_linearized_head(dest: Path) -> Path:
    """d02 with d07's geometry, a linearized-head plant at 0.9 (JSON)."""
    case = with_d07_geometry(copy(DETERMINISTIC / "d02-single-hydro", dest))
    edit(case, MODELS, as_model("linearized_head", 0.9))
    edit(case, HYDROS, as_model("linearized_head"))
    return case


def d02_linearized_head_from_file(dest: Path) -> Path:
    """d02 with d07's geometry, a linearized-head plant whose productivity the file gives (0.9, then 1.1)."""
    case = with_d07_geometry(copy(DETERMINISTIC / "d02-single-hydro", dest))
    edit(case, MODELS, as_model("linearized_head"))
    edit(case, HYDROS, as_model("linearized_head"))
    edit(case, MODELS, without_productivity)
    write_productivity(case, [(0, 0, 0.9, None, None), (0, 1, 1.1, None, None)])
    return case


def d02_constant_from_file(dest: Path) -> Path:
    """``d02_linearized_head_from_file`` with the constant-productivity model: the same Cobre cost."""
    case = d02_linearized_head_from_file(dest)
    edit(case, MODELS, as_model("constant_productivity"))
    edit(case, HYDROS, as_model("constant_productivity"))
    edit(case, MODELS, without_productivity)
    return case


def d02_seasonal_linearized_head(dest: Path) -> Path:
    """d02-seasonal-productivity: season 0 linearized head at 1.0, season 1 left to a linearized-head default
    model read from the file (1.2)."""
    case = copy(CONVERTED / "d02-seasonal-productivity", dest)

    def change(data: dict) -> None:
        model = data["production_models"][0]
        model["default_model"] = "linearized_head"
        model["seasons"].pop()
        model["seasons"][0]["model"] = "linearized_head"
    edit(case, MODELS, change)
    write_productivity(case, [(0, 1, 1.2, None, None)])
    return case


VARIANTS: dict[str, Callable[[Path], Path]] = {
    "d02-by-stage": d02_by_stage,
    "d02-plant-row": d02_plant_row,
    "d02-stage-row-wins": d02_stage_row_wins,
    "d02-set-aside-columns": d02_set_aside_columns,
    "d04-mixed": d04_mixed,
    "d05-seasonal-default": d05_seasonal_default,
    "d02-linearized-head": d02_linearized_head,
    "d02-linearized-head-from-file": d02_linearized_head_from_file,
    "d02-constant-from-file": d02_constant_from_file,
    "d02-seasonal-linearized-head": d02_seasonal_linearized_head,
}

# Measured by running Cobre 0.18.0 on each builder's folder (module docstring).
COBRE_018_COSTS = {
    "d02-by-stage": 2_204_957.264957265,
    "d02-plant-row": 2_189_999.9999999995,
    "d02-stage-row-wins": 2_566_965.8119658125,
    "d02-set-aside-columns": 2_204_957.264957265,
    "d04-mixed": 7_300_218.999999993,
    "d05-seasonal-default": 2_627_780.295180999,
    "d02-linearized-head": 2_947_500.0,
    "d02-linearized-head-from-file": 2_615_681.818181818,
    "d02-constant-from-file": 2_615_681.818181818,
    "d02-seasonal-linearized-head": 2_321_944.444444444,
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variants_reach_cobre_018s_cost(tmp_path: Path, name: str) -> None:
    assert_reaches(cobre.load_case(VARIANTS[name](tmp_path / name)), COBRE_018_COSTS[name])


def test_the_file_gives_the_productivity_the_json_would(tmp_path: Path) -> None:
    """The file's 1.0 and 1.3 give the very problem of stage ranges of 1.0 and 1.3 in the JSON."""
    from_file = cobre.load_case(d02_by_stage(tmp_path / "file"))
    ranges = copy(DETERMINISTIC / "d02-single-hydro", tmp_path / "json")
    edit(ranges, MODELS, lambda d: d["production_models"][0].update(stage_ranges=[
        {"start_stage_id": 0, "end_stage_id": 0, "model": "constant_productivity", "productivity_mw_per_m3s": 1.0},
        {"start_stage_id": 1, "end_stage_id": None, "model": "constant_productivity",
         "productivity_mw_per_m3s": 1.3}]))
    in_json = cobre.load_case(ranges)
    assert from_file.case.productivity_overrides == in_json.case.productivity_overrides == {(0, 1): 1.3}
    assert caudal.deterministic_equivalent(from_file.problem).objective == pytest.approx(
        caudal.deterministic_equivalent(in_json.problem).objective, rel=1e-12)


def test_linearized_head_is_constant_productivity(tmp_path: Path) -> None:
    linearized = cobre.load_case(d02_linearized_head_from_file(tmp_path / "a"))
    constant = cobre.load_case(d02_constant_from_file(tmp_path / "b"))
    assert linearized.case.hydros == constant.case.hydros
    assert linearized.case.productivity_overrides == constant.case.productivity_overrides


# -- bad files: one line naming the file, the row's plant and stage, and the column -----------------------------


@pytest.fixture
def d02(tmp_path: Path) -> Path:
    return d02_by_stage(tmp_path / "d02")


def test_a_row_for_an_undefined_plant(d02: Path, capsys: pytest.CaptureFixture) -> None:
    write_productivity(d02, [(0, 0, 1.0, None, None), (0, 1, 1.3, None, None), (5, 1, 1.3, None, None)])
    assert_fails_naming(d02, capsys, PRODUCTIVITY_FILE, "hydro 5, stage 1", "hydro_id", "not defined")


def test_a_row_for_an_unknown_stage(d02: Path, capsys: pytest.CaptureFixture) -> None:
    write_productivity(d02, [(0, 0, 1.0, None, None), (0, 1, 1.3, None, None), (0, 7, 1.3, None, None)])
    assert_fails_naming(d02, capsys, PRODUCTIVITY_FILE, "hydro 0, stage 7", "stage_id", "not a stage")


def test_two_rows_for_one_stage(d02: Path, capsys: pytest.CaptureFixture) -> None:
    write_productivity(d02, [(0, 0, 1.0, None, None), (0, 1, 1.3, None, None), (0, 1, 1.2, None, None)])
    assert_fails_naming(d02, capsys, PRODUCTIVITY_FILE, "hydro 0, stage 1", "stage_id", "two rows")


def test_a_missing_column(d02: Path, capsys: pytest.CaptureFixture) -> None:
    table = pq.read_table(d02 / PRODUCTIVITY_FILE).drop_columns(["reference_outflow_m3s"])
    pq.write_table(table, d02 / PRODUCTIVITY_FILE)
    assert_fails_naming(d02, capsys, PRODUCTIVITY_FILE, None, "reference_outflow_m3s", "missing")


def test_an_unknown_column(d02: Path, capsys: pytest.CaptureFixture) -> None:
    table = pq.read_table(d02 / PRODUCTIVITY_FILE)
    pq.write_table(table.append_column("reference_volume_hm3", pa.array([1.0, 1.0])), d02 / PRODUCTIVITY_FILE)
    assert_fails_naming(d02, capsys, PRODUCTIVITY_FILE, None, "reference_volume_hm3", "not supported")


def test_a_negative_productivity(d02: Path, capsys: pytest.CaptureFixture) -> None:
    """(0 is a plant out of service: test_cobre_018_productivity_cascade.py.)"""
    write_productivity(d02, [(0, 0, 1.0, None, None), (0, 1, -1.0, None, None)])
    assert_fails_naming(d02, capsys, PRODUCTIVITY_FILE, "hydro 0, stage 1", EQUIVALENT, "must be finite and >= 0")


def test_a_negative_set_aside_value(d02: Path, capsys: pytest.CaptureFixture) -> None:
    write_productivity(d02, [(0, 0, 1.0, -5.0, None), (0, 1, 1.3, None, None)])
    assert_fails_naming(d02, capsys, PRODUCTIVITY_FILE, "hydro 0, stage 0", "reference_outflow_m3s", ">= 0")


def test_a_stage_in_neither_file(d02: Path, capsys: pytest.CaptureFixture) -> None:
    write_productivity(d02, [(0, 0, 1.0, None, None)])
    assert_fails_naming(d02, capsys, MODELS, "hydro 0", "stage_ranges[0].productivity_mw_per_m3s", "stage 1")


def test_a_stage_in_both_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    case = copy(DETERMINISTIC / "d02-single-hydro", tmp_path / "both")  # the JSON keeps its productivity
    write_productivity(case, [(0, None, 1.3, None, None)])
    assert_fails_naming(case, capsys, MODELS, "hydro 0", "stage_ranges[0].productivity_mw_per_m3s", "one of the two")


def test_a_seasonal_default_whose_stage_the_file_leaves_out(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    case = d02_seasonal_linearized_head(tmp_path / "seasonal")
    write_productivity(case, [(0, 0, 1.2, None, None)])  # stage 0's row: but the JSON gives stage 0, not stage 1
    assert_fails_naming(case, capsys, MODELS, "hydro 0", "seasons[0].productivity_mw_per_m3s", "one of the two")
    write_productivity(case, [])
    assert_fails_naming(case, capsys, MODELS, "hydro 0", "default_model", "stage 1")


def test_linearized_head_stays_refused_in_05x(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Cobre 0.5.1 refuses the model ('not yet implemented'), so caudal's 0.5.x reader does too."""
    case = copy(DATA / "deterministic" / "d02-single-hydro", tmp_path / "d02")
    edit(case, HYDROS, lambda d: d["hydros"][0]["generation"].update(model="linearized_head"))
    assert_fails_naming(case, capsys, HYDROS, "hydro 0", "generation.model", "linearized_head")

