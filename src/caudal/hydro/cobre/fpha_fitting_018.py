"""FPHA planes computed from a plant's geometry the way Cobre 0.18.0 computes them (0.18 cases).

Cobre 0.18.0 fits other planes than 0.5.1 (fpha_fitting.py), so a 0.18 case
with ``fpha_config.source: "computed"`` gets these, and its cost is 0.18.0's.
The rule was read off the planes Cobre 0.18.0 writes and the costs it reaches
(``tests/test_cobre_fpha_018.py``), not from its source:

1. the storage grid: ``volume_discretization_points`` storages spread evenly
   over the reservoir curve's range, and the forebay height ``h`` at each
   (the curve interpolated);
2. one plane per interval of that grid and one past its end, each through
   the origin and without a spillage term, equal to the production function at
   full turbining along its interval:
   ``g = k * ((a - tailrace) * q + slope * max_turbined * v)``, with
   ``k = 9.81e-3 * efficiency * (1 - losses)`` and ``a + slope * v`` the chord
   of ``h`` over the interval (the last plane: flat at the last height);
3. one ``kappa`` scales every coefficient: the least-squares scale of the
   planes' envelope (their minimum) onto the production function
   ``k * q * (h(v) - tailrace)`` over the storage grid and
   ``turbine_discretization_points`` flows from 0 to ``max_turbined``.

``max_planes_per_hydro`` and the spillage points do not change 0.18.0's planes
and are ignored, as there. What was not measured is refused by name rather than
fitted differently from Cobre: a tailrace that moves with the outflow (0.18.0
then writes planes with intercepts and spillage terms, by a rule not yet
understood), losses in metres, and a ``fitting_window``.
"""

from __future__ import annotations

import numpy as np

from caudal.hydro.cobre.case import FphaPlanes, Hydro
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.fpha_fitting import GRAVITY_MW, FittingOptions, PlantHead
from caudal.hydro.cobre.geometry import FILE as GEOMETRY
from caudal.hydro.cobre.geometry import Curve
from caudal.hydro.cobre.system import HYDROS

_NOT_UNDERSTOOD = "with computed FPHA in the 0.18 format (Cobre 0.18.0's planes for it are not reproduced yet)"


def fit_planes_018(hydro: Hydro, head: PlantHead | None, curve: Curve | None, options: FittingOptions,
                   where: Record) -> FphaPlanes:
    """The planes of ``hydro`` (see the module's docstring); ``where`` names the range in errors."""
    tailrace = _constant_tailrace(hydro, head, where)
    assert head is not None  # _constant_tailrace refused a plant without one
    if head.loss_metres is not None:
        raise CaseError(HYDROS, f"hydro {hydro.id}", "hydraulic_losses.type",
                        f"'constant' (losses in metres) is not supported {_NOT_UNDERSTOOD}")
    if head.loss_factor is None:
        raise where.error("fpha_config.source", "is 'computed' but the plant has no hydraulic_losses")
    if any(bound is not None for bound in options.window):
        raise where.refuse("fpha_config.fitting_window", f"a fitting window {_NOT_UNDERSTOOD}")
    if curve is None or curve.volume.size < 2:
        raise where.error("fpha_config.source", f"is 'computed' but {GEOMETRY} has no curve (two points or more) "
                          "for the plant")
    if np.any(np.diff(curve.height) < 0):
        raise CaseError(GEOMETRY, f"hydro {hydro.id}", "height_m", "must not decrease as the volume grows")
    k = GRAVITY_MW * head.efficiency * (1.0 - head.loss_factor)
    storages = np.linspace(curve.volume[0], curve.volume[-1], options.volume_points)
    heights = np.interp(storages, curve.volume, curve.height)
    slopes = np.append(np.diff(heights) / np.diff(storages), 0.0)
    at_zero = heights - slopes * storages  # each chord's height at zero storage
    gamma_q = k * (at_zero - tailrace)
    gamma_v = k * slopes * hydro.max_turbined
    kappa = _least_squares_scale(gamma_q, gamma_v, storages, heights, tailrace, k, hydro.max_turbined,
                                 options.turbine_points)
    if not np.all(gamma_q > 0) or not kappa > 0:
        raise where.error("fpha_config.source", f"the planes computed for hydro {hydro.id} are degenerate "
                          "(no head above the tailrace over the curve?)")
    zeros = tuple(0.0 for _ in storages)
    return FphaPlanes(intercept=zeros, gamma_v=tuple(float(g) for g in kappa * gamma_v),
                      gamma_q=tuple(float(g) for g in kappa * gamma_q), gamma_s=zeros)


def _constant_tailrace(hydro: Hydro, head: PlantHead | None, where: Record) -> float:
    """The plant's tailrace height, refused where it moves with the outflow (module docstring)."""
    if head is None or head.tailrace_polynomial is None and head.tailrace_points is None:
        raise where.error("fpha_config.source", "is 'computed' but the plant has no tailrace in system/hydros.json")
    if head.tailrace_polynomial is not None:
        constant, *rest = head.tailrace_polynomial
        if not any(rest):
            return float(constant)
        field = "tailrace.coefficients"
    else:
        heights = {height for _, height in head.tailrace_points or ()}
        if len(heights) == 1:
            return float(heights.pop())
        field = "tailrace.points"
    raise CaseError(HYDROS, f"hydro {hydro.id}", field,
                    f"a tailrace that moves with the outflow is not supported {_NOT_UNDERSTOOD}")


def _least_squares_scale(gamma_q: np.ndarray, gamma_v: np.ndarray, storages: np.ndarray, heights: np.ndarray,
                         tailrace: float, k: float, max_turbined: float, flow_points: int) -> float:
    """The ``kappa`` minimizing the squared gap between ``kappa`` * envelope and production over the grid."""
    flows = np.linspace(0.0, max_turbined, flow_points)
    production = k * flows[None, :] * (heights[:, None] - tailrace)  # [storage, flow]
    envelope = np.min(gamma_q[:, None, None] * flows[None, None, :] + gamma_v[:, None, None] * storages[None, :, None],
                      axis=0)
    weight = float((envelope * envelope).sum())
    return float((production * envelope).sum() / weight) if weight > 0 else 0.0
