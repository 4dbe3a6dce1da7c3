"""d07's computed FPHA planes as caudal writes them, against the files Cobre wrote for the same case.

``data/cobre/cobre-0.5.1-fits/d07-fpha-computed/hydro_models/fpha_hyperplanes.parquet``
is the file Cobre 0.5.1 wrote training d07 (``cobre.run.run(d07,
output_dir=..., threads=1, skip_simulation=True)``, cobre-python 0.5.1; lower
bound 3,519,535.457877054, the known cost), unchanged.
``data/cobre/cobre-0.18.0-fits/d07-fpha-computed/hydro_models/fpha_hyperplanes.parquet``
is the file Cobre 0.18.0 wrote (``cobre.run.run(case, output_dir=...,
threads=1)``, cobre-python 0.18.0) training d07 in the 0.18 format: the case
``test_cobre_hydro_physics.to_018_computed`` builds, with its geometry
rewritten with Zstandard and ``system/hydro_energy_productivity.parquet``
holding one row (hydro 0, every stage, equivalent productivity 1.0), which
0.18.0 requires of an FPHA plant and which does not move its cost (1.0, 2.5 or
only a specific productivity: the same bound); lower bound
3,657,537.6965947566 (measured; ``D07_018_COST``).

caudal fits the planes as Cobre 0.5.1 does: the same planes (to 1e-12), Cobre
writing them once with a null stage and the intercept apart from ``kappa``,
caudal per stage with ``kappa`` folded in. Cobre 0.18.0 fits other planes,
and ``test_cobre_018_planes_are_the_curves_segments_at_full_turbining``
pins down how; caudal fits a 0.18 case that way (fpha_fitting_018.py,
test_cobre_fpha_018.py), and given 0.18.0's planes as precomputed input
reaches the same cost.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, assert_reaches, edit
from test_cobre_hydro_physics import D07, D07_018_COST, GEOMETRY, HYDROS, MODELS, to_018_computed

from caudal.hydro import cobre
from caudal.hydro.cobre.fpha_fitting import GRAVITY_MW
from caudal.hydro.cobre.fpha_output import fpha_hyperplanes_table

COBRE_051_PLANES = DATA / "cobre-0.5.1-fits" / D07 / "hydro_models" / "fpha_hyperplanes.parquet"
COBRE_018_PLANES = DATA / "cobre-0.18.0-fits" / D07 / "hydro_models" / "fpha_hyperplanes.parquet"
COEFFICIENTS = ("gamma_v", "gamma_q", "gamma_s")


def columns(path_or_table) -> dict[str, list]:
    table = pq.read_table(path_or_table) if isinstance(path_or_table, Path) else path_or_table
    return table.to_pydict()


def test_caudals_planes_are_cobre_051s() -> None:
    cobre_planes = columns(COBRE_051_PLANES)
    assert set(cobre_planes["stage_id"]) == {None}  # Cobre: one set, valid for every stage
    ours = columns(fpha_hyperplanes_table(cobre.load_case(DATA / "deterministic" / D07).case))
    n = len(cobre_planes["plane_id"])
    assert n == 3 and len(ours["plane_id"]) == 2 * n  # caudal: the same set written for each of the 2 stages
    for stage in (0, 1):
        rows = [i for i, s in enumerate(ours["stage_id"]) if s == stage]
        assert [ours["plane_id"][i] for i in rows] == cobre_planes["plane_id"]
        for name in COEFFICIENTS:
            assert [ours[name][i] for i in rows] == pytest.approx(cobre_planes[name], rel=1e-12, abs=1e-15)
        folded = [g * k for g, k in zip(cobre_planes["gamma_0"], cobre_planes["kappa"], strict=True)]
        assert [ours["gamma_0"][i] for i in rows] == pytest.approx(folded, rel=1e-12, abs=1e-15)
        assert {ours["kappa"][i] for i in rows} == {1.0}


def test_cobre_018_planes_are_the_curves_segments_at_full_turbining() -> None:
    """0.18.0's planes, one per interval of the storage grid (d07's 5 default points are its curve's points)
    and one past its end, each
    ``g = kappa * k * ((a - tailrace) * q + slope * max_turbined * v)`` with ``k = 9.81e-3 * efficiency * (1 -
    losses)`` and ``a + slope * v`` the segment's line: through the origin (no intercept, no spillage term),
    equal to the production function at full turbining on its segment, every coefficient scaled by one
    ``kappa`` (Cobre writes 1 in the kappa column): the least-squares scale of the envelope onto the production
    function over the grid of 5 storages (0 to 200 hm3) and 5 flows (0 to max_turbined). Cobre 0.5.1 (and
    caudal) take tangent planes over a grid of storage, flow and spillage, keep those on the envelope and scale
    only the intercept, by the smallest ratio of the production function to the envelope."""
    planes = columns(COBRE_018_PLANES)
    assert set(planes["stage_id"]) == {0, 1} and set(planes["kappa"]) == {1.0}
    hydro = json.loads((DATA / "deterministic" / D07 / HYDROS).read_text())["hydros"][0]
    k = GRAVITY_MW * hydro["efficiency"]["value"] * (1 - hydro["hydraulic_losses"]["value"])
    tailrace = hydro["tailrace"]["coefficients"][0]
    max_turbined = hydro["generation"]["max_turbined_m3s"]
    curve = columns(DATA / "deterministic" / D07 / GEOMETRY)
    volume, height = np.array(curve["volume_hm3"]), np.array(curve["height_m"])
    slopes = np.append(np.diff(height) / np.diff(volume), 0.0)
    at_zero = height - slopes * volume  # each segment's line at zero storage (the last: the flat continuation)
    expected_q = k * (at_zero - tailrace)
    expected_v = k * slopes * max_turbined
    grid_v, grid_q = np.meshgrid(np.linspace(volume[0], volume[-1], 5), np.linspace(0.0, max_turbined, 5))
    production = k * grid_q * (np.interp(grid_v, volume, height) - tailrace)
    envelope = np.min(expected_q[:, None, None] * grid_q + expected_v[:, None, None] * grid_v, axis=0)
    least_squares = float((production * envelope).sum() / (envelope * envelope).sum())
    for stage in (0, 1):
        rows = [i for i, s in enumerate(planes["stage_id"]) if s == stage]
        gamma_q = np.array([planes["gamma_q"][i] for i in rows])
        gamma_v = np.array([planes["gamma_v"][i] for i in rows])
        kappa = gamma_q[0] / expected_q[0]
        assert kappa == pytest.approx(least_squares, rel=1e-12)  # 0.9705442
        np.testing.assert_allclose(gamma_q, kappa * expected_q, rtol=1e-12)
        np.testing.assert_allclose(gamma_v, kappa * expected_v, rtol=1e-12, atol=1e-15)
        assert max(abs(planes["gamma_0"][i]) for i in rows) < 1e-13
        assert all(planes["gamma_s"][i] == 0.0 for i in rows)
    assert len(rows) != len(columns(COBRE_051_PLANES)["plane_id"])  # 5 planes, where 0.5.1 keeps 3


def test_cobre_018s_planes_give_cobre_018s_cost(tmp_path: Path) -> None:
    """The 0.18 d07 reaches Cobre 0.18.0's cost with the planes caudal computes (fpha_fitting_018.py) and with
    0.18.0's planes as precomputed input alike: the two engines' LPs agree."""
    computed = to_018_computed(tmp_path / "computed")
    assert_reaches(cobre.load_case(computed), D07_018_COST)
    precomputed = tmp_path / "precomputed"
    shutil.copytree(computed, precomputed)
    shutil.copy(COBRE_018_PLANES, precomputed / "system" / "fpha_hyperplanes.parquet")
    edit(precomputed, MODELS, lambda d: d["production_models"][0]["stage_ranges"][0].update(
        fpha_config={"source": "precomputed"}))
    assert_reaches(cobre.load_case(precomputed), D07_018_COST)
