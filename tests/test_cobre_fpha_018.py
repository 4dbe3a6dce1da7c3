"""Computed FPHA planes in the 0.18 format: fitted the way Cobre 0.18.0 fits them (fpha_fitting_018.py).

Every case is ``test_cobre_hydro_physics.to_018_computed`` (d07 in the 0.18
format) or a variant of it, and every constant below is the lower bound
measured by running Cobre 0.18.0 (``cobre.run.run(case, output_dir=...,
threads=1)``, cobre-python 0.18.0) on that case, with the
``system/hydro_energy_productivity.parquet`` row 0.18.0 requires of an FPHA
plant (hydro 0, every stage, equivalent productivity 1.0; it does not move the
bound). caudal must reach each of them with its deterministic equivalent and
with its training alike, and write the planes Cobre 0.18.0 wrote for the base
case; the 0.5.x d07 keeps Cobre 0.5.1's planes
(test_cobre_fpha_planes_vs_cobre.py).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, assert_reaches, edit
from test_cobre_hydro_physics import D07, D07_018_COST, HYDROS, MODELS, to_018_computed

from caudal.hydro import cobre
from caudal.hydro.cobre.fpha_output import fpha_hyperplanes_table

COBRE_018_PLANES = DATA / "cobre-0.18.0-fits" / D07 / "hydro_models" / "fpha_hyperplanes.parquet"


def fitting(**options):
    return MODELS, lambda d: d["production_models"][0]["stage_ranges"][0]["fpha_config"].update(options)


def plant(key: str, **values):
    return HYDROS, lambda d: d["hydros"][0][key].update(values)


# Cobre 0.18.0's lower bound for each variant (measured, module docstring).
VARIANTS = {
    "base": (None, D07_018_COST),
    "no losses": (plant("hydraulic_losses", value=0.0), 3_590_038.8624688215),
    "efficiency 1": (plant("efficiency", value=1.0), 3_467_758.365863866),
    "3 turbine points": (fitting(turbine_discretization_points=3), 3_633_546.1957414406),
    "9 volume points": (fitting(volume_discretization_points=9), 3_668_753.9209120483),
    "3 volume points": (fitting(volume_discretization_points=3), 3_691_555.7198378616),
    "plane limit 3": (fitting(max_planes_per_hydro=3), 3_657_537.6965947566),  # ignored by 0.18.0
}


@pytest.mark.parametrize("name", VARIANTS)
def test_d07_018_variants_reach_cobre_018s_costs(tmp_path: Path, name: str) -> None:
    change, expected = VARIANTS[name]
    case = to_018_computed(tmp_path)
    if change is not None:
        edit(case, *change)
    assert_reaches(cobre.load_case(case), expected)


def test_caudals_018_planes_are_cobre_018s(tmp_path: Path) -> None:
    cobre_planes = pq.read_table(COBRE_018_PLANES).to_pydict()
    ours = fpha_hyperplanes_table(cobre.load_case(to_018_computed(tmp_path)).case).to_pydict()
    assert sorted(set(ours["stage_id"])) == sorted(set(cobre_planes["stage_id"])) == [0, 1]
    for stage in (0, 1):
        theirs = [i for i, s in enumerate(cobre_planes["stage_id"]) if s == stage]
        mine = [i for i, s in enumerate(ours["stage_id"]) if s == stage]
        assert len(mine) == len(theirs) == 5
        assert [ours["plane_id"][i] for i in mine] == [cobre_planes["plane_id"][i] for i in theirs]
        for name in ("gamma_0", "gamma_v", "gamma_q", "gamma_s", "kappa"):
            assert [ours[name][i] for i in mine] == pytest.approx(
                [cobre_planes[name][i] for i in theirs], rel=1e-9, abs=1e-12), name


# A tailrace rising with the outflow, losses in metres and fitting windows: test_cobre_018_fpha_variants.py.
