"""Cobre's 0.18 case format: the same problems as 0.5.x, and every schema property read or refused.

The cases in ``data/cobre/cases-0.18`` are Cobre's own conversions of 0.5.x
examples (``../shared/cases/cobre/cases-0.18``): same physics, same costs in
Cobre. Here they must give caudal the same optimum as their originals, and
every property of the 0.18 JSON schemas must be classified in
:mod:`caudal.hydro.cobre.format_018.properties`, each refused one failing with
an error naming the file and the field.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from cobre_cases import DATA, KNOWN_COSTS, edit

import caudal
from caudal.cli import main
from caudal.hydro import cobre
from caudal.hydro.cobre import CaseError
from caudal.hydro.cobre.format_018.properties import IGNORED, PROPERTIES, READ, REFUSED, SCHEMA_FILES, classify
from caudal.hydro.cobre.formats import FORMAT_018, FORMAT_05, case_format

V018 = DATA / "cases-0.18"
SCHEMAS = DATA / "format-0.18"  # the JSON schemas Cobre 0.18 exports (cobre.schema.export)
DETERMINISTIC = sorted(p.name for p in (V018 / "deterministic").iterdir())
SAME = 1e-9
BASE = "deterministic/d04-transmission"  # two buses, a line, two hydros, a thermal


def load(path: Path) -> cobre.CobreStudy:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # d10's unused 0.5.x penalty_cost
        return cobre.load_case(path)


def lower_bound(study: cobre.CobreStudy, iterations: int) -> float:
    settings = study.training
    return caudal.train(
        study.problem, iterations=iterations, forward_passes=settings.forward_passes, seed=settings.seed
    ).lower_bound


# -- the same problems as 0.5.x ------------------------------------------------------------


def test_every_case_is_detected_in_its_format() -> None:
    for name in ["1dtoy", "4ree"] + [f"deterministic/{n}" for n in DETERMINISTIC]:
        assert case_format(V018 / name) == FORMAT_018
        assert case_format(DATA / name) == FORMAT_05


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_case_has_its_known_cost_in_both_formats(name: str) -> None:
    new, old = load(V018 / "deterministic" / name), load(DATA / "deterministic" / name)
    assert new.case.settings.training == old.case.settings.training
    new_cost = caudal.deterministic_equivalent(new.problem).objective
    old_cost = caudal.deterministic_equivalent(old.problem).objective
    assert new_cost == pytest.approx(old_cost, rel=SAME)
    assert new_cost == pytest.approx(KNOWN_COSTS[name], rel=SAME)
    iterations = new.training.iterations
    assert lower_bound(new, iterations) == pytest.approx(lower_bound(old, iterations), rel=SAME)
    assert lower_bound(new, iterations) == pytest.approx(KNOWN_COSTS[name], rel=1e-6)


@pytest.mark.parametrize(("name", "iterations"), [("1dtoy", 10), ("4ree", 4)])
def test_stochastic_case_has_the_same_bound_on_the_same_openings(name: str, iterations: int) -> None:
    new, old = load(V018 / name), load(DATA / name)
    assert len(new.noise) == len(old.noise)
    for a, b in zip(new.noise, old.noise, strict=True):
        assert (a == b).all()
    assert new.case.settings == old.case.settings
    assert lower_bound(new, iterations) == pytest.approx(lower_bound(old, iterations), rel=SAME)


def test_a_case_mixing_the_formats_is_refused(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    edit(case, "stages.json", lambda d: d["stages"][0].update(num_scenarios=1))
    exc = error(case)
    assert (exc.file, exc.field) == ("stages.json", "stages.num_openings")
    assert "0.5.x field 'stages.num_scenarios'" in str(exc)


def test_openings_come_from_the_file_only_when_config_says_so(tmp_path: Path) -> None:
    case = copy_case(tmp_path, "1dtoy")
    cobre.write_noise_openings(case / "scenarios" / "noise_openings.parquet", load(case).noise)
    exc = error(case)
    assert exc.file == "scenarios/noise_openings.parquet" and "openings.source" in str(exc)
    edit(case, "config.json", lambda d: d["training"]["scenario_source"].update(openings={"source": "file"}))
    assert load(case).noise_source == "file"


# -- every schema property read or refused ---------------------------------------------------


def schema_properties(schema_file: str) -> set[str]:
    """Every property path of a schema, through $ref, anyOf/oneOf/allOf, array items and maps."""
    schema = json.loads((SCHEMAS / schema_file).read_text())
    found: set[str] = set()

    def walk(node: Any, path: str, depth: int) -> None:
        while isinstance(node, dict) and "$ref" in node:
            node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
        if not isinstance(node, dict) or depth > 12:
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for option in node.get(key, []):
                walk(option, path, depth + 1)
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]", depth + 1)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}{{}}", depth + 1)
        for name, child in node.get("properties", {}).items():
            child_path = f"{path}.{name}" if path else name
            found.add(child_path)
            walk(child, child_path, depth + 1)

    walk(schema, "", 0)
    return found


def test_the_table_covers_exactly_the_schemas() -> None:
    assert sorted(p.name for p in SCHEMAS.glob("*.schema.json")) == sorted(PROPERTIES) == sorted(SCHEMA_FILES)
    for schema_file, table in PROPERTIES.items():
        properties = schema_properties(schema_file)
        unclassified = sorted(p for p in properties if classify(schema_file, p) is None)
        assert not unclassified, f"{schema_file}: properties neither read nor refused: {unclassified}"
        stale = sorted(set(table) - properties)
        assert not stale, f"{schema_file}: table entries the schema does not have: {stale}"
        assert set(table.values()) <= {READ, IGNORED, REFUSED}


def full_case(tmp_path: Path) -> Path:
    """d04 with every optional part caudal reads present (and valid), to edit one property at a time."""
    case = copy_case(tmp_path)

    def config(d: dict) -> None:
        source = {"seed": 1, "inflow": {"scheme": "in_sample"}, "load": {"scheme": "in_sample"},
                  "ncs": {"scheme": "in_sample"}, "openings": {"source": "generated"}}
        d["training"].update(scenario_source=copy.deepcopy(source), cut_selection={"row_activity_tolerance": 0.0})
        d["training"]["stopping_rules"].append({"type": "time_limit", "seconds": 3600.0})
        d["training"]["stopping_mode"] = "any"
        d["simulation"]["scenario_source"] = source
        d["modeling"] = {"cost_scale_factor": 1.0, "inflow_non_negativity": {"method": "penalty"}}
        d["policy"] = {"mode": "fresh", "checkpointing": {"enabled": False}}
        d["upper_bound_evaluation"] = {"enabled": False}

    def stages(d: dict) -> None:
        d["policy_graph"]["transitions"] = [{"source_id": 0, "target_id": 1, "probability": 1.0,
                                             "annual_discount_rate_override": 0.0}]
        d["pre_study_stages"] = [{"id": -1, "start_date": "2023-12-01", "end_date": "2024-01-01", "season_id": 11}]
        d["season_definitions"] = {"cycle_type": "monthly",
                                   "seasons": [{"id": m, "label": str(m), "month_start": m + 1} for m in range(12)]}
        for i, stage in enumerate(d["stages"]):
            stage.update(block_mode="parallel", risk_measure="expectation", sampling_method="saa", season_id=i,
                         annual_discount_rate_override=0.0, state_variables={"storage": True, "inflow_lags": True})

    def hydros(d: dict) -> None:
        d["hydros"][0]["penalties"] = {"spillage_cost": 0.01, "turbined_cost": 0.0}

    (case / "system" / "non_controllable_sources.json").write_text(json.dumps({"non_controllable_sources": [
        {"id": 0, "name": "wind", "bus_id": 1, "max_generation_mw": 5.0, "curtailment_cost": 0.01,
         "allow_curtailment": True, "operational_start_date": "2024-01-01"}]}))
    (case / "constraints").mkdir()
    (case / "constraints" / "generic_constraints.json").write_text(json.dumps({"constraints": [
        {"id": 0, "name": "cap", "description": "a cap", "expression": "thermal_generation(0)",
         "slack": {"enabled": True, "penalty": 5000.0}}], "expressions": []}))
    edit(case, "config.json", config)
    edit(case, "initial_conditions.json", lambda d: d.update(recent_observations=[
        {"hydro_id": 0, "start_date": "2023-12-25", "end_date": "2024-01-01", "value_m3s": 40.0}]))
    edit(case, "stages.json", stages)
    edit(case, "system/hydros.json", hydros)
    (case / "scenarios" / "load_factors.json").write_text(json.dumps({"load_factors": [
        {"bus_id": 0, "stage_id": 0, "block_factors": [{"block_id": 0, "factor": 1.0}]}]}))
    (case / "scenarios" / "correlation.json").write_text(json.dumps({"method": "spectral", "profiles": {"default": {
        "correlation_groups": [{"name": "both", "entities": [{"type": "inflow", "id": 0}, {"type": "inflow", "id": 1}],
                                "matrix": [[1.0, 0.5], [0.5, 1.0]]}]}},
        "schedule": [{"stage_id": 0, "profile_name": "default"}]}))
    load(case)  # valid as it stands
    return case


def set_property(case: Path, file: str, path: str, value: Any) -> None:
    """Set ``path`` (schema notation) in ``file``, on the first item of each array, creating what is missing."""
    target = case / file
    target.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(target.read_text()) if target.exists() else {}
    parts = re.findall(r"[^.\[\]{}]+|\[\]|\{\}", path)
    node = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part in ("[]", "{}"):  # the item or map value the part before chose
            continue
        following = parts[i + 1] if not last else None
        if last:
            node[part] = value
        elif following == "[]":
            items = node.get(part) if isinstance(node.get(part), list) else None
            if not items:
                node[part] = items = [{}]
            node = items[0]
        elif following == "{}":
            node[part] = {"profile": {}}
            node = node[part]["profile"]
        else:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
    target.write_text(json.dumps(data))


def names_the_field(path: str, field: str | None) -> bool:
    """Whether an error's field is ``path`` (schema notation) or an ancestor, seen from some array item."""
    if field is None:
        return False
    field = re.sub(r"\[\d+\]", "[]", field)
    tails = [path] + [path[m.end():] for m in re.finditer(r"\[\]\.", path)]
    return any(t == field or t.startswith(field + ".") or t.startswith(field + "[]") for t in tails)


def entries(status: str, *, leaves_only: bool = False) -> list[tuple[str, str]]:
    out = []
    for schema_file, table in PROPERTIES.items():
        for path, kind in table.items():
            if kind != status or path == "$schema":
                continue
            if leaves_only and any(other.startswith((path + ".", path + "[]")) for other in table):
                continue
            out.append((schema_file, path))
    return out


@pytest.mark.parametrize(("schema_file", "path"), entries(REFUSED), ids=lambda x: x)
def test_a_refused_property_is_refused_by_name(tmp_path: Path, schema_file: str, path: str) -> None:
    case = full_case(tmp_path)
    file = SCHEMA_FILES[schema_file]
    set_property(case, file, path, 1)
    exc = error(case)
    assert exc.file == file and names_the_field(path, exc.field), str(exc)
    assert "not supported" in str(exc) and "\n" not in str(exc)


@pytest.mark.parametrize(("schema_file", "path"), entries(READ, leaves_only=True), ids=lambda x: x)
def test_a_read_property_is_looked_at(tmp_path: Path, schema_file: str, path: str) -> None:
    """Given a value of no type the format allows, the reader names the property: it does read it."""
    case = full_case(tmp_path)
    file = SCHEMA_FILES[schema_file]
    set_property(case, file, path, {"not": "a value"})
    exc = error(case)
    assert exc.file == file and names_the_field(path, exc.field), str(exc)


# -- validation of what 0.18 added ------------------------------------------------------------


def copy_case(tmp_path: Path, name: str = BASE) -> Path:
    case = tmp_path / Path(name).name
    shutil.copytree(V018 / name, case)
    return case


def error(case: Path) -> CaseError:
    with pytest.raises(CaseError) as info:
        load(case)
    return info.value


MODELS = "system/hydro_production_models.json"


@pytest.mark.parametrize(
    ("file", "change", "entity", "field", "words"),
    [
        # dangling ids
        (MODELS, lambda d: d["production_models"][1].update(hydro_id=7), "hydro 7", "hydro_id", "hydro 7"),
        ("system/hydros.json", lambda d: d["hydros"][1]["unit_groups"][0].update(bus_id=5), "hydro 1",
         "unit_groups[0].bus_id", "bus 5"),
        # wrong stage counts
        (MODELS, lambda d: d["production_models"][0]["stage_ranges"][0].update(end_stage_id=0), "hydro 0",
         "stage_ranges", "the study has 2"),
        (MODELS, lambda d: d["production_models"][0]["stage_ranges"][0].update(start_stage_id=1), "hydro 0",
         "stage_ranges[0].start_stage_id", "expected 0"),
        # missing fields
        ("system/hydros.json", lambda d: d["hydros"][0]["unit_groups"][0].pop("bus_id"), "hydro 0",
         "unit_groups[0].bus_id", "required"),
        ("system/thermals.json", lambda d: d["thermals"][0].pop("operational_start_date"), "thermal 0",
         "operational_start_date", "required"),
        ("stages.json", lambda d: d["stages"][1].pop("num_openings"), "stage 1", "num_openings", "required"),
        ("config.json", lambda d: d["training"]["selection"].pop("forward_passes"), None,
         "training.selection.forward_passes", "required"),
        (MODELS, lambda d: d["production_models"][0]["stage_ranges"][0].pop("productivity_mw_per_m3s"), "hydro 0",
         "stage_ranges[0].productivity_mw_per_m3s", "required"),
        # negative bounds where none is allowed
        ("system/hydros.json", lambda d: d["hydros"][0]["unit_groups"][0].update(min_generation_mw=-1.0),
         "hydro 0", "unit_groups[0].min_generation_mw", "at least 0"),
        (MODELS, lambda d: d["production_models"][1]["stage_ranges"][0].update(productivity_mw_per_m3s=-1.0),
         "hydro 1", "stage_ranges[0].productivity_mw_per_m3s", "at least 0"),
        ("stages.json", lambda d: d["stages"][0].update(num_openings=0), "stage 0", "num_openings", "at least 1"),
        # malformed dates
        ("system/buses.json", lambda d: d["buses"][1].update(operational_start_date="2024-13-01"), "bus 1",
         "operational_start_date", "ISO date"),
    ],
)
def test_bad_018_case_fails_naming_file_entity_and_field(
    tmp_path: Path, capsys, file: str, change, entity: str | None, field: str, words: str
) -> None:
    case = copy_case(tmp_path)
    edit(case, file, change)
    exc = error(case)
    assert (exc.file, exc.entity, exc.field) == (file, entity, field), str(exc)
    assert words in str(exc)
    assert main(["train", str(case), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and file in err and field in err


def test_production_models_are_needed_for_hydros(tmp_path: Path) -> None:
    case = copy_case(tmp_path)
    (case / MODELS).unlink()
    exc = error(case)
    assert exc.file == MODELS and "missing" in str(exc)


@pytest.mark.parametrize(
    ("file", "change", "field", "feature"),
    [
        ("system/hydros.json", lambda d: d["hydros"][0]["unit_groups"][0].update(max_generation_mw=10.0),
         "unit_groups[0].min_generation_mw", "unit group limits"),
        ("system/thermals.json", lambda d: d["thermals"][0].update(operational_start_date="2024-02-01"),
         "operational_start_date", "entering service after the study starts"),
        ("penalties.json", lambda d: d["hydro"].update(turbined_cost=0.5), "hydro.turbined_cost", "turbined"),
        (MODELS, lambda d: d["production_models"][0]["stage_ranges"][0].update(model="hydraulic"),
         "stage_ranges[0].model", "hydraulic"),  # linearized_head is read: test_cobre_018_energy_productivity.py
        ("config.json", lambda d: d["training"].update(selection={"method": "enumerated"}),
         "training.selection.method", "enumerated"),
        ("config.json", lambda d: d.update(modeling={"cost_scale_factor": 1000.0}), "modeling.cost_scale_factor",
         "scale factor"),
    ],
)
def test_what_018_has_and_caudal_does_not_model_is_refused(
    tmp_path: Path, file: str, change, field: str, feature: str
) -> None:
    case = copy_case(tmp_path)
    edit(case, file, change)
    exc = error(case)
    assert (exc.file, exc.field) == (file, field), str(exc)
    assert feature in str(exc) and "not supported" in str(exc)


def test_cli_trains_an_018_case_with_its_config(capsys) -> None:
    assert main(["train", str(V018 / "deterministic" / "d02-single-hydro"), "-q", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "after 10 iterations" in out and "2626111.11" in out
