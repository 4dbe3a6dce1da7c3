"""FPHA planes computed from a plant's geometry the way Cobre 0.18.0 computes them (0.18 cases).

Cobre 0.18.0 fits other planes than 0.5.1 (fpha_fitting.py), so a 0.18 case
with ``fpha_config.source: "computed"`` gets these, and its cost is 0.18.0's.
The rule was read off the planes Cobre 0.18.0 writes and the costs it reaches
on variants of d07 (``tests/test_cobre_fpha_018.py`` and
``tests/test_cobre_018_fpha_variants.py``), checked against what its public
source says of the fitting range and the losses:

1. the grid: ``volume_discretization_points`` storages spread evenly over the
   reservoir curve's range, or over the ``fitting_window`` held inside it
   (``fpha_fitting.fitting_volume_range``), and ``turbine_discretization_points``
   flows from 0 to ``max_turbined``; at each grid point the production
   ``phi(v, q) = k * q * (h(v) - tailrace(q) - loss)`` without spillage, where
   ``h`` is the curve's height (interpolated), ``k = 9.81e-3 * efficiency *
   (1 - losses factor)`` and ``loss`` the losses in metres (0 for a factor);
2. the planes are the facets of the upper convex hull of those points (a
   plane per facet, coplanar facets merged), ordered by their storage
   coefficient, largest first. With a constant tailrace and a curve whose
   sampled heights are concave, those facets are known in closed form: one
   per storage interval, through the grid's corner of least storage and no
   flow, exact along the interval's chord at full turbining, and one flat
   past the last storage (``_fan``);
3. one ``kappa`` scales the planes: the least-squares scale of their envelope
   (minimum) onto ``phi`` over the grid;
4. the spillage term: zero for a tailrace that stays put over the outflows
   the fit evaluates (0 to 3 x ``max_turbined``); else, for each plane, the
   least-squares slope (with an intercept) of ``phi`` in the spillage at the
   largest flow among the grid points the plane touches, ``q*``, over
   ``SPILLAGE_SAMPLES`` (9) spillages evenly from 0 to twice ``max_turbined``
   (not scaled by ``kappa``). For a tailrace linear or quadratic in the
   outflow that slope is the secant ``-k * q* * (tailrace(q* + S) -
   tailrace(q*)) / S``, ``S = 2 * max_turbined``; a piecewise tailrace (held
   at its ends, as Cobre does) shows the 9 samples.

A window that leaves a single storage ``v0`` is Cobre's run-of-river fit: the
grid's storages are ``v0 -/+ max(0.5% of the plant's storage range, 1 hm3)``
(held inside the curve) and ``kappa`` is 1.

``max_planes_per_hydro`` and the spillage points do not change 0.18.0's
planes and are ignored, as there.

Where the closed form does not apply (a rising tailrace, a curve that is not
concave), the hull is Qhull's (``scipy.spatial.ConvexHull``, imported only
then), about ``n log n`` in the grid's ``n`` points: a 50 x 50 grid is fitted
in about 10 ms. Qhull rather than an algorithm of caudal's own because the
hull of a grid is degenerate by nature (whole rows of points coplanar, the
row of no flow on one line), which Qhull's merging of coplanar facets under
a known roundoff handles and a hand-written incremental hull would have to
get right anew; caudal keeps only the exact part, solving each facet's plane
through three of its grid points. Trying every triangle of grid points, as
caudal once did, is cubic and was refused above 100 points. On grids up to
50 x 50, Cobre 0.18.0's planes are this true hull's to about 1e-14 (no merging
tolerance of its own shows: ``tests/test_cobre_018_fpha_variants.py``, the
``grid-*`` variants), and a brute force over every triangle agrees on small
grids (``tests/test_fpha_hull_018.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from caudal.hydro.cobre.case import FphaPlanes, Hydro
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.fpha_fitting import GRAVITY_MW, FittingOptions, PlantHead, fitting_volume_range
from caudal.hydro.cobre.geometry import FILE as GEOMETRY
from caudal.hydro.cobre.geometry import Curve

SPILLAGE_SPAN = 2.0
"""The spillages a plane's spillage term is fitted over reach this many ``max_turbined`` (measured)."""
SPILLAGE_SAMPLES = 9
"""How many spillages, from 0 to that span, the least-squares spillage term is fitted over (measured: 9 whatever
the grid's and ``spillage_discretization_points``)."""
SINGLE_VOLUME = 1e-9  # hm3: a narrower fitting range is Cobre 0.18.0's run-of-river fit
RUN_OF_RIVER_SHARE = 0.005  # of the plant's storage range: half the run-of-river fit's storage range ...
RUN_OF_RIVER_HM3 = 1.0  # ... or this, whichever is larger
_BLOCK = 4_000_000  # planes x grid points evaluated at once
_COPLANAR = 1e-9  # relative: planes this close are one facet; grid points this close to a plane touch it


@dataclass(frozen=True)
class _Production:
    """``phi(v, q, s) = scale * q * (height - tailrace(q + s) - loss)``, the plant's production."""

    scale: float  # MW per (m3/s . m): 9.81e-3 * efficiency * (1 - losses factor)
    loss: float  # m: losses in metres (0 for a factor)
    polynomial: np.ndarray | None  # the tailrace's coefficients in the outflow, constant first; or
    points: tuple[np.ndarray, np.ndarray] | None  # its (outflows, heights), held at its ends
    rising: bool  # whether the tailrace moves over the outflows the fit evaluates

    def tailrace_at(self, outflow: np.ndarray | float) -> np.ndarray:
        if self.polynomial is not None:
            return np.polynomial.polynomial.polyval(outflow, self.polynomial)
        assert self.points is not None
        return np.interp(outflow, *self.points)

    def power(self, height: np.ndarray, flow: np.ndarray) -> np.ndarray:
        return self.scale * flow * (height - self.tailrace_at(flow) - self.loss)


def fit_planes_018(hydro: Hydro, head: PlantHead | None, curve: Curve | None, options: FittingOptions,
                   where: Record) -> FphaPlanes:
    """The planes of ``hydro`` (see the module's docstring); ``where`` names the range in errors."""
    production = _production(hydro, head, where)
    if curve is None or curve.volume.size < 2:
        raise where.error("fpha_config.source", f"is 'computed' but {GEOMETRY} has no curve (two points or more) "
                          "for the plant")
    if np.any(np.diff(curve.height) < 0):
        raise CaseError(GEOMETRY, f"hydro {hydro.id}", "height_m", "must not decrease as the volume grows")
    low, high = fitting_volume_range(hydro, curve, options)
    if high < low:
        raise where.error("fpha_config.fitting_window", f"leaves no volume to fit over ({low:g} > {high:g})")
    single = high - low <= SINGLE_VOLUME
    if single:  # run of river: two storages around the one the window leaves, and no kappa
        width = max(RUN_OF_RIVER_SHARE * (hydro.max_storage - hydro.min_storage), RUN_OF_RIVER_HM3)
        storages = np.array([max(low - width, float(curve.volume[0])), min(low + width, float(curve.volume[-1]))])
    else:
        storages = np.linspace(low, high, options.volume_points)
    heights = np.interp(storages, curve.volume, curve.height)
    flows = np.linspace(0.0, hydro.max_turbined, options.turbine_points)
    v, q = (axis.ravel() for axis in np.meshgrid(storages, flows, indexing="ij"))
    power = production.power(np.repeat(heights, flows.size), q)
    slopes = np.diff(heights) / np.diff(storages)
    if not production.rising and np.all(np.diff(slopes) <= _COPLANAR * max(1.0, float(np.abs(slopes).max()))):
        planes = _fan(storages, heights, production, hydro.max_turbined)
    else:
        planes = _upper_facets(v, q, power)
    planes = _distinct(planes)
    if not planes.shape[0]:
        raise where.error("fpha_config.source", f"the grid of hydro {hydro.id} spans no plane (no turbined flow?)")
    storage_slope = np.round(planes[:, 1] / max(1e-12, float(np.abs(planes[:, 1]).max())), 9)  # ties: equal
    planes = planes[np.lexsort((planes[:, 2], -storage_slope))]  # Cobre 0.18.0's order
    envelope, anchor = _envelope(planes, v, q, power)
    weight = float(envelope @ envelope)
    kappa = 1.0 if single else float(power @ envelope) / weight if weight > 0 else 0.0
    if not kappa > 0 or not np.all(planes[:, 2] > 0):
        raise where.error("fpha_config.source", f"the planes computed for hydro {hydro.id} are degenerate "
                          "(no head above the tailrace over the grid?)")
    gamma_s = np.zeros(planes.shape[0])
    if production.rising:
        gamma_s = _spillage_slopes(production, anchor, SPILLAGE_SPAN * hydro.max_turbined)
    return FphaPlanes(intercept=_floats(kappa * planes[:, 0]), gamma_v=_floats(kappa * planes[:, 1]),
                      gamma_q=_floats(kappa * planes[:, 2]), gamma_s=_floats(gamma_s))


def _production(hydro: Hydro, head: PlantHead | None, where: Record) -> _Production:
    """The plant's production function, refused where its tailrace is one 0.18.0's planes were not matched for."""
    if head is None or head.tailrace_polynomial is None and head.tailrace_points is None:
        raise where.error("fpha_config.source", "is 'computed' but the plant has no tailrace in system/hydros.json")
    if head.loss_factor is None and head.loss_metres is None:
        raise where.error("fpha_config.source", "is 'computed' but the plant has no hydraulic_losses")
    polynomial = points = None
    if head.tailrace_polynomial is not None:
        polynomial = np.array(head.tailrace_polynomial, dtype=float)
    else:
        pairs = np.array(head.tailrace_points or (), dtype=float).reshape(-1, 2)
        points = (pairs[:, 0], pairs[:, 1])
    factor = head.loss_factor or 0.0
    production = _Production(GRAVITY_MW * head.efficiency * (1.0 - factor), head.loss_metres or 0.0, polynomial,
                             points, rising=False)
    evaluated = production.tailrace_at(np.linspace(0.0, (1.0 + SPILLAGE_SPAN) * hydro.max_turbined, 257))
    rising = bool(np.ptp(evaluated) > 0.0) if points is not None else bool(np.any(polynomial[1:] != 0.0))
    return replace(production, rising=rising)


def _spillage_slopes(production: _Production, flows: np.ndarray, span: float) -> np.ndarray:
    """Each plane's spillage term: the least-squares slope (with an intercept) of ``phi`` at its flow in the
    spillage, over ``SPILLAGE_SAMPLES`` spillages from 0 to ``span``."""
    spills = np.linspace(0.0, span, SPILLAGE_SAMPLES)
    tailrace = production.tailrace_at(flows[:, None] + spills[None, :])  # [plane, spillage]
    centred = spills - spills.mean()
    return -production.scale * flows * (tailrace @ centred) / float(centred @ centred)


def _fan(storages: np.ndarray, heights: np.ndarray, production: _Production, max_turbined: float) -> np.ndarray:
    """float64[planes, 3] (gamma_0, _v, _q): the hull's facets for a constant tailrace and concave heights.

    Each storage interval's facet passes through the grid's corner (least storage, no flow) and along the
    interval's chord at full turbining; past the last storage the facet is flat in the storage.
    """
    slopes = np.append(np.diff(heights) / np.diff(storages), 0.0)
    chord_at_low = heights - slopes * (storages - storages[0])  # each chord's height at the least storage
    gamma_v = production.scale * slopes * max_turbined
    gamma_q = production.scale * (chord_at_low - float(production.tailrace_at(0.0)) - production.loss)
    return np.column_stack([-gamma_v * storages[0], gamma_v, gamma_q])


def _envelope(planes: np.ndarray, v: np.ndarray, q: np.ndarray, power: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The planes' minimum at each grid point, and each plane's largest flow among the grid points it touches.

    Planes x grid points can be large (a 200 x 200 grid has some 2000 facets): they are evaluated a block of
    planes at a time.
    """
    slack = _COPLANAR * max(1.0, float(np.abs(power).max()))
    envelope = np.full(v.size, np.inf)
    anchor = np.empty(planes.shape[0])
    step = max(1, _BLOCK // v.size)
    for start in range(0, planes.shape[0], step):
        block = planes[start:start + step]
        values = block[:, :1] + block[:, 1:2] * v + block[:, 2:3] * q  # [plane, grid point]
        envelope = np.minimum(envelope, values.min(axis=0))
        anchor[start:start + step] = np.where(np.abs(values - power) <= slack, q, -np.inf).max(axis=1)
    return envelope, anchor


def _upper_facets(v: np.ndarray, q: np.ndarray, power: np.ndarray) -> np.ndarray:
    """float64[planes, 3] (gamma_0, _v, _q): the planes of the facets of the grid points' upper convex hull.

    Qhull hulls the grid points and four points below the grid's corners (they keep the hull solid when the
    grid's points are coplanar, and lie on no upper facet: each is below a grid point); a facet is upper when
    its normal points up. Qhull merges coplanar facets and gives each merged facet as triangles sharing one
    equation: each facet's plane is solved through the three grid points of its largest triangle, so it is
    as exact as those points (Qhull's equation, a normalised normal, would lose digits dividing by its
    vertical part).
    """
    from scipy.spatial import ConvexHull, QhullError  # only this fit needs scipy

    depth = max(1.0, float(np.ptp(power)))
    corners = [(v.min(), q.min()), (v.min(), q.max()), (v.max(), q.min()), (v.max(), q.max())]
    below = np.array([(cv, cq, float(power.min()) - depth) for cv, cq in corners])
    try:
        hull = ConvexHull(np.vstack([np.column_stack([v, q, power]), below]))
    except QhullError:  # the grid's storages or flows are all one: no facet
        return np.empty((0, 3))
    equations = hull.equations
    upper = (equations[:, 2] > _COPLANAR * np.linalg.norm(equations[:, :3], axis=1)) & (
        hull.simplices < v.size).all(axis=1)
    triangles, equations = hull.simplices[upper], equations[upper]
    systems = np.stack([np.ones(triangles.shape), v[triangles], q[triangles]], axis=2)  # [triangle, point, (1, v, q)]
    area = np.abs(np.linalg.det(systems))
    proper = area > _COPLANAR * (float(np.ptp(v) * np.ptp(q)) or 1.0)  # three points not on one line
    triangles, systems, area, equations = triangles[proper], systems[proper], area[proper], equations[proper]
    facet = np.unique(equations, axis=0, return_inverse=True)[1].ravel()  # the triangles of one facet: one id
    largest = np.lexsort((-area, facet))  # by facet, the largest triangle first
    first = largest[np.r_[True, np.diff(facet[largest]) != 0]]
    return np.linalg.solve(systems[first], power[triangles[first]][..., None])[..., 0]


def _distinct(planes: np.ndarray) -> np.ndarray:
    """``planes`` less those within ``_COPLANAR`` of one kept before (in sorted order): facets Qhull leaves
    apart but as good as coplanar, and the fan's repeats, are one plane."""
    planes = np.unique(planes, axis=0)
    if not planes.shape[0]:
        return planes
    scale = _COPLANAR * max(1.0, float(np.abs(planes).max()))
    kept = np.empty_like(planes)
    count = 0
    for plane in planes:
        if not np.any(np.all(np.abs(kept[:count] - plane) <= scale, axis=1)):
            kept[count] = plane
            count += 1
    return kept[:count]


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(value) for value in values)
