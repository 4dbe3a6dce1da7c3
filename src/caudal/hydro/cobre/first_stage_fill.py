"""Refuse, before training, a plant that starts below its minimum storage and cannot fill up to it.

The minimum storage is a hard bound on every end-of-stage storage (as in
Cobre), so a 0.5.x case whose plant starts below it must fill it during the
first stage; when it cannot, the first stage LP is infeasible in every opening
and training would stop on HiGHS's status (Cobre 0.5.1 stops too: "infeasible
subproblem at stage 0"). Whether it can is decided here from the data alone,
conservatively: the plant is refused only when even the most water it could
possibly hold at the end of the first stage falls short of the minimum. That
most is its initial storage, plus its largest opening's inflow over the stage,
plus everything its upstream plants could release (their own most, less their
own minimum); every release, withdrawal and violation of the plant has a
lower bound of zero or a slack, so no outflow is forced. A plant whose water
cannot be bounded this way (the ``penalty`` non-negativity method buys water
without limit, evaporation may add some, a plant out of service passes water
on) is never refused, nor is any plant downstream of it. When such a case's
first stage turns out infeasible, :func:`below_minimum_note` names the plants
that start below their minimum, for the error message.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from caudal.hydro.cobre.case import Case, Hydro
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.formats import read_case
from caudal.hydro.cobre.formulation import HM3_PER_M3S_HOUR, TRUNCATING
from caudal.hydro.cobre.hydro_limits import IN_SERVICE
from caudal.hydro.cobre.inflows import InflowModel
from caudal.hydro.cobre.scenarios import INITIAL
from caudal.hydro.cobre.system import HYDROS

_TOLERANCE = 1e-6
"""Relative margin (to the minimum, at least 1 hm3) by which the most water must fall short: the LP's own
tolerances could accept a plant that reaches its minimum only to rounding."""


def check_first_stage_can_fill(case: Case, inflows: InflowModel, noise: list[np.ndarray]) -> None:
    """Raise :class:`CaseError` (naming initial_conditions.json, the plant and its storage) if a plant
    certainly cannot reach its minimum storage by the end of the first stage."""
    if not case.stages or not case.hydros or not noise[0].shape[0] or case.settings.inflow_method == "penalty":
        return
    spec = case.stages[0]
    stage_volume = HM3_PER_M3S_HOUR * sum(block.hours for block in spec.blocks)
    index = {hydro.id: h for h, hydro in enumerate(case.hydros)}
    upstream_of: dict[int, list[Hydro]] = {}
    for hydro in case.hydros:
        if hydro.downstream is not None:
            upstream_of.setdefault(hydro.downstream, []).append(hydro)
    most: dict[int, float] = {}  # hydro id -> the most water it can hold at the end of the stage (hm3)

    def most_water(hydro: Hydro) -> float:
        if hydro.id in most:
            return most[hydro.id]
        h = index[hydro.id]
        bounded = (case.evaporation.get((hydro.id, spec.id)) is None
                   and case.bound(IN_SERVICE, hydro.id, spec.id, None, 1.0) > 0.0)
        water = (case.initial_storage[hydro.id] + stage_volume * _largest_inflow(case, inflows, noise[0], h)
                 if bounded else math.inf)
        for upstream in upstream_of.get(hydro.id, ()):
            water += max(most_water(upstream) - _minimum(case, upstream), 0.0)
        most[hydro.id] = water
        return water

    for hydro in case.hydros:
        minimum, initial = _minimum(case, hydro), case.initial_storage[hydro.id]
        if initial < minimum and most_water(hydro) < minimum - _TOLERANCE * max(1.0, abs(minimum)):
            source = (f"{HYDROS} reservoir.min_storage_hm3" if minimum == hydro.min_storage
                      else f"constraints/hydro_bounds.parquet min_storage_hm3, stage {spec.id}")
            raise CaseError(
                INITIAL, f"hydro {hydro.id}", "storage.value_hm3",
                f"starts at {initial:g} hm3, below its minimum storage of {minimum:g} hm3 ({source}), which is "
                f"hard, and cannot fill up to it in the first stage: its largest inflow and all upstream water "
                f"bring it to at most {most_water(hydro):g} hm3, so the first stage LP is infeasible",
            )


def _minimum(case: Case, hydro: Hydro) -> float:
    """The plant's minimum end-of-stage storage in the first stage (hydro_bounds may change it)."""
    return case.bound("hydro.min_storage_hm3", hydro.id, case.stages[0].id, None, hydro.min_storage)


def _largest_inflow(case: Case, inflows: InflowModel, noise: np.ndarray, h: int) -> float:
    """The largest incremental inflow (m3/s) of plant ``h`` over the first stage's openings, as the LP sees it."""
    n = int(inflows.n_lags[h])
    largest = float(np.max(inflows.base[0, h] + inflows.sigma[0, h] * noise[:, h], initial=-math.inf))
    if case.settings.inflow_method in TRUNCATING and n == 0:
        largest = max(largest, 0.0)  # the formulation clamps the opening's inflow (with lags it never needs to)
    return largest + float(inflows.psi[0, h, :n] @ np.asarray(inflows.initial_lags[h][:n], dtype=float))


def below_minimum_note(path: str | Path) -> str | None:
    """What to add to a first-stage solve failure of the case at ``path``: the plants that start below their
    minimum storage (which the stage must fill, and may not be able to), or None when none does."""
    with warnings.catch_warnings():  # read a second time: its warnings were shown when it was loaded
        warnings.simplefilter("ignore")
        case = read_case(path)
    if not case.stages:
        return None
    below = [f"hydro {hydro.id} starts at {case.initial_storage[hydro.id]:g} hm3, below its minimum storage of "
             f"{_minimum(case, hydro):g} hm3"
             for hydro in case.hydros if case.initial_storage[hydro.id] < _minimum(case, hydro)]
    if not below:
        return None
    return (f"{'; '.join(below)} ({INITIAL} storage.value_hm3, {HYDROS} reservoir.min_storage_hm3): the minimum is "
            "hard and the first stage may not be able to fill up to it")
