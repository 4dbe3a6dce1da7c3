"""The upper convex hull behind Cobre 0.18.0's computed FPHA planes (fpha_fitting_018._upper_facets).

Qhull gives the hull's facets; these tests hold them to the definition, checked by brute force on small
grids: a facet is a plane through three grid points that no grid point rises above. Against Cobre 0.18.0
itself (grids up to 50 x 50): test_cobre_018_fpha_variants.py.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from caudal.hydro.cobre.fpha_fitting_018 import _distinct, _upper_facets


def brute_force(v: np.ndarray, q: np.ndarray, power: np.ndarray) -> np.ndarray:
    """Every plane through three grid points (not on one line) that no grid point is above, merged."""
    triples = np.array(list(itertools.combinations(range(v.size), 3)))
    systems = np.stack([np.ones(triples.shape), v[triples], q[triples]], axis=2)  # [triple, point, (1, v, q)]
    proper = np.abs(np.linalg.det(systems)) > 1e-9 * float(np.ptp(v) * np.ptp(q))
    planes = np.linalg.solve(systems[proper], power[triples[proper]][..., None])[..., 0]
    slack = 1e-9 * max(1.0, float(np.abs(power).max()))
    return _distinct(planes[(planes[:, :1] + planes[:, 1:2] * v + planes[:, 2:3] * q >= power - slack).all(axis=1)])


def grid(heights: list[float], flows: int, tailrace: tuple[float, float]) -> tuple[np.ndarray, ...]:
    """A plant's production ``q * (h(v) - tailrace(q))`` over storages 0, 50, ... and flows 0 to 100."""
    storages = 50.0 * np.arange(len(heights))
    v, q = (axis.ravel() for axis in np.meshgrid(storages, np.linspace(0.0, 100.0, flows), indexing="ij"))
    h = np.repeat(np.cumsum(heights), flows)
    return v, q, 0.0088 * q * (h - tailrace[0] - tailrace[1] * q * q)


def assert_same_planes(ours: np.ndarray, expected: np.ndarray) -> None:
    assert ours.shape == expected.shape
    scale = float(np.abs(expected).max())
    ours, expected = (planes[np.lexsort(np.round(planes / scale, 6).T[::-1])] for planes in (ours, expected))
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-9 * scale)


@given(rises=st.lists(st.integers(0, 30).map(float), min_size=2, max_size=6), flows=st.integers(2, 6),
       bend=st.sampled_from([0.0, 1e-4, 1e-3]))
def test_the_hull_is_the_planes_no_grid_point_rises_above(rises: list[float], flows: int, bend: float) -> None:
    """Heights concave or not (whole metres apart, so points are coplanar exactly or far from it), a tailrace
    constant or rising: Qhull's facets are the brute force's, down to the coplanar ones merged."""
    v, q, power = grid([300.0, *rises], flows, (250.0, bend))
    assert_same_planes(_distinct(_upper_facets(v, q, power)), brute_force(v, q, power))


@pytest.mark.parametrize("heights", [[300.0, 10.0, 10.0, 10.0], [300.0, 0.0, 0.0]])
def test_coplanar_points_make_one_facet(heights: list[float]) -> None:
    """Heights on one line (or flat) and a constant tailrace: every grid point lies on one of two planes
    (the production is bilinear: two triangles over the grid's corners)."""
    v, q, power = grid(heights, 5, (250.0, 0.0))
    planes = _distinct(_upper_facets(v, q, power))
    assert planes.shape[0] == (1 if heights[1] == 0.0 else 2)
    assert np.all(planes[:, :1] + planes[:, 1:2] * v + planes[:, 2:3] * q >= power - 1e-9 * power.max())


def test_a_grid_of_one_flow_has_no_facet() -> None:
    v, q, power = grid([300.0, 10.0], 2, (250.0, 0.0))
    assert _upper_facets(v, 0.0 * q, 0.0 * power).shape == (0, 3)
