"""0.18's productivity cascade, the rest of it: a plant's specific productivity, and a productivity of 0.

Each case is a variant of Cobre's 0.18 conversion of d02 (and of d07 in the
0.18 format, ``test_cobre_hydro_physics.to_018_computed``), from
``tests/data/cobre`` (Apache-2.0, see data/cobre/LICENSE.cobre), built by the
``VARIANTS`` builders below. Each constant of ``COBRE_018_COSTS`` is the lower
bound measured by running Cobre 0.18.0 (cobre-python 0.18.0,
``cobre.run.run(case, output_dir=..., threads=1)``, the cases' own 10
iterations) on the folder the builder wrote; caudal's deterministic
equivalent and its trained bound must equal each other and that cost.

What the measurements showed (format_018/energy_productivity.py):

- ``hydros[].specific_productivity_mw_per_m3s_per_m`` never moves the cost
  (d02 and d07 with 0.003, 0.009, 0.01 or 0.02 cost what they cost without
  it). It lets an FPHA plant go without its row in
  ``system/hydro_energy_productivity.parquet`` (the plant's geometry gives the
  head), and it does not supply a constant-productivity stage: Cobre 0.18.0
  refuses d02 with only a specific productivity, and so does caudal.
- A productivity of 0 stops the generation but not the turbines: with the
  reservoir full, inflows of 100 m3/s and a spillage penalty of 50, d02 out of
  service in stage 0 costs 7,665,000 in Cobre 0.18.0; caudal with the turbined
  flow forced to 0 that stage gave 9,490,000 (measured while finding the rule).
  The plant's minimum generation and turbined flow still bind.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import assert_fails_naming, assert_reaches, edit
from test_cobre_018_energy_productivity import (
    DETERMINISTIC,
    HYDROS,
    MODELS,
    copy,
    with_d07_geometry,
    without_productivity,
    write_productivity,
)
from test_cobre_hydro_physics import D07_018_COST, to_018_computed

from caudal.hydro import cobre
from caudal.hydro.cobre.production import ENERGY_PRODUCTIVITY_FILE as PRODUCTIVITY_FILE

D02 = DETERMINISTIC / "d02-single-hydro"
SPECIFIC = "specific_productivity_mw_per_m3s_per_m"
D02_COST = 2_626_111.111111111  # d02-single-hydro's cost in Cobre 0.18.0 (measured, with and without a SPECIFIC)


def specific(value: float) -> Callable[[dict], None]:
    return lambda d: d["hydros"][0].update({SPECIFIC: value})


def out_of_service(first: float, second: float) -> Callable[[Path], Path]:
    """d02 with its productivity from the file: ``first`` in stage 0, ``second`` in stage 1 (0: out of service)."""
    def build(dest: Path) -> Path:
        case = copy(D02, dest)
        edit(case, MODELS, without_productivity)
        write_productivity(case, [(0, 0, first, None, None), (0, 1, second, None, None)])
        return case
    return build


def flooded(first: float, second: float) -> Callable[[Path], Path]:
    """``out_of_service`` with the reservoir full, 100 m3/s flowing in, the outflow free and spilling at 50 $/(m3/s h):
    the water must leave, and whether the turbines of a plant out of service pass it moves the cost."""
    def build(dest: Path) -> Path:
        case = out_of_service(first, second)(dest)
        edit(case, "initial_conditions.json", lambda d: d["storage"][0].update(value_hm3=200.0))
        edit(case, HYDROS, lambda d: d["hydros"][0]["outflow"].update(max_outflow_m3s=1000.0))
        edit(case, "penalties.json", lambda d: d["hydro"].update(spillage_cost=50.0))
        inflows = pa.table({"hydro_id": pa.array([0, 0], pa.int32()), "stage_id": pa.array([0, 1], pa.int32()),
                            "mean_m3s": [100.0, 100.0], "std_m3s": [0.0, 0.0]})
        pq.write_table(inflows, case / "scenarios" / "inflow_seasonal_stats.parquet", compression="zstd")
        return case
    return build


def with_minimum(key: str, value: float) -> Callable[[Path], Path]:
    """``out_of_service(0, 1)`` with the plant's (and its unit group's) minimum ``key`` at ``value``."""
    def build(dest: Path) -> Path:
        case = out_of_service(0.0, 1.0)(dest)
        edit(case, HYDROS, lambda d: d["hydros"][0]["generation"].update({key: value}))
        edit(case, HYDROS, lambda d: d["hydros"][0]["unit_groups"][0].update({key: value}))
        return case
    return build


def d02_specific(dest: Path) -> Path:
    """d02 with d07's geometry and a specific productivity of 0.01: the JSON's 1.0 still gives the productivity."""
    case = with_d07_geometry(copy(D02, dest))
    edit(case, HYDROS, specific(0.01))
    return case


def d02_specific_without_geometry(dest: Path) -> Path:
    case = copy(D02, dest)
    edit(case, HYDROS, specific(0.01))
    return case


def d02_linearized_head_specific(dest: Path) -> Path:
    """``d02_specific`` as a linearized-head plant."""
    case = d02_specific(dest)
    edit(case, HYDROS, lambda d: d["hydros"][0]["generation"].update(model="linearized_head"))
    edit(case, MODELS, lambda d: d["production_models"][0]["stage_ranges"][0].update(model="linearized_head"))
    return case


def d07_specific(value: float) -> Callable[[Path], Path]:
    """d07 (0.18) with no row in the productivity file, the plant's specific productivity ``value`` instead."""
    def build(dest: Path) -> Path:
        case = to_018_computed(dest)
        (case / PRODUCTIVITY_FILE).unlink(missing_ok=True)
        edit(case, HYDROS, specific(value))
        return case
    return build


def d07_with_file(rows: list) -> Callable[[Path], Path]:
    def build(dest: Path) -> Path:
        case = to_018_computed(dest)
        write_productivity(case, rows)
        return case
    return build


def d02_json_zero(dest: Path) -> Path:
    """d02 at 0 in the JSON for every stage: out of service throughout."""
    case = copy(D02, dest)
    edit(case, MODELS, lambda d: d["production_models"][0]["stage_ranges"][0].update(productivity_mw_per_m3s=0.0))
    return case


def d02_json_zero_then_linearized(dest: Path) -> Path:
    """d02 out of service in stage 0 (JSON), a linearized-head plant at 1.0 in stage 1."""
    case = copy(D02, dest)
    edit(case, MODELS, lambda d: d["production_models"][0].update(stage_ranges=[
        {"start_stage_id": 0, "end_stage_id": 0, "model": "constant_productivity", "productivity_mw_per_m3s": 0.0},
        {"start_stage_id": 1, "end_stage_id": None, "model": "linearized_head", "productivity_mw_per_m3s": 1.0}]))
    return case


VARIANTS: dict[str, Callable[[Path], Path]] = {
    "d02-specific": d02_specific,
    "d02-specific-without-geometry": d02_specific_without_geometry,
    "d02-linearized-head-specific": d02_linearized_head_specific,
    "d07-specific-0.009": d07_specific(0.009),
    "d07-specific-0.02": d07_specific(0.02),
    "d07-row-and-specific": lambda dest: edit_and_return(d07_with_file([(0, None, 1.0, None, None)])(dest),
                                                         HYDROS, specific(0.02)),
    "d02-out-in-stage-0": out_of_service(0.0, 1.0),
    "d02-out-in-stage-1": out_of_service(1.0, 0.0),
    "d02-out-throughout": out_of_service(0.0, 0.0),
    "d02-json-zero": d02_json_zero,
    "d02-json-zero-then-linearized": d02_json_zero_then_linearized,
    "flooded-in-service": flooded(1.0, 1.0),
    "flooded-out-in-stage-0": flooded(0.0, 1.0),
    "flooded-out-in-stage-1": flooded(1.0, 0.0),
    "out-with-min-generation": with_minimum("min_generation_mw", 10.0),
    "out-with-min-turbined": with_minimum("min_turbined_m3s", 20.0),
    "d07-fpha-row-of-zero": d07_with_file([(0, 0, 1.0, None, None), (0, 1, 0.0, None, None)]),
}


def edit_and_return(case: Path, file: str, change: Callable[[dict], None]) -> Path:
    edit(case, file, change)
    return case


# Measured by running Cobre 0.18.0 on each builder's folder (module docstring).
COBRE_018_COSTS = {
    "d02-specific": D02_COST,
    "d02-specific-without-geometry": D02_COST,
    "d02-linearized-head-specific": D02_COST,
    "d07-specific-0.009": D07_018_COST,
    "d07-specific-0.02": D07_018_COST,
    "d07-row-and-specific": D07_018_COST,
    "d02-out-in-stage-0": 4_014_999.9999999995,
    "d02-out-in-stage-1": 4_014_999.9999999995,
    "d02-out-throughout": 5_840_000.0,
    "d02-json-zero": 5_840_000.0,
    "d02-json-zero-then-linearized": 4_014_999.9999999995,
    "flooded-in-service": 5_840_000.000000002,
    "flooded-out-in-stage-0": 7_665_000.000000002,
    "flooded-out-in-stage-1": 7_665_000.000000002,
    "out-with-min-generation": 77_015_000.0,
    "out-with-min-turbined": 4_014_999.9999999995,
    "d07-fpha-row-of-zero": D07_018_COST,
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variants_reach_cobre_018s_cost(tmp_path: Path, name: str) -> None:
    assert_reaches(cobre.load_case(VARIANTS[name](tmp_path / name)), COBRE_018_COSTS[name])


def test_a_specific_productivity_alone_does_not_give_the_productivity(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    """Cobre 0.18.0 refuses this case too ('no productivity_mw_per_m3s available for (hydro_id=0, stage_id=0)')."""
    case = d02_specific(tmp_path / "d02")
    edit(case, MODELS, without_productivity)
    assert_fails_naming(case, capsys, MODELS, "hydro 0", "stage_ranges[0].productivity_mw_per_m3s", "stage 0")


def test_a_negative_specific_productivity(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Stricter than Cobre 0.18.0, which accepts -0.01 (and then costs what d02 costs)."""
    case = d02_specific(tmp_path / "d02")
    edit(case, HYDROS, specific(-0.01))
    assert_fails_naming(case, capsys, HYDROS, "hydro 0", SPECIFIC, "at least 0")
