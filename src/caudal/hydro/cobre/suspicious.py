"""What a Cobre case may say but a planner would hardly mean: named warnings, not errors.

The readers refuse what the format forbids (:class:`~caudal.hydro.cobre.errors.CaseError`).
Some values are valid and still almost surely a slip: the case trains, and
its policy is right for the case as written, but not for the system the
planner had in mind, with nothing in the results to say so. Each check here
finds one such pattern, on the validated :class:`~caudal.hydro.cobre.case.Case`
(the same for formats 0.5.x and 0.18, whose fields these are named alike),
and names the file, the entity, the field and why it is suspicious:

* ``thermal_without_capacity``: a thermal plant whose ``generation.max_mw``
  is 0 can never generate (a retired plant is left out of the case instead);
* ``thermal_above_deficit``: a thermal plant whose ``cost_per_mwh`` is above
  the deficit cost of every bus is never dispatched beyond its minimum,
  since shedding load is cheaper everywhere (deficit costs are meant to be
  the highest costs of a case);
* ``deficit_not_increasing``: a deficit segment cheaper than the one before
  it is used first, so the deficit cost is not the rising staircase the
  segments describe;
* ``hydro_that_only_spills``: a hydro plant with no turbine capacity and no
  plant downstream can only spill its water out of the system: it never
  produces anything and its reservoir has no value;
* ``no_load``: every bus has a mean load of 0 in every stage, so there is
  nothing to supply and the policy's cost is that of the plants' minimums.

Cases that mean these (a fictitious bus with no load is common and not
flagged: only a case with no load at all is) can ignore the warning; none of
the cases caudal ships raises one.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

from caudal.hydro.cobre.case import Case
from caudal.hydro.cobre.errors import CaseWarning
from caudal.hydro.cobre.scenarios import LOAD_STATS
from caudal.hydro.cobre.system import BUSES, HYDROS, THERMALS


class SuspiciousValue(CaseWarning):
    """A value the format allows and a planner would hardly mean (a :class:`Suspicion`)."""


@dataclass(frozen=True)
class Suspicion:
    """One suspicious value: where it is, and why a planner would hardly mean it."""

    name: str  # which check found it, e.g. "thermal_without_capacity"
    file: str  # relative to the case directory
    entity: str | None  # e.g. "thermal 3"; None for the whole file
    field: str
    why: str

    def __str__(self) -> str:
        where = [self.file, *([self.entity] if self.entity else []), f"field {self.field!r}"]
        return f"{': '.join(where)}: {self.why}"


def thermal_without_capacity(case: Case) -> list[Suspicion]:
    return [
        Suspicion("thermal_without_capacity", THERMALS, f"thermal {t.id}", "generation.max_mw",
                  "is 0: the plant can never generate (leave a retired plant out of the case)")
        for t in case.thermals if t.max_mw == 0
    ]


def thermal_above_deficit(case: Case) -> list[Suspicion]:
    if not case.buses:
        return []
    highest_deficit = max(bus.deficit[-1].cost for bus in case.buses if bus.deficit)
    return [
        Suspicion("thermal_above_deficit", THERMALS, f"thermal {t.id}", "cost_per_mwh",
                  f"{t.cost:g} is above every bus's deficit cost (at most {highest_deficit:g}): shedding load is "
                  "cheaper, so the plant never runs above its minimum; deficit costs are meant to be the highest")
        for t in case.thermals if t.max_mw > t.min_mw and t.cost > highest_deficit
    ]


def deficit_not_increasing(case: Case) -> list[Suspicion]:
    found = []
    for bus in case.buses:
        for k in range(1, len(bus.deficit)):
            if bus.deficit[k].cost < bus.deficit[k - 1].cost:
                found.append(Suspicion(
                    "deficit_not_increasing", BUSES, f"bus {bus.id}", f"deficit_segments[{k}].cost",
                    f"{bus.deficit[k].cost:g} is below segment {k - 1}'s {bus.deficit[k - 1].cost:g} (the bus's "
                    "segments or penalties.json's): the deeper segment is used first, so deficit does not get dearer",
                ))
                break
    return found


def hydro_that_only_spills(case: Case) -> list[Suspicion]:
    return [
        Suspicion("hydro_that_only_spills", HYDROS, f"hydro {h.id}", "generation.max_turbined_m3s",
                  "is 0 and the plant has no downstream_id: its water can only be spilled out of the system, "
                  "so it never generates and its reservoir is worth nothing")
        for h in case.hydros if h.max_turbined == 0 and h.downstream is None
    ]


def no_load(case: Case) -> list[Suspicion]:
    means = case.load_stats.mean.values()
    if not means or any(abs(m) > 0 for m in means) or any(abs(s) > 0 for s in case.load_stats.std.values()):
        return []
    return [Suspicion("no_load", LOAD_STATS, None, "mean_mw",
                      "is 0 for every bus in every stage: there is no load to supply")]


CHECKS: tuple[Callable[[Case], list[Suspicion]], ...] = (
    thermal_without_capacity, thermal_above_deficit, deficit_not_increasing, hydro_that_only_spills, no_load,
)


def suspicions(case: Case) -> list[Suspicion]:
    """Every suspicious value of ``case``, check by check, in entity order."""
    return [found for check in CHECKS for found in check(case)]


def warn_suspicious(case: Case) -> list[Suspicion]:
    """Emit each suspicion of ``case`` as a :class:`SuspiciousValue` warning and return them.

    Python shows a warning once per message (its default filter), so a case
    loaded again in the same process does not repeat them.
    """
    found = suspicions(case)
    for suspicion in found:
        warnings.warn(str(suspicion), SuspiciousValue, stacklevel=2)
    return found
