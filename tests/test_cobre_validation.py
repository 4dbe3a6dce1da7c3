"""Bad and unsupported Cobre cases fail with an error naming the file, the entity and the field.

Each test copies a valid case, breaks or extends one thing, and checks the
:class:`CaseError` (a ``ProblemError``, so the command line reports it in one
line with exit status 2).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, edit

from caudal.cli import main
from caudal.hydro import cobre
from caudal.hydro.cobre import CaseError
from caudal.model.problem import ProblemError


def copy_case(tmp_path: Path, name: str = "deterministic/d03-two-hydro-cascade") -> Path:
    case = tmp_path / Path(name).name
    shutil.copytree(DATA / name, case)
    return case


def error(case: Path) -> CaseError:
    with pytest.raises(CaseError) as info:
        cobre.load_case(case)
    return info.value


def test_case_error_is_a_problem_error() -> None:
    assert issubclass(CaseError, ProblemError) and issubclass(CaseError, ValueError)


def test_dangling_bus_id(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    edit(case, "system/hydros.json", lambda d: d["hydros"][1].update(bus_id=9))
    exc = error(case)
    assert (exc.file, exc.entity, exc.field) == ("system/hydros.json", "hydro 1", "bus_id")
    assert "bus 9" in str(exc)


def test_cycle_in_cascade(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    edit(case, "system/hydros.json", lambda d: d["hydros"][1].update(downstream_id=0))
    exc = error(case)
    assert (exc.file, exc.field) == ("system/hydros.json", "downstream_id")
    assert "cycle" in exc.problem


def test_negative_capacity(tmp_path: Path) -> None:
    case = copy_case(tmp_path, "deterministic/d04-transmission")
    edit(case, "system/lines.json", lambda d: d["lines"][0]["capacity"].update(direct_mw=-5.0))
    exc = error(case)
    assert (exc.file, exc.entity, exc.field) == ("system/lines.json", "line 0", "capacity.direct_mw")


def test_negative_thermal_capacity(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    edit(case, "system/thermals.json", lambda d: d["thermals"][0]["generation"].update(max_mw=-1.0))
    exc = error(case)
    assert (exc.file, exc.entity, exc.field) == ("system/thermals.json", "thermal 0", "generation.max_mw")


def test_missing_parquet_column(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    path = case / "scenarios/inflow_seasonal_stats.parquet"
    pq.write_table(pq.read_table(path).drop(["std_m3s"]), path)
    exc = error(case)
    assert (exc.file, exc.field) == ("scenarios/inflow_seasonal_stats.parquet", "std_m3s")
    assert "missing" in exc.problem


def test_statistics_missing_a_stage(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    path = case / "scenarios/inflow_seasonal_stats.parquet"
    table = pq.read_table(path)
    pq.write_table(table.filter(pa.compute.not_equal(table.column("stage_id"), 2)), path)
    exc = error(case)
    assert (exc.file, exc.entity, exc.field) == ("scenarios/inflow_seasonal_stats.parquet", "hydro 0", "stage_id")
    assert "stage 2" in exc.problem


def test_noise_openings_with_wrong_stage_count(tmp_path: Path) -> None:
    case = copy_case(tmp_path, "1dtoy-shared-openings")
    path = case / "scenarios/noise_openings.parquet"
    table = pq.read_table(path)
    pq.write_table(table.filter(pa.compute.less(table.column("stage_id"), 3)), path)
    exc = error(case)
    assert (exc.file, exc.entity, exc.field) == ("scenarios/noise_openings.parquet", "stage 3", "opening_index")


def test_noise_openings_with_wrong_entity_count(tmp_path: Path) -> None:
    case = copy_case(tmp_path, "1dtoy-shared-openings")
    study = cobre.load_case(case)
    cobre.write_noise_openings(case / "scenarios/noise_openings.parquet", [n.repeat(2, axis=1) for n in study.noise])
    assert error(case).field == "entity_index"


def test_stages_out_of_order(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    edit(case, "stages.json", lambda d: d["stages"][1].update(id=5))
    exc = error(case)
    assert (exc.file, exc.entity, exc.field) == ("stages.json", "stage 5", "id")


def test_missing_initial_storage(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    edit(case, "initial_conditions.json", lambda d: d["storage"].pop())
    exc = error(case)
    assert (exc.file, exc.entity) == ("initial_conditions.json", "hydro 1")


def test_missing_past_inflows_for_par_lags(tmp_path: Path) -> None:
    case = copy_case(tmp_path, "deterministic/d16-par1-lag-shift")
    edit(case, "initial_conditions.json", lambda d: d.update(past_inflows=[]))
    exc = error(case)
    assert (exc.file, exc.entity, exc.field) == ("initial_conditions.json", "hydro 0", "past_inflows.values_m3s")


def test_an_absurd_ar_lag_is_an_error_not_an_allocation(tmp_path: Path) -> None:
    """A lag index of 2**31 - 1 (a fuzzed Parquet value) is refused at once, within a 1 GB address space.

    Listing the lags 1..order to check for gaps once took some 22 GB here and
    brought the machine's OOM killer; a child process with a capped address
    space turns that regression into a MemoryError instead of a dead machine.
    """
    case = copy_case(tmp_path, "deterministic/d16-par1-lag-shift")
    file = case / "scenarios" / "inflow_ar_coefficients.parquet"
    table = pq.read_table(file)
    lags = table.column("lag").to_numpy().copy()
    lags[0] = np.iinfo(lags.dtype).max
    pq.write_table(table.set_column(table.column_names.index("lag"), "lag", pa.array(lags)), file)
    child = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        "from caudal.hydro import cobre\n"
        "from caudal.hydro.cobre import CaseError\n"
        "try:\n"
        "    cobre.load_case(sys.argv[1])\n"
        "except CaseError as exc:\n"
        "    print(exc.file, exc.field, sep='|')\n"
    )
    done = subprocess.run([sys.executable, "-c", child, str(case)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "scenarios/inflow_ar_coefficients.parquet|lag"


def test_invalid_json(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    (case / "system/buses.json").write_text("{ not json")
    assert error(case).file == "system/buses.json"


# -- features caudal does not model: refused, never ignored ---------------------------------------
@pytest.mark.parametrize(
    ("file", "change", "field", "feature"),
    [
        ("system/hydros.json", lambda d: d["hydros"][0]["generation"].update(model="linearized_head"),
         "generation.model", "production model"),
        ("system/hydros.json", lambda d: d["hydros"][0].update(filling={"start_stage_id": 0}), "filling", "filling"),
        ("system/hydros.json", lambda d: d["hydros"][0].update(diversion={"downstream_id": 1, "max_flow_m3s": 5}),
         "diversion", "diversion"),
        ("system/hydros.json", lambda d: d["hydros"][0].update(entry_stage_id=1), "entry_stage_id", "entry"),
        ("system/hydros.json", lambda d: d["hydros"][0].update(colour="blue"), "colour", "colour"),
        ("system/lines.json", lambda d: d["lines"].append({"id": 0, "name": "L", "source_bus_id": 0,
         "target_bus_id": 0, "capacity": {"direct_mw": 1, "reverse_mw": 1}}), "target_bus_id", "itself"),
        ("config.json", lambda d: d["training"]["stopping_rules"].append(
            {"type": "bound_stalling", "iterations": 5, "tolerance": 1e-4}), "type", "bound_stalling"),
        ("config.json", lambda d: d["training"].update(cut_selection={"enabled": True}), "cut_selection.enabled",
         "cut selection"),
        ("config.json", lambda d: d["training"].update(scenario_source={"inflow": {"scheme": "historical"}}),
         "inflow.scheme", "historical"),
        ("stages.json", lambda d: d["stages"][0].update(risk_measure={"cvar": {"alpha": 0.5, "lambda": 0.5}}),
         "risk_measure", "risk measure"),
        ("stages.json", lambda d: d["stages"][0].update(block_mode="chronological"), "block_mode", "chronological"),
        ("initial_conditions.json", lambda d: d.update(filling_storage=[{"hydro_id": 0, "value_hm3": 1.0}]),
         "filling_storage", "filling"),
    ],
)
def test_unsupported_features_are_refused(tmp_path: Path, file, change, field, feature) -> None:
    case = copy_case(tmp_path)
    edit(case, file, change)
    exc = error(case)
    assert exc.file == file
    assert exc.field is not None and exc.field.endswith(field)
    assert feature in exc.problem


@pytest.mark.parametrize(
    ("file", "feature"),
    [
        ("scenarios/non_controllable_factors.json", "non-controllable source block factors"),
        ("scenarios/external_load_scenarios.parquet", "external load scenarios"),
        ("constraints/thermal_bounds.parquet", "stage-varying bounds"),
    ],
)
def test_unsupported_files_are_refused(tmp_path: Path, file: str, feature: str) -> None:
    case = copy_case(tmp_path)
    (case / file).parent.mkdir(exist_ok=True)
    (case / file).write_text('{"non_controllable_sources": [{"id": 0}]}')
    exc = error(case)
    assert exc.file == file and feature in exc.problem


def test_empty_registry_of_unsupported_entities_is_accepted(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    (case / "system/pumping_stations.json").write_text('{"pumping_stations": []}')
    cobre.load_case(case)


def test_truncation_with_lags_that_could_clamp_is_refused(tmp_path: Path) -> None:
    case = copy_case(tmp_path, "deterministic/d19-multi-hydro-par")
    path = case / "scenarios/inflow_seasonal_stats.parquet"
    table = pq.read_table(path)
    pq.write_table(table.set_column(3, "std_m3s", pa.array([60.0] * table.num_rows)), path)
    exc = error(case)
    assert (exc.file, exc.field) == ("config.json", "modeling.inflow_non_negativity.method")


def test_unused_penalty_cost_is_reported(tmp_path: Path) -> None:
    with pytest.warns(cobre.CaseWarning, match="penalty_cost"):
        cobre.load_case(DATA / "deterministic" / "d10-inflow-nonnegativity")


# -- the command line -------------------------------------------------------------------------------
def test_cli_reports_a_bad_case_in_one_line(tmp_path: Path, capsys) -> None:
    case = copy_case(tmp_path)
    edit(case, "system/hydros.json", lambda d: d["hydros"][0].update(bus_id=7))
    assert main(["train", str(case), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "system/hydros.json: hydro 0: field 'bus_id'" in err


def test_cli_trains_a_case_with_its_config(capsys) -> None:
    assert main(["train", str(DATA / "deterministic" / "d02-single-hydro"), "-q", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "after 10 iterations" in out
    assert "2626111.11" in out


def test_cli_options_override_the_config(capsys) -> None:
    assert main(["train", str(DATA / "deterministic" / "d02-single-hydro"), "-q", "-n", "3", "--threads", "1"]) == 0
    assert "after 3 iterations" in capsys.readouterr().out


def test_shipped_example_is_cobres_1dtoy() -> None:
    shipped = cobre.example_case("1dtoy")
    for path in (DATA / "1dtoy").rglob("*"):
        if path.is_file():
            assert (shipped / path.relative_to(DATA / "1dtoy")).read_bytes() == path.read_bytes()
    assert (shipped / "LICENSE.cobre").is_file() and (shipped / "NOTICE.cobre").is_file()
    with pytest.raises(ValueError, match="4ree"):
        cobre.example_case("4ree")
