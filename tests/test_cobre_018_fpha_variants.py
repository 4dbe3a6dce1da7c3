"""Computed FPHA in the 0.18 format beyond d07: losses in metres, fitting windows, tailraces rising with the outflow.

Every case is d07 in the 0.18 format (``test_cobre_hydro_physics.to_018_computed``,
from Cobre's d02 and d07 in ``tests/data/cobre``, Apache-2.0, see
data/cobre/LICENSE.cobre) changed by one of the ``VARIANTS`` below, plus the
``system/hydro_energy_productivity.parquet`` row Cobre 0.18.0 requires of an
FPHA plant (hydro 0, every stage, 1.0: caudal sets it aside, and it does not
move Cobre's cost). Each constant of ``COBRE_018_COSTS`` is the lower bound
measured by running Cobre 0.18.0 (cobre-python 0.18.0,
``cobre.run.run(case, output_dir=..., threads=1)``, the case's 10 iterations)
on the folder the builder wrote, and each file under
``data/cobre/cobre-0.18.0-fits/d07-018-*`` the
``hydro_models/fpha_hyperplanes.parquet`` that run wrote, unchanged. caudal's
deterministic equivalent and trained bound must equal that cost, and its
planes 0.18.0's (fpha_fitting_018.py says how they are fitted).

The "grid-*" variants fit grids of 250 to 2,500 points (up to 50 x 50) with a
tailrace rising with the outflow, where the planes are the facets of a hull
caudal gets from Qhull: Cobre 0.18.0's planes equal them to about 1e-14, so
it merges no facets beyond the coplanar ones.

"flooded" variants start full with 100 m3/s flowing in and the outflow free,
so the plant spills and the planes' spillage terms count in the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, assert_fails_naming, assert_reaches, edit
from test_cobre_018_energy_productivity import write_productivity
from test_cobre_hydro_physics import HYDROS, MODELS, to_018_computed

from caudal.hydro import cobre
from caudal.hydro.cobre.fpha_output import fpha_hyperplanes_table

FITS = DATA / "cobre-0.18.0-fits"
GEOMETRY = "system/hydro_geometry.parquet"
Change = Callable[[Path], None]


def fitting(**options) -> Change:
    return lambda case: edit(case, MODELS, lambda d: d["production_models"][0]["stage_ranges"][0][
        "fpha_config"].update(options))


def plant(**values) -> Change:
    return lambda case: edit(case, HYDROS, lambda d: d["hydros"][0].update(values))


def losses_in_metres(metres: float) -> Change:
    return plant(hydraulic_losses={"type": "constant", "value_m": metres})


def window(**bounds) -> Change:
    return fitting(fitting_window=bounds)


def polynomial(*coefficients: float) -> Change:
    return plant(tailrace={"type": "polynomial", "coefficients": list(coefficients)})


def storage_range(low: float, high: float) -> Change:
    return lambda case: edit(case, HYDROS, lambda d: d["hydros"][0]["reservoir"].update(
        min_storage_hm3=low, max_storage_hm3=high))


def max_turbined(value: float) -> Change:
    def change(data: dict) -> None:
        data["hydros"][0]["generation"]["max_turbined_m3s"] = value
        data["hydros"][0]["unit_groups"][0]["max_turbined_m3s"] = value
    return lambda case: edit(case, HYDROS, change)


def not_concave(case: Path) -> None:
    """d07's curve with heights rising faster as the reservoir fills (350, 355, 365, 385, 400 m)."""
    curve = pa.table({"hydro_id": pa.array([0] * 5, pa.int32()), "volume_hm3": [0.0, 50.0, 100.0, 150.0, 200.0],
                      "height_m": [350.0, 355.0, 365.0, 385.0, 400.0], "area_km2": [10.0, 30.0, 50.0, 65.0, 75.0]})
    pq.write_table(curve, case / GEOMETRY, compression="zstd")


def flooded(case: Path) -> None:
    edit(case, "initial_conditions.json", lambda d: d["storage"][0].update(value_hm3=200.0))
    edit(case, HYDROS, lambda d: d["hydros"][0]["outflow"].update(max_outflow_m3s=1000.0))
    inflows = pa.table({"hydro_id": pa.array([0, 0], pa.int32()), "stage_id": pa.array([0, 1], pa.int32()),
                        "mean_m3s": [100.0, 100.0], "std_m3s": [0.0, 0.0]})
    pq.write_table(inflows, case / "scenarios" / "inflow_seasonal_stats.parquet", compression="zstd")


def points(*pairs: tuple[float, float]) -> Change:
    return plant(tailrace={"type": "piecewise", "points": [{"outflow_m3s": q, "height_m": h} for q, h in pairs]})


def grid(storages: int, flows: int) -> Change:
    return fitting(volume_discretization_points=storages, turbine_discretization_points=flows)


QUADRATIC = polynomial(300.0, 0.1, 0.001)

VARIANTS: dict[str, tuple[Change, ...]] = {
    "losses-2m": (losses_in_metres(2.0),),
    "losses-7.5m": (losses_in_metres(7.5),),
    "window-from-50": (window(volume_min_hm3=50.0),),
    "window-to-150": (window(volume_max_hm3=150.0),),
    "window-percentiles": (window(volume_min_percentile=0.25, volume_max_percentile=0.8),),
    "window-30-120": (window(volume_min_hm3=30.0, volume_max_hm3=120.0),),  # two facets coplanar: 4 planes
    "window-percentiles-of-storage": (storage_range(20.0, 180.0),
                                      window(volume_min_percentile=0.25, volume_max_percentile=0.8)),
    "curve-not-concave": (not_concave,),
    "tailrace-linear": (polynomial(300.0, 0.1),),
    "tailrace-quadratic": (QUADRATIC,),
    "tailrace-points-straight": (points((0.0, 300.0), (150.0, 307.5), (400.0, 307.5)),),  # straight to 3 x 50
    "tailrace-points-held": (points((0.0, 300.0), (100.0, 305.0)),),  # held at 305 m past 100 m3/s
    "tailrace-points-bending": (points((0.0, 300.0), (60.0, 303.0), (200.0, 306.0)),),
    "tailrace-points-kink-3-turbine-points": (points((0.0, 300.0), (120.0, 306.0), (1000.0, 306.0)),
                                              fitting(turbine_discretization_points=3)),
    "tailrace-cubic": (polynomial(300.0, 0.05, 0.0, 0.00001),),
    "tailrace-quadratic-40": (QUADRATIC, max_turbined(40.0)),
    "tailrace-quadratic-window-4x6": (QUADRATIC, fitting(volume_discretization_points=4,
                                                         turbine_discretization_points=6),
                                      window(volume_min_percentile=0.1, volume_max_hm3=170.0)),
    "tailrace-quadratic-losses-3m": (polynomial(300.0, 0.05, 0.0005), losses_in_metres(3.0)),
    "run-of-river-at-100": (window(volume_min_hm3=100.0, volume_max_hm3=100.0),),  # 99 and 101 hm3, no kappa
    "run-of-river-at-30": (window(volume_min_hm3=30.0, volume_max_hm3=30.0),),
    "run-of-river-tailrace-quadratic": (window(volume_min_hm3=100.0, volume_max_hm3=100.0), QUADRATIC),
    "grid-21x21": (fitting(volume_discretization_points=21, turbine_discretization_points=21),),
    "flooded": (flooded,),
    "flooded-tailrace-quadratic": (QUADRATIC, flooded),
    "flooded-tailrace-points": (points((0.0, 300.0), (60.0, 303.0), (200.0, 306.0)), flooded),
    # grids well above the 100 points the hull was once limited to (fpha_fitting_018._upper_facets)
    "grid-20x20-tailrace-quadratic": (QUADRATIC, grid(20, 20)),
    "grid-30x10-tailrace-points": (points((0.0, 300.0), (60.0, 303.0), (200.0, 306.0)), grid(30, 10)),
    "grid-20x20-curve-not-concave-tailrace-quadratic": (not_concave, QUADRATIC, grid(20, 20)),
    "grid-12x25-flooded-tailrace-cubic": (polynomial(300.0, 0.05, 0.0, 0.00001), grid(12, 25), flooded),
    "grid-50x50-tailrace-quadratic-losses-3m": (polynomial(300.0, 0.05, 0.0005), losses_in_metres(3.0),
                                                grid(50, 50)),
}

# Measured by running Cobre 0.18.0 on each variant's folder (module docstring).
COBRE_018_COSTS = {
    "losses-2m": 3_648_018.2182940957,
    "losses-7.5m": 3_807_426.28852628,
    "window-from-50": 3_670_350.6680493494,
    "window-to-150": 3_680_686.5177366096,
    "window-percentiles": 3_669_106.4144666856,
    "window-30-120": 3_672_867.350824334,
    "window-percentiles-of-storage": 3_729_934.1684815995,
    "curve-not-concave": 4_006_392.0839526695,
    "tailrace-linear": 3_785_602.49449205,
    "tailrace-quadratic": 3_846_352.6133294087,
    "tailrace-points-straight": 3_721_551.3610647647,
    "tailrace-points-held": 3_721_551.3610647656,
    "tailrace-points-bending": 3_721_551.3610647656,
    "tailrace-points-kink-3-turbine-points": 3_700_030.921339165,
    "tailrace-cubic": 3_750_668.290461284,
    "tailrace-quadratic-40": 4_006_240.018845884,
    "tailrace-quadratic-window-4x6": 3_871_337.241551792,
    "tailrace-quadratic-losses-3m": 3_774_158.3403085354,
    "run-of-river-at-100": 3_636_308.740672998,
    "run-of-river-at-30": 4_084_325.43728,
    "run-of-river-tailrace-quadratic": 3_816_430.529250435,
    "grid-21x21": 3_702_707.31794454,
    "flooded": 2_739_480.1950077205,
    "flooded-tailrace-quadratic": 3_428_188.7410680046,
    "flooded-tailrace-points": 2_847_598.13897967,
    "grid-20x20-tailrace-quadratic": 3_877_953.749240053,
    "grid-30x10-tailrace-points": 3_756_810.982139888,
    "grid-20x20-curve-not-concave-tailrace-quadratic": 4_238_530.74328385,
    "grid-12x25-flooded-tailrace-cubic": 3_481_159.699224752,
    "grid-50x50-tailrace-quadratic-losses-3m": 3_820_258.107500754,
}

# The variants whose planes Cobre 0.18.0 wrote are kept (data/cobre/cobre-0.18.0-fits/d07-018-NAME/).
KEPT_PLANES = ("losses-2m", "window-30-120", "window-percentiles-of-storage", "curve-not-concave",
               "tailrace-linear", "tailrace-points-straight", "tailrace-points-bending",
               "tailrace-points-kink-3-turbine-points", "tailrace-cubic", "tailrace-quadratic-window-4x6",
               "tailrace-quadratic-losses-3m", "run-of-river-tailrace-quadratic", "grid-20x20-tailrace-quadratic",
               "grid-30x10-tailrace-points", "grid-20x20-curve-not-concave-tailrace-quadratic",
               "grid-12x25-flooded-tailrace-cubic", "grid-50x50-tailrace-quadratic-losses-3m")


def build(name: str, tmp_path: Path) -> Path:
    case = to_018_computed(tmp_path / name)
    write_productivity(case, [(0, None, 1.0, None, None)])
    for change in VARIANTS[name]:
        change(case)
    return case


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variants_reach_cobre_018s_cost(tmp_path: Path, name: str) -> None:
    assert_reaches(cobre.load_case(build(name, tmp_path)), COBRE_018_COSTS[name])


@pytest.mark.parametrize("name", KEPT_PLANES)
def test_caudals_planes_are_cobre_018s(tmp_path: Path, name: str) -> None:
    theirs = pq.read_table(FITS / f"d07-018-{name}" / "hydro_models" / "fpha_hyperplanes.parquet").to_pydict()
    ours = fpha_hyperplanes_table(cobre.load_case(build(name, tmp_path)).case).to_pydict()
    assert sorted(set(ours["stage_id"])) == sorted(set(theirs["stage_id"])) == [0, 1]
    for stage in (0, 1):
        mine = [i for i, s in enumerate(ours["stage_id"]) if s == stage]
        cobres = [i for i, s in enumerate(theirs["stage_id"]) if s == stage]
        assert [ours["plane_id"][i] for i in mine] == [theirs["plane_id"][i] for i in cobres]
        scale = max(abs(theirs[column][i]) for column in ("gamma_v", "gamma_q") for i in cobres)
        for column in ("gamma_0", "gamma_v", "gamma_q", "gamma_s"):
            got = [ours[column][i] * (ours["kappa"][i] if column == "gamma_0" else 1.0) for i in mine]
            assert got == pytest.approx([theirs[column][i] * theirs["kappa"][i] if column == "gamma_0"
                                         else theirs[column][i] for i in cobres], rel=1e-9, abs=1e-9 * scale), column


def test_a_rising_tailrace_gives_spillage_terms_and_more_planes(tmp_path: Path) -> None:
    """The spillage terms move the flooded plant's cost: without them caudal would promise more power."""
    rising = cobre.load_case(build("tailrace-quadratic", tmp_path)).case
    constant = cobre.load_case(to_018_computed(tmp_path / "constant")).case
    planes, base = rising.fpha[(0, 0)], constant.fpha[(0, 0)]
    assert len(planes.gamma_s) == 11 and len(base.gamma_s) == 5
    assert all(g < 0 for g in planes.gamma_s) and not any(base.gamma_s)


# -- flat tailraces, bad windows, large and empty grids ----------------------------------------------------------


def test_a_flat_piecewise_tailrace_is_a_constant_one(tmp_path: Path) -> None:
    case = to_018_computed(tmp_path)
    points((0.0, 300.0), (100.0, 300.0))(case)
    assert cobre.load_case(case).case.fpha == cobre.load_case(to_018_computed(tmp_path / "d07")).case.fpha


def test_an_inverted_window_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Cobre 0.18.0 refuses it too (an empty fitting window)."""
    case = build("window-from-50", tmp_path)
    window(volume_min_hm3=150.0, volume_max_hm3=100.0)(case)
    assert_fails_naming(case, capsys, MODELS, "hydro 0", "fpha_config.fitting_window", "no volume")


def test_a_large_grid_with_a_constant_tailrace_is_fitted(tmp_path: Path) -> None:
    """The closed form needs no hull: at 21 x 21 points d07's 20 intervals lie on its curve's 4 segments, whose
    facets merge into 4 planes and the flat one, as in Cobre 0.18.0 (its cost: grid-21x21)."""
    assert len(cobre.load_case(build("grid-21x21", tmp_path)).case.fpha[(0, 0)].gamma_v) == 5


def test_a_plant_that_turbines_nothing_has_no_planes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Its grid's points are on one line (no flow): no facet, an error naming the range."""
    case = build("tailrace-quadratic", tmp_path)
    max_turbined(0.0)(case)
    assert_fails_naming(case, capsys, MODELS, "hydro 0", "fpha_config.source", "spans no plane")
