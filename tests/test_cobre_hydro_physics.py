"""FPHA production functions and evaporation in Cobre cases (0.5.x and 0.18).

d05 (FPHA, constant-head plane) and d08 (evaporation) reproduce Cobre's known
costs in test_cobre_deterministic.py (through ``KNOWN_COSTS``). Here: the same
cases converted to 0.18 by hand (Cobre ships no 0.18 conversion of them; the
conversion starts from Cobre's own 0.18 d02, which d05 and d08 extend), checks
that the planes and the evaporation line enter the LP as the format says, and
one-line errors for bad inputs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, KNOWN_COSTS, SAME, assert_fails_naming, edit

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre.evaporation import linearize
from caudal.hydro.cobre.geometry import Curve

D02, D05, D07, D08 = "d02-single-hydro", "d05-fpha-constant-head", "d07-fpha-computed", "d08-evaporation"
MODELS = "system/hydro_production_models.json"
PLANES = "system/fpha_hyperplanes.parquet"
GEOMETRY = "system/hydro_geometry.parquet"
HYDROS = "system/hydros.json"


def copy(tmp_path: Path, name: str, source: Path = DATA / "deterministic") -> Path:
    case = tmp_path / name
    shutil.copytree(source / name, case)
    return case


def objective(case: Path) -> float:
    return caudal.deterministic_equivalent(cobre.load_case(case).problem).objective


def write_planes(case: Path, rows: list[dict]) -> None:
    """The planes file with ``rows`` (hydro 0), keys stage_id, gamma_0, gamma_v, gamma_q, gamma_s, kappa."""
    columns = {
        "hydro_id": pa.array([0] * len(rows), pa.int32()),
        "stage_id": pa.array([r.get("stage_id") for r in rows], pa.int32()),
        "plane_id": pa.array([r.get("plane_id", i) for i, r in enumerate(rows)], pa.int32()),
        **{k: pa.array([float(r.get(k, 0.0)) for r in rows], pa.float64())
           for k in ("gamma_0", "gamma_v", "gamma_q", "gamma_s")},
        "kappa": pa.array([r.get("kappa") for r in rows], pa.float64()),
    }
    pq.write_table(pa.table(columns), case / PLANES)


# -- the same cases in 0.18 ---------------------------------------------------------------------------


def to_018_fpha(tmp_path: Path) -> Path:
    """Cobre's 0.18 d02 with d05's change: the plant's production is d05's FPHA plane."""
    case = copy(tmp_path, D02, DATA / "cases-0.18" / "deterministic")
    edit(case, HYDROS, lambda d: d["hydros"][0]["generation"].update(model="fpha"))
    edit(case, MODELS, lambda d: d["production_models"][0]["stage_ranges"][0].update(
        model="fpha", fpha_config={"source": "precomputed"}, productivity_mw_per_m3s=None))
    shutil.copy(DATA / "deterministic" / D05 / PLANES, case / PLANES)
    return case


def to_018_evaporation(tmp_path: Path) -> Path:
    """Cobre's 0.18 d02 with d08's changes: months on the stages, evaporation, geometry, d08's statistics."""
    case = copy(tmp_path, D02, DATA / "cases-0.18" / "deterministic")
    d08 = DATA / "deterministic" / D08
    edit(case, "stages.json", lambda d: [stage.update(season_id=i) for i, stage in enumerate(d["stages"])])
    evaporation = json.loads((d08 / HYDROS).read_text())["hydros"][0]["evaporation"]
    edit(case, HYDROS, lambda d: d["hydros"][0].update(evaporation=evaporation))
    for name in (GEOMETRY, "scenarios/inflow_seasonal_stats.parquet", "scenarios/load_seasonal_stats.parquet"):
        shutil.copy(d08 / name, case / name)
    return case


def to_018_computed(tmp_path: Path) -> Path:
    """Cobre's 0.18 d02 with d07's changes: planes computed from the plant's geometry, tailrace, losses, efficiency."""
    case = copy(tmp_path, D02, DATA / "cases-0.18" / "deterministic")
    d07 = json.loads((DATA / "deterministic" / D07 / HYDROS).read_text())["hydros"][0]
    edit(case, HYDROS, lambda d: d["hydros"][0].update(
        {key: d07[key] for key in ("tailrace", "hydraulic_losses", "efficiency")}, generation={
            **d["hydros"][0]["generation"], "model": "fpha"}))
    edit(case, MODELS, lambda d: d["production_models"][0]["stage_ranges"][0].update(
        model="fpha", fpha_config={"source": "computed"}, productivity_mw_per_m3s=None))
    shutil.copy(DATA / "deterministic" / D07 / GEOMETRY, case / GEOMETRY)
    return case


D07_018_COST = 3_657_537.6965947566
"""d07 in the 0.18 format (``to_018_computed``): measured by running Cobre 0.18.0 on it (Cobre 0.18.0 fits other
planes than 0.5.1, whose cost is d07's known one; see fpha_fitting_018.py and test_cobre_fpha_018.py)."""


@pytest.mark.parametrize(("convert", "expected"), [
    (to_018_fpha, KNOWN_COSTS[D05]), (to_018_evaporation, KNOWN_COSTS[D08]), (to_018_computed, D07_018_COST)])
def test_018_conversions_reach_the_known_costs(tmp_path: Path, convert, expected: float) -> None:
    study = cobre.load_case(convert(tmp_path))
    assert caudal.deterministic_equivalent(study.problem).objective == pytest.approx(expected, rel=SAME)
    result = caudal.train(study.problem, iterations=study.training.iterations, seed=study.training.seed)
    assert result.lower_bound == pytest.approx(expected, rel=SAME)


# -- FPHA planes in the LP ------------------------------------------------------------------------------


def test_a_plane_of_slope_half_is_a_productivity_of_half(tmp_path: Path) -> None:
    fpha = copy(tmp_path, D05)
    write_planes(fpha, [{"gamma_q": 0.5}])  # one plane, valid for every stage
    constant = copy(tmp_path, D02)
    edit(constant, HYDROS, lambda d: d["hydros"][0]["generation"].update(productivity_mw_per_m3s=0.5))
    assert objective(fpha) == pytest.approx(objective(constant), rel=SAME)
    assert objective(fpha) > KNOWN_COSTS[D05] * (1 + 1e-3)  # less power from the same water costs more


def test_the_lowest_plane_binds_and_kappa_scales_the_intercept(tmp_path: Path) -> None:
    one = copy(tmp_path / "one", D05)
    write_planes(one, [{"gamma_q": 0.5, "gamma_0": 5.0}])
    two = copy(tmp_path / "two", D05)
    write_planes(two, [{"gamma_q": 1.0}, {"gamma_q": 0.5, "gamma_0": 10.0, "kappa": 0.5}, {"gamma_q": 2.0}])
    assert objective(two) == pytest.approx(objective(one), rel=SAME)
    assert objective(one) != pytest.approx(KNOWN_COSTS[D05], rel=1e-6)


def test_planes_of_a_stage_replace_those_valid_for_every_stage(tmp_path: Path) -> None:
    per_stage = copy(tmp_path / "a", D05)
    write_planes(per_stage, [{"stage_id": 0, "gamma_q": 0.5}, {"stage_id": 1, "gamma_q": 1.0}])
    mixed = copy(tmp_path / "b", D05)
    write_planes(mixed, [{"gamma_q": 1.0}, {"stage_id": 0, "gamma_q": 0.5, "plane_id": 0}])
    assert objective(mixed) == pytest.approx(objective(per_stage), rel=SAME)


def test_generation_follows_the_average_storage_and_the_turbined_cost_is_paid(tmp_path: Path) -> None:
    """In simulation, the plant's generation sits on its planes at the stage's average storage."""
    case = copy(tmp_path, D05)
    planes = [{"gamma_q": 1.0}, {"gamma_0": 2.0, "gamma_v": 0.1, "gamma_q": 0.2, "gamma_s": -0.05}]
    write_planes(case, planes)
    edit(case, "penalties.json", lambda d: d["hydro"].update(fpha_turbined_cost=0.5))
    study = cobre.load_case(case)
    result = caudal.train(study.problem, iterations=10, seed=1)
    hydros = cobre.simulate(study, result.policy, scenarios=1, seed=1)["hydros"].to_pydict()
    for i in range(len(hydros["stage_id"])):
        v = 0.5 * (hydros["storage_initial_hm3"][i] + hydros["storage_final_hm3"][i])
        q, s, g = hydros["turbined_m3s"][i], hydros["spillage_m3s"][i], hydros["generation_mw"][i]
        bounds = [p.get("gamma_0", 0.0) + p.get("gamma_v", 0.0) * v + p["gamma_q"] * q + p.get("gamma_s", 0.0) * s
                  for p in planes]
        assert g == pytest.approx(min(bounds), abs=1e-6)  # deficit costs more than any water: g is at its bound
    costs = cobre.simulate(study, result.policy, scenarios=1, seed=1)["costs"].to_pydict()
    turbined_cost = 0.5 * 730 * sum(hydros["turbined_m3s"])
    assert turbined_cost > 0
    assert sum(costs["fpha_turbined_cost"]) == pytest.approx(turbined_cost, rel=1e-9)
    assert sum(costs["hydro_violation_cost"]) == 0.0


# -- FPHA planes computed from the geometry ------------------------------------------------------------


def test_computed_planes_are_tangent_to_the_plants_production_function(tmp_path: Path) -> None:
    """d07: phi = 9.81e-3 * 0.92 * q * 0.97 * (h(v) - 300), h through (0, 350), (50, 370), ... (200, 400).

    Its tangent plane at a grid point (v, q) has gamma_q = k * (h(v) - 300) and gamma_v = k * q * h'(v) with
    k = 9.81e-3 * 0.92 * 0.97, no spillage term (the tailrace is flat), and kappa <= 1 on the intercept.
    """
    planes = cobre.load_case(DATA / "deterministic" / D07).case.fpha[(0, 0)]
    k = 9.81e-3 * 0.92 * 0.97
    heads = {20.0, 50.0, 70.0, 85.0, 95.0, 100.0}  # h(v) - 300 at the grid's volumes 0, 50, ..., 200
    flows = [1.0 + j * 49.0 / 4 for j in range(5)]
    slopes = {0.4, 0.3, 0.2, 0.1}  # of h over each interval (the last grid volume takes the last one)
    assert 3 <= len(planes.intercept) <= 10
    for gamma_v, gamma_q, gamma_s in zip(planes.gamma_v, planes.gamma_q, planes.gamma_s, strict=True):
        assert gamma_s == 0.0
        assert any(gamma_q == pytest.approx(k * head, rel=1e-12) for head in heads)
        assert any(gamma_v == pytest.approx(k * q * slope, rel=1e-12) for q in flows for slope in slopes)
    # Outer approximation corrected by kappa: at full turbining and storage no plane promises more than phi
    phi = k * 50.0 * 100.0
    bounds = [c + gv * 200.0 + gq * 50.0 for c, gv, gq in zip(planes.intercept, planes.gamma_v, planes.gamma_q,
                                                              strict=True)]
    assert min(bounds) <= phi * (1 + 1e-12)


def test_a_flat_piecewise_tailrace_is_the_constant_polynomial(tmp_path: Path) -> None:
    case = copy(tmp_path, D07)
    edit(case, HYDROS, lambda d: d["hydros"][0].update(tailrace={"type": "piecewise", "points": [
        {"outflow_m3s": 0.0, "height_m": 300.0}, {"outflow_m3s": 100.0, "height_m": 300.0}]}))
    assert objective(case) == pytest.approx(KNOWN_COSTS[D07], rel=SAME)


def test_fitting_options_change_the_planes(tmp_path: Path) -> None:
    case = copy(tmp_path, D07)
    edit(case, MODELS, lambda d: d["production_models"][0]["stage_ranges"][0]["fpha_config"].update(
        max_planes_per_hydro=2, volume_discretization_points=3))
    study = cobre.load_case(case)
    assert len(study.case.fpha[(0, 0)].intercept) <= 2
    assert caudal.deterministic_equivalent(study.problem).objective != pytest.approx(KNOWN_COSTS[D07], rel=1e-6)


# -- evaporation --------------------------------------------------------------------------------------


def test_evaporation_line_of_d08_by_hand() -> None:
    """100 mm over the area at 100 hm3 (1 km2, growing 0.005 km2 per hm3) during 730 hours."""
    curve = Curve(np.array([0.0, 100.0, 200.0]), np.zeros(3), np.array([0.5, 1.0, 1.5]))
    line = linearize(curve, 100.0, 100.0, 730.0, 200.0)
    per_km2 = 100e-3 * 1e6 / (730 * 3600)  # m3/s evaporated from 1 km2
    assert line.slope == pytest.approx(per_km2 * 0.005, rel=1e-12)
    assert line.constant == pytest.approx(per_km2 * 1.0 - per_km2 * 0.005 * 100, rel=1e-12)
    assert line.upper == pytest.approx(2 * per_km2 * 1.5, rel=1e-12)


def test_area_curve_is_held_at_its_ends_and_its_slope_is_the_intervals() -> None:
    curve = Curve(np.array([10.0, 20.0, 40.0]), np.zeros(3), np.array([1.0, 3.0, 4.0]))
    assert (curve.area_at(0.0), curve.area_at(15.0), curve.area_at(50.0)) == (1.0, 2.0, 4.0)
    assert (curve.area_slope(0.0), curve.area_slope(20.0), curve.area_slope(99.0)) == (0.2, 0.05, 0.05)


def test_evaporation_costs_water(tmp_path: Path) -> None:
    """Without its evaporation d08 costs less; with a reference storage on a kinked curve, the line moves."""
    plain = copy(tmp_path / "plain", D08)
    edit(plain, HYDROS, lambda d: d["hydros"][0].pop("evaporation"))
    assert objective(plain) < KNOWN_COSTS[D08] * (1 - 1e-6)
    referenced = copy(tmp_path / "ref", D08)
    edit(referenced, HYDROS, lambda d: d["hydros"][0]["evaporation"].update(reference_volumes_hm3=[100.0] * 12))
    assert objective(referenced) == pytest.approx(KNOWN_COSTS[D08], rel=SAME)  # the default is the middle


def test_simulation_reports_the_evaporation_on_its_line(tmp_path: Path) -> None:
    case = copy(tmp_path, D08)
    edit(case, "penalties.json", lambda d: d["hydro"].update(evaporation_violation_neg_cost=0.0))  # free to skip
    study = cobre.load_case(case)
    result = caudal.train(study.problem, iterations=10, seed=1)
    tables = cobre.simulate(study, result.policy, scenarios=1, seed=1)
    hydros = tables["hydros"].to_pydict()
    for i, stage in enumerate(hydros["stage_id"]):
        line = study.case.evaporation[(0, stage)]
        average = 0.5 * (hydros["storage_initial_hm3"][i] + hydros["storage_final_hm3"][i])
        expected = line.constant + line.slope * average
        missed = hydros["evaporation_violation_neg_m3s"][i] - hydros["evaporation_violation_pos_m3s"][i]
        assert hydros["evaporation_m3s"][i] + missed == pytest.approx(expected, rel=1e-9)
    assert sum(hydros["evaporation_violation_neg_m3s"]) > 0  # skipping evaporation is free here: the LP does
    assert sum(tables["costs"].to_pydict()["evaporation_violation_cost"]) == 0.0
    d02 = cobre.load_case(DATA / "deterministic" / D02)
    policy = caudal.train(d02.problem, iterations=2, seed=1).policy
    plain = cobre.simulate(d02, policy, scenarios=1, seed=1)["hydros"]
    assert plain.column("evaporation_m3s").null_count == plain.num_rows  # not modelled: null, as in Cobre


def test_plant_evaporation_costs_override_the_global_ones(tmp_path: Path) -> None:
    case = copy(tmp_path, D08)
    edit(case, HYDROS, lambda d: d["hydros"][0].update(penalties={"evaporation_violation_pos_cost": 3.0}))
    edit(case, "penalties.json", lambda d: d["hydro"].update(evaporation_violation_neg_cost=7.0))
    assert cobre.load_case(case).case.evaporation_costs == {0: (7.0, 3.0)}


# -- bad inputs: one line naming file, entity and field ------------------------------------------------


def _pop_models(case: Path) -> None:
    (case / MODELS).unlink()


@pytest.mark.parametrize(
    ("base", "change", "file", "entity", "field", "words"),
    [
        (D05, _pop_models, MODELS, "hydro 0", "production_models", "fpha range"),
        (D05, lambda c: (c / PLANES).unlink(), MODELS, "hydro 0", "fpha_config.source", "is missing"),
        (D05, lambda c: write_planes(c, [{"stage_id": 0, "gamma_q": 1.0}]), PLANES, "hydro 0", "stage_id",
         "no plane for stage 1"),
        (D05, lambda c: write_planes(c, [{"gamma_q": 0.0}]), PLANES, "hydro 0, plane 0", "gamma_q", "positive"),
        (D05, lambda c: write_planes(c, [{"gamma_q": 1.0, "gamma_s": 0.5}]), PLANES, "hydro 0, plane 0", "gamma_s",
         "<= 0"),
        (D05, lambda c: write_planes(c, [{"gamma_q": 1.0, "kappa": 1.5}]), PLANES, "hydro 0, plane 0", "kappa",
         "(0, 1]"),
        (D05, lambda c: edit(c, MODELS, lambda d: d["production_models"][0]["stage_ranges"][0]["fpha_config"].update(
            source="computed")), MODELS, "hydro 0", "fpha_config.source", "no tailrace"),
        (D07, lambda c: (c / GEOMETRY).unlink(), MODELS, "hydro 0", "fpha_config.source", "no curve"),
        (D07, lambda c: edit(c, HYDROS, lambda d: d["hydros"][0].pop("hydraulic_losses")), MODELS, "hydro 0",
         "fpha_config.source", "no hydraulic_losses"),
        (D07, lambda c: edit(c, HYDROS, lambda d: d["hydros"][0]["efficiency"].update(value=1.5)), HYDROS, "hydro 0",
         "efficiency.value", "(0, 1]"),
        (D07, lambda c: edit(c, HYDROS, lambda d: d["hydros"][0].update(
            tailrace={"type": "piecewise", "points": [{"outflow_m3s": 5.0, "height_m": 1.0}]})), HYDROS, "hydro 0",
         "tailrace.points", "at least two points"),
        (D07, lambda c: edit(c, MODELS, lambda d: d["production_models"][0]["stage_ranges"][0]["fpha_config"].update(
            volume_discretization_points=1)), MODELS, "hydro 0",
         "stage_ranges[0].fpha_config.volume_discretization_points", "at least 2"),
        (D05, lambda c: edit(c, MODELS, lambda d: d["production_models"][0]["stage_ranges"][0].update(
            productivity_override=1.0)), MODELS, "hydro 0", "stage_ranges[0].productivity_override",
         "not allowed on an fpha range"),
        (D08, lambda c: (c / GEOMETRY).unlink(), HYDROS, "hydro 0", "evaporation.coefficients_mm", "no curve"),
        (D08, lambda c: edit(c, HYDROS, lambda d: d["hydros"][0]["evaporation"].update(coefficients_mm=[1.0] * 11)),
         HYDROS, "hydro 0", "evaporation.coefficients_mm", "12 numbers"),
        (D08, lambda c: edit(c, "stages.json", lambda d: d["stages"][1].pop("season_id")), "stages.json", "stage 1",
         "season_id", "calendar month"),
        (D08, lambda c: pq.write_table(pa.table({"hydro_id": [0, 0], "volume_hm3": [5.0, 1.0], "height_m": [0.0, 0.0],
                                                 "area_km2": [1.0, 2.0]}), c / GEOMETRY),
         GEOMETRY, "hydro 0", "volume_hm3", "increase"),
        (D08, lambda c: pq.write_table(pa.table({"hydro_id": [0, 3], "volume_hm3": [5.0, 1.0], "height_m": [0.0, 0.0],
                                                 "area_km2": [1.0, 2.0]}), c / GEOMETRY),
         GEOMETRY, "hydro 3", "hydro_id", "not defined"),
        (D08, lambda c: pq.write_table(pa.table({"hydro_id": [0, 0], "volume_hm3": [0.0, 1.0], "height_m": [0.0, 0.0],
                                                 "area_km2": [1.0, -2.0]}), c / GEOMETRY),
         GEOMETRY, "hydro 0", "area_km2", "non-negative"),
    ],
)
def test_bad_fpha_and_evaporation_inputs_fail_naming_file_entity_and_field(
    tmp_path: Path, capsys, base: str, change, file: str, entity: str, field: str, words: str
) -> None:
    case = copy(tmp_path, base)
    change(case)
    assert_fails_naming(case, capsys, file, entity, field, words)


# -- determinism across ranks and threads -----------------------------------------------------------


def stochastic_fpha_evaporation(tmp_path: Path) -> Path:
    """d07 with evaporation (d08's), 3 openings of uncertain inflow per stage and 2 forward passes."""
    case = copy(tmp_path, D07)
    edit(case, "stages.json", lambda d: [stage.update(num_scenarios=3, season_id=i)
                                         for i, stage in enumerate(d["stages"])])
    edit(case, "config.json", lambda d: d["training"].update(forward_passes=2))
    edit(case, HYDROS, lambda d: d["hydros"][0].update(evaporation={"coefficients_mm": [100.0] * 12}))
    pq.write_table(pa.table({"hydro_id": pa.array([0, 0], pa.int32()), "stage_id": pa.array([0, 1], pa.int32()),
                             "mean_m3s": [40.0, 10.0], "std_m3s": [15.0, 5.0]}),
                   case / "scenarios/inflow_seasonal_stats.parquet")
    return case


@pytest.mark.mpi
def test_fpha_and_evaporation_train_to_the_same_cuts_on_2_ranks_of_2_threads(tmp_path: Path) -> None:
    from mpi_helpers import train_ranks

    case = str(stochastic_fpha_evaporation(tmp_path))
    one = train_ranks(1, 1, case, tmp_path / "one")
    four = train_ranks(2, 2, case, tmp_path / "four")
    assert one["cuts"] > 0 and four["policy_digest"] == one["policy_digest"]
    def without_timing(rows: list[str]) -> list[list[str]]:  # column 5 is the wall time
        return [row.split(",")[:5] + row.split(",")[6:] for row in rows]

    assert len(one["convergence"]) > 1
    assert without_timing(four["convergence"]) == without_timing(one["convergence"])
