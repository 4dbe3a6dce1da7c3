"""FPHA planes computed from a plant's geometry (``fpha_config.source: "computed"``).

The plant's production function is ``phi(v, q, s) = 9.81e-3 * efficiency * q *
h_net``, where the net head ``h_net = max(0, h_fore(v) - h_tail(q + s) -
losses)`` comes from the forebay height of the reservoir's curve
(``system/hydro_geometry.parquet``, interpolated and held at its ends), the
tailrace height (``tailrace``: a polynomial in the outflow, or piecewise-linear
points) and the hydraulic losses (``hydraulic_losses``: a ``factor`` of the
gross head, or a ``constant`` in metres). The planes of a 0.5.x case are fitted
the way Cobre 0.5.1 fits them, so that a case has the same planes, hence the same
cost (a 0.18 case is fitted as Cobre 0.18.0 does, fpha_fitting_018.py):

1. a grid of ``volume_discretization_points`` storages over the curve's range
   (or the ``fitting_window``), ``turbine_discretization_points`` flows from
   ``max(1, 1% of max_turbined)`` to ``max_turbined`` and
   ``spillage_discretization_points`` spillages from 0 to half of
   ``max_turbined`` (5 each by default);
2. the tangent plane of ``phi`` at every grid point with power;
3. only the planes that reach the envelope (their maximum) at some grid point,
   without duplicates;
4. while more than ``max_planes_per_hydro`` (10) remain, the plane whose
   removal keeps the envelope above ``phi`` at every grid point with the
   smallest largest gap is removed (the first such, in the current order; a
   removed plane's place goes to the last one);
5. ``kappa``, the smallest ratio of ``phi`` to the envelope over the grid,
   scales every intercept, so the planes never promise more than ``phi``.

The same planes serve every stage the plant's ranges give ``computed`` FPHA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caudal.hydro.cobre.case import FphaPlanes, Hydro
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.geometry import FILE as GEOMETRY
from caudal.hydro.cobre.geometry import Curve

GRAVITY_MW = 9.81 / 1000.0
"""MW per (m3/s . m) of head at efficiency 1 (g, water density 1000 kg/m3, in MW)."""
DEFAULT_POINTS = 5
DEFAULT_MAX_PLANES = 10
TOLERANCE = 1e-8


@dataclass(frozen=True)
class FittingOptions:
    """The ``fpha_config`` of a computed range (the plant's first such range counts)."""

    volume_points: int = DEFAULT_POINTS
    turbine_points: int = DEFAULT_POINTS
    spillage_points: int = DEFAULT_POINTS
    max_planes: int = DEFAULT_MAX_PLANES
    window: tuple[float | None, float | None, float | None, float | None] = (None, None, None, None)
    # (volume_min_hm3, volume_max_hm3, volume_min_percentile, volume_max_percentile)


@dataclass(frozen=True)
class PlantHead:
    """What the head of one plant depends on, from ``system/hydros.json``."""

    tailrace_polynomial: tuple[float, ...] | None  # coefficients, constant first
    tailrace_points: tuple[tuple[float, float], ...] | None  # (outflow m3/s, height m), increasing outflow
    loss_factor: float | None  # fraction of the gross head
    loss_metres: float | None
    efficiency: float


def read_fitting_options(config: Record) -> FittingOptions:
    """The options of a computed ``fpha_config`` (``config`` positioned on it); the caller finishes it."""
    counts = [config.integer(key, DEFAULT_POINTS, minimum=2) for key in (
        "volume_discretization_points", "turbine_discretization_points", "spillage_discretization_points")]
    max_planes = config.integer("max_planes_per_hydro", DEFAULT_MAX_PLANES, minimum=1)
    window = config.record("fitting_window", None)
    bounds: tuple[float | None, ...] = (None, None, None, None)
    if window is not None:
        bounds = tuple(window.number(key, None, minimum=0.0) for key in (
            "volume_min_hm3", "volume_max_hm3", "volume_min_percentile", "volume_max_percentile"))
        for absolute, percentile in (("volume_min_hm3", "volume_min_percentile"),
                                     ("volume_max_hm3", "volume_max_percentile")):
            if window.data.get(absolute) is not None and window.data.get(percentile) is not None:
                raise window.error(percentile, f"cannot be set together with {absolute}")
        window.finish()
    return FittingOptions(*counts, max_planes, bounds)  # type: ignore[arg-type]


def read_plant_head(record: Record) -> PlantHead | None:
    """The plant's tailrace, losses and efficiency (``None`` when it gives none of them).

    ``record`` is the plant's entry in hydros.json; the keys are marked read.
    """
    if not any(record.has(key) for key in ("tailrace", "hydraulic_losses", "efficiency")):
        record.ignore("tailrace", "hydraulic_losses", "efficiency")
        return None
    # Each model's values are read before its ``type``, so that a bad value is named even without a type.
    polynomial = points = None
    tailrace = record.record("tailrace", None)
    if tailrace is not None:
        if tailrace.has("coefficients"):
            values = tailrace.data["coefficients"]
            if not isinstance(values, list) or not values:
                raise tailrace.error("coefficients", "must list the polynomial's coefficients, constant first")
            numbers = Record(record.file, record.entity, dict(enumerate(values)), "tailrace.coefficients.")
            polynomial = tuple(numbers.number(i) for i in range(len(values)))
            tailrace.ignore("coefficients")
        if tailrace.has("points"):
            points = _tailrace_points(tailrace)
        kind = tailrace.string("type", choices=("polynomial", "piecewise"))
        if (polynomial if kind == "polynomial" else points) is None:
            raise tailrace.error("coefficients" if kind == "polynomial" else "points", "is required")
        polynomial, points = (polynomial, None) if kind == "polynomial" else (None, points)
        tailrace.finish()
    factor = metres = None
    losses = record.record("hydraulic_losses", None)
    if losses is not None:
        factor = losses.number("value", None, minimum=0.0)
        metres = losses.number("value_m", None, minimum=0.0)
        kind = losses.string("type", choices=("factor", "constant"))
        key = "value" if kind == "factor" else "value_m"
        if (factor if kind == "factor" else metres) is None:
            raise losses.error(key, "is required")
        factor, metres = (factor, None) if kind == "factor" else (None, metres)
        if factor is not None and factor >= 1.0:
            raise losses.error("value", f"must be below 1 (a fraction of the head), got {factor:g}")
        losses.finish()
    efficiency = 1.0
    model = record.record("efficiency", None)
    if model is not None:
        value = model.number("value", None, positive=True)
        if value is not None and value > 1.0:
            raise model.error("value", f"must be in (0, 1], got {value:g}")
        model.string("type", choices=("constant",))
        if value is None:
            raise model.error("value", "is required")
        efficiency = value
        model.finish()
    return PlantHead(polynomial, points, factor, metres, efficiency)


def _tailrace_points(tailrace: Record) -> tuple[tuple[float, float], ...]:
    points = []
    for i, item in enumerate(tailrace.records("points", lambda i, _: tailrace.entity)):
        item.prefix = f"tailrace.points[{i}]."
        # Both read before either is required, so that a bad value is named even where the other is missing.
        point = (item.number("outflow_m3s", None, minimum=0.0), item.number("height_m", None))
        for key, value in zip(("outflow_m3s", "height_m"), point, strict=True):
            if value is None:
                raise item.error(key, "is required")
        points.append(point)
        item.finish()
    if len(points) < 2 or any(b[0] <= a[0] for a, b in zip(points, points[1:], strict=False)):
        raise tailrace.error("points", "must list at least two points in increasing outflow_m3s")
    return tuple(points)


def fit_planes(hydro: Hydro, head: PlantHead | None, curve: Curve | None, options: FittingOptions,
               where: Record) -> FphaPlanes:
    """The planes of ``hydro`` (see the module's docstring); ``where`` names the range in errors."""
    if head is None or head.tailrace_polynomial is None and head.tailrace_points is None:
        raise where.error("fpha_config.source", "is 'computed' but the plant has no tailrace in system/hydros.json")
    if head.loss_factor is None and head.loss_metres is None:
        raise where.error("fpha_config.source", "is 'computed' but the plant has no hydraulic_losses")
    if curve is None or curve.volume.size < 2:
        raise where.error("fpha_config.source", f"is 'computed' but {GEOMETRY} has no curve (two points or more) "
                          "for the plant")
    if np.any(np.diff(curve.height) < 0):
        raise CaseError(GEOMETRY, f"hydro {hydro.id}", "height_m", "must not decrease as the volume grows")
    function = _ProductionFunction(curve, head)
    grid = _grid(hydro, curve, options, where)
    phi = function.value(*grid)
    planes = _tangent_planes(function, grid, phi)
    planes = _on_envelope(planes, grid)
    planes = _select(planes, grid, phi, options.max_planes)
    envelope = (_values(planes, grid)).max(axis=0)
    positive = (phi > 0) & (envelope > 0)
    kappa = float(np.min(phi[positive] / envelope[positive])) if positive.any() else 1.0
    if not planes.shape[0] or not 0 < kappa <= 1:
        raise where.error("fpha_config.source", f"the planes computed for hydro {hydro.id} are degenerate "
                          "(no head over the fitting grid?)")
    if np.any(planes[:, 1] < -1e-10) or np.any(planes[:, 2] < -1e-10) or np.any(planes[:, 3] > 1e-10):
        raise where.error("fpha_config.source", f"a plane computed for hydro {hydro.id} lowers generation with "
                          "storage or flow (check the curve and the tailrace)")
    return FphaPlanes(
        intercept=tuple(float(g) * kappa for g in planes[:, 0]),
        gamma_v=tuple(float(g) for g in planes[:, 1]),
        gamma_q=tuple(float(g) for g in planes[:, 2]),
        gamma_s=tuple(float(g) for g in planes[:, 3]),
    )


class _ProductionFunction:
    """``phi`` and its partial derivatives, vectorized over grid points."""

    def __init__(self, curve: Curve, head: PlantHead):
        self.volume, self.height = curve.volume, curve.height
        self.head = head
        self.scale = GRAVITY_MW * head.efficiency

    def _interval(self, x: np.ndarray, knots: np.ndarray) -> np.ndarray:
        clamped = np.clip(x, knots[0], knots[-1])
        return np.minimum(np.maximum(np.searchsorted(knots, clamped, side="right") - 1, 0), knots.size - 2)

    def forebay(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        i = self._interval(v, self.volume)
        clamped = np.clip(v, self.volume[0], self.volume[-1])
        width = self.volume[i + 1] - self.volume[i]
        rise = self.height[i + 1] - self.height[i]
        return self.height[i] + (clamped - self.volume[i]) / width * rise, rise / width

    def tailrace(self, outflow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        head = self.head
        if head.tailrace_polynomial is not None:
            c = head.tailrace_polynomial
            level = np.zeros_like(outflow)
            for coefficient in reversed(c):
                level = level * outflow + coefficient
            slope = np.zeros_like(outflow)
            for k in range(len(c) - 1, 0, -1):
                slope = slope * outflow + float(k) * c[k]
            return level, slope
        q = np.array([p[0] for p in head.tailrace_points])
        h = np.array([p[1] for p in head.tailrace_points])
        i = self._interval(outflow, q)
        clamped = np.clip(outflow, q[0], q[-1])
        width = q[i + 1] - q[i]
        return h[i] + (clamped - q[i]) / width * (h[i + 1] - h[i]), (h[i + 1] - h[i]) / width

    def _net_head(self, v: np.ndarray, q: np.ndarray, s: np.ndarray):
        fore, fore_slope = self.forebay(v)
        tail, tail_slope = self.tailrace(q + s)
        gross = fore - tail
        if self.head.loss_factor is not None:
            loss = self.head.loss_factor * gross
        else:
            loss = np.full_like(gross, self.head.loss_metres)
        return np.maximum(gross - loss, 0.0), fore, tail, fore_slope, tail_slope

    def value(self, v: np.ndarray, q: np.ndarray, s: np.ndarray) -> np.ndarray:
        return self.scale * q * self._net_head(v, q, s)[0]

    def gradient(self, v: np.ndarray, q: np.ndarray, s: np.ndarray):
        net, fore, tail, fore_slope, tail_slope = self._net_head(v, q, s)
        keep = 1.0
        if self.head.loss_factor is not None:
            keep = 1.0 - self.head.loss_factor
            net = np.maximum(keep * (fore - tail), 0.0)
        d_v = self.scale * q * keep * fore_slope
        d_q = self.scale * (net - q * keep * tail_slope)
        d_s = -self.scale * q * keep * tail_slope
        return d_v, d_q, d_s


def fitting_volume_range(hydro: Hydro, curve: Curve, options: FittingOptions) -> tuple[float, float]:
    """The storages the grid spans: the curve's range, or the ``fitting_window`` held inside it.

    A bound the window leaves out is the curve's; a percentile is one of the plant's storage range
    (``min_storage + percentile * (max_storage - min_storage)``). Cobre 0.5.1 and 0.18.0 alike (0.18.0's
    planes over a window are its planes over this range, tests/test_cobre_fpha_018.py).
    """
    low, high = float(curve.volume[0]), float(curve.volume[-1])
    absolute_min, absolute_max, percentile_min, percentile_max = options.window
    if any(bound is not None for bound in options.window):
        span = hydro.max_storage - hydro.min_storage
        v_min = absolute_min if absolute_min is not None else (
            hydro.min_storage + percentile_min * span if percentile_min is not None else low)
        v_max = absolute_max if absolute_max is not None else (
            hydro.min_storage + percentile_max * span if percentile_max is not None else high)
        low, high = min(max(v_min, low), high), min(max(v_max, low), high)
    return low, high


def _grid(hydro: Hydro, curve: Curve, options: FittingOptions, where: Record):
    """The fitting grid's (v, q, s), each float64[points], volume slowest and spillage fastest."""
    low, high = fitting_volume_range(hydro, curve, options)
    if low >= high:
        raise where.error("fpha_config.fitting_window", f"leaves no volume to fit over ({low:g} >= {high:g})")
    q_max = hydro.max_turbined
    q_min = max(q_max * 0.01, 1.0)
    v = [low + i * (high - low) / (options.volume_points - 1) for i in range(options.volume_points)]
    q = [q_min + j * (q_max - q_min) / (options.turbine_points - 1) for j in range(options.turbine_points)]
    s = [k * (q_max * 0.5) / (options.spillage_points - 1) for k in range(options.spillage_points)]
    vv, qq, ss = np.meshgrid(np.array(v), np.array(q), np.array(s), indexing="ij")
    return vv.ravel(), qq.ravel(), ss.ravel()


def _tangent_planes(function: _ProductionFunction, grid, phi: np.ndarray) -> np.ndarray:
    """float64[planes, 4] (gamma_0, _v, _q, _s): the tangent planes at the grid points with power."""
    v, q, s = grid
    d_v, d_q, d_s = function.gradient(v, q, s)
    keep = (q > 0) & (phi > 0)
    gamma_0 = phi - d_v * v - d_q * q - d_s * s
    return np.column_stack([gamma_0, d_v, d_q, d_s])[keep]


def _values(planes: np.ndarray, grid) -> np.ndarray:
    """float64[planes, points]: each plane at each grid point."""
    v, q, s = grid
    return (planes[:, :1] + planes[:, 1:2] * v[None, :] + planes[:, 2:3] * q[None, :]
            + planes[:, 3:4] * s[None, :])


def _on_envelope(planes: np.ndarray, grid) -> np.ndarray:
    """The planes that reach the envelope at some grid point, first of each duplicate kept."""
    if not planes.shape[0]:
        return planes
    values = _values(planes, grid)
    active = planes[np.any(values.max(axis=0)[None, :] - values <= TOLERANCE, axis=1)]
    close = np.all(np.abs(active[:, None, :] - active[None, :, :]) < TOLERANCE, axis=2)  # [P, P]
    kept: list[int] = []
    for i in range(active.shape[0]):  # a plane close to one already kept is a duplicate
        if not close[i, kept].any():
            kept.append(i)
    return active[kept]


def _select(planes: np.ndarray, grid, phi: np.ndarray, target: int) -> np.ndarray:
    """Greedy removal down to ``target`` planes while the envelope stays above ``phi`` (module docstring, 4)."""
    current = [row for row in planes]
    while len(current) > target:
        values = _values(np.array(current), grid)
        order = np.argsort(-values, axis=0, kind="stable")
        top = np.take_along_axis(values, order[:1], axis=0)[0]
        second = np.take_along_axis(values, order[1:2], axis=0)[0]
        without = np.where(order[0][None, :] == np.arange(len(current))[:, None], second[None, :], top[None, :])
        errors = without - phi[None, :]
        valid = errors.min(axis=1) >= -TOLERANCE
        if not valid.any():
            break
        largest = np.maximum(errors.max(axis=1), 0.0)
        best = int(np.flatnonzero(valid)[np.argmin(largest[valid])])
        current[best] = current[-1]
        current.pop()
    return np.array(current).reshape(-1, 4)
