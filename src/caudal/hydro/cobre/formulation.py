"""The stage LP of a Cobre case, built through the public :class:`caudal.Problem` API.

It follows the format's reference formulation (parallel load blocks) so that a
case has the same optimal cost in caudal and in Cobre. Stage ``t`` with blocks
``k`` of ``tau[k]`` hours, ``T = sum(tau)``:

* states: storage ``v[h]`` (hm3, within [min_storage, max_storage]) and, for plants with
  PAR(p) inflows, the lagged inflows (m3/s, most recent first);
* inflow row: ``a[h] - sum_l psi[l] lag_in[h, l] = base + sigma * eta`` (the
  opening's noise on the right-hand side), then ``lag_out[h, 1] = a[h]`` and
  ``lag_out[h, l] = lag_in[h, l - 1]``;
* water balance (hm3): ``v_out - v_in + 0.0036 * sum_k tau[k] (q + s - upstream
  q and s)[k] - 0.0036 T a = 0``; with the ``penalty`` non-negativity method a
  priced slack adds water next to ``a``; the truncating methods clamp the
  opening's inflow at zero instead; a plant with evaporation loses its
  linearized evaporation too (evaporation.py);
* load balance per bus and block (MW): hydro ``productivity * q`` (or, on a
  stage where the plant has FPHA planes, a generation variable bounded by
  them: fpha.py), thermal
  generation, deficit segments, minus excess, plus line flows in, minus out,
  equals the load ``(mean + std * eta) * block factor``;
* costs per block weighted by its hours (thermal, deficit, excess, exchange,
  spillage, outflow/turbining/generation violations), inflow non-negativity
  slack per m3/s over the stage's hours; the minimum storage is a hard bound
  (no storage shortfall is priced, as in Cobre);
* the cost-to-go is discounted by the annual rate over the stage's length in
  days (365.25 a year).

Every column and row that results need is recorded in a :class:`StageLayout`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from caudal.hydro.cobre.case import Case, GenericConstraint, Hydro, StageSpec
from caudal.hydro.cobre.errors import unsupported
from caudal.hydro.cobre.evaporation import add_evaporation
from caudal.hydro.cobre.external_inflows import inflow_parameter, inflows_patched_forward
from caudal.hydro.cobre.fpha import add_fpha_generation
from caudal.hydro.cobre.generic import VARIABLES
from caudal.hydro.cobre.hydro_limits import IN_SERVICE
from caudal.hydro.cobre.inflows import InflowModel
from caudal.hydro.cobre.lag_accumulation import LagTransition, add_accumulated_lags, add_accumulator
from caudal.hydro.cobre.openings import NoiseEntities
from caudal.hydro.cobre.penalty_overrides import stage_hydro_penalties
from caudal.hydro.cobre.sources import opening_availability
from caudal.hydro.cobre.timeline import DAYS_PER_YEAR
from caudal.model.problem import Bound, Problem, Stage, Variable

HM3_PER_M3S_HOUR = 0.0036
"""A flow of 1 m3/s during one hour is 0.0036 hm3."""

COST_CATEGORIES = (
    "thermal",
    "deficit",
    "excess",
    "exchange",
    "spillage",
    "hydro_violation",
    "withdrawal_violation",
    "generic_violation",
    "storage_violation",
    "inflow_penalty",
    "curtailment",
    "evaporation_violation",
    "fpha_turbined",
)

TRUNCATING = ("truncation", "truncation_with_penalty")
"""Methods that clamp inflows at zero. Cobre 0.5.1 gives the same results for both (measured): after
clamping no inflow is negative, so the penalised slack of ``truncation_with_penalty`` never enters."""

NO_STATE = "no_state"
"""Name of the constant state a case without reservoirs gets (a caudal problem needs one)."""

# The per-block hydro slacks of StageLayout.hydro_slacks, named as Cobre's hydro output columns
HYDRO_SLACKS = ("turbined_slack_m3s", "generation_slack_mw", "outflow_slack_below_m3s", "outflow_slack_above_m3s")


@dataclass
class StageLayout:
    """Where the quantities of one stage sit in its LP (column or row indices, -1 when absent)."""

    hours: np.ndarray  # float64[K]
    storage_out: np.ndarray  # [H]
    storage_in: np.ndarray  # [H]
    inflow: np.ndarray  # [H]: incremental inflow a (m3/s)
    inflow_slack: np.ndarray  # [H]: non-negativity slack (m3/s), -1 if none
    turbined: np.ndarray  # [H, K]
    spillage: np.ndarray  # [H, K]
    thermal: np.ndarray  # [J, K]
    deficit: np.ndarray  # [B, K, max segments]
    excess: np.ndarray  # [B, K]
    flow_direct: np.ndarray  # [L, K]
    flow_reverse: np.ndarray  # [L, K]
    water_rows: np.ndarray  # [H]
    bus_rows: np.ndarray  # [B, K]
    load: np.ndarray  # float64[O, B, K]: load of each opening (MW)
    productivity: np.ndarray  # float64[H] (0 on a stage where the plant has FPHA planes)
    generation: np.ndarray | None = None  # [H, K]: FPHA generation columns, -1 for constant productivity
    evaporation: np.ndarray | None = None  # [H, 3]: evaporated flow, under and over the line; -1 without
    # [H, K, 4]: slacks of the minimum turbined flow, minimum generation, minimum and maximum outflow; -1 without
    hydro_slacks: np.ndarray | None = None
    costs: dict[str, list[int]] = field(default_factory=lambda: {c: [] for c in COST_CATEGORIES})


def discount_factor(case: Case, spec: StageSpec) -> float:
    """Factor on the cost of the stages after ``spec``."""
    return (1.0 + case.annual_discount_rate) ** (-spec.days / DAYS_PER_YEAR)


def build_problem(
    case: Case, inflows: InflowModel, noise: list[np.ndarray], entities: NoiseEntities, name: str,
    lag_transitions: tuple[LagTransition, ...] | None = None,
) -> tuple[Problem, list[StageLayout]]:
    """The caudal problem of ``case`` with the opening tree ``noise`` (float64[openings, entities] per stage).

    ``lag_transitions`` (lag_accumulation.py) replaces the plain shift of the inflow lags on a horizon of
    stages of different lengths.
    """
    problem = Problem(name=name, value_bound=-_largest_credit(case))
    layouts = []
    for t, spec in enumerate(case.stages):
        stage = problem.add_stage(discount=discount_factor(case, spec), name=f"stage {spec.id}")
        transition = None if lag_transitions is None else lag_transitions[t]
        layouts.append(_StageBuilder(case, inflows, noise[t], entities, t, stage, transition).build())
    return problem, layouts


def _largest_credit(case: Case) -> float:
    """The most the sources' generation credits can take off the cost of the whole horizon (0 without them).

    Every other cost is non-negative, so minus this bounds the cost-to-go from below.
    """
    return sum(
        case.bound("source.curtailment_cost", source.id, spec.id, None, source.curtailment_cost)
        * (source.max_mw if (source.id, spec.id) in case.source_noise else case.available_mw(source, spec.id))
        * spec.hours
        for spec in case.stages
        for source in case.sources
    )


class _StageBuilder:
    """Adds one stage's variables and constraints, in a fixed order, and records the layout."""

    def __init__(
        self, case: Case, inflows: InflowModel, noise: np.ndarray, entities: NoiseEntities, t: int, stage: Stage,
        lag_transition: LagTransition | None = None,
    ):
        self.case = case
        self.lag_transition = lag_transition
        self.inflows = inflows
        self.noise = noise
        self.entities = entities
        self.t = t
        self.spec = case.stages[t]
        self.stage = stage
        self.hours = np.array([b.hours for b in self.spec.blocks])
        n_hydros, n_blocks = len(case.hydros), len(self.spec.blocks)
        n_segments = max((len(b.deficit) for b in case.buses), default=1)
        shape = {
            "hk": (n_hydros, n_blocks),
            "bk": (len(case.buses), n_blocks),
        }
        self.layout = StageLayout(
            hours=self.hours,
            storage_out=_none(n_hydros),
            storage_in=_none(n_hydros),
            inflow=_none(n_hydros),
            inflow_slack=_none(n_hydros),
            turbined=_none(*shape["hk"]),
            spillage=_none(*shape["hk"]),
            thermal=_none(len(case.thermals), n_blocks),
            deficit=_none(len(case.buses), n_blocks, n_segments),
            excess=_none(*shape["bk"]),
            flow_direct=_none(len(case.lines), n_blocks),
            flow_reverse=_none(len(case.lines), n_blocks),
            water_rows=_none(n_hydros),
            bus_rows=_none(*shape["bk"]),
            load=np.zeros((noise.shape[0], len(case.buses), n_blocks)),
            productivity=np.array([
                0.0 if (h.id, self.spec.id) in case.fpha else case.productivity(h, self.spec.id) for h in case.hydros
            ]),
            generation=_none(*shape["hk"]),
            evaporation=_none(n_hydros, 3),
            hydro_slacks=_none(n_hydros, n_blocks, len(HYDRO_SLACKS)),
        )
        self._states: dict[int, object] = {}
        self._lags: dict[int, list[object]] = {}
        self._lag_sums: dict[int, object] = {}  # hydro -> accumulator state (lag_accumulation.py)
        self._inflow_vars: dict[int, Variable] = {}
        self._inflow_slacks: dict[int, Variable] = {}
        self._releases: dict[tuple[int, int], tuple[Variable, Variable]] = {}  # (hydro, block) -> (q, s)
        self._generation: dict[tuple[int, int], Variable] = {}  # (hydro, block) -> FPHA generation
        self._thermals: dict[tuple[int, int], Variable] = {}  # (thermal, block) -> generation
        self._flows: dict[tuple[int, int], tuple[Variable, Variable]] = {}  # (line, block) -> (direct, reverse)
        self._injections: dict[tuple[int, int], dict[Variable, float]] = {
            (b.id, k): {} for b in case.buses for k in range(n_blocks)
        }

    # -- helpers -----------------------------------------------------------------
    def _var(self, name: str, *, lower: Bound = 0.0, upper: Bound = math.inf, cost: float = 0.0,
             category: str | None = None) -> Variable:
        var = self.stage.add_variable(name, lower=lower, upper=upper, cost=cost)
        if category is not None and cost != 0.0:
            self.layout.costs[category].append(var.column)
        return var

    def _random(self, name: str, values: np.ndarray) -> Bound:
        """A right-hand side: a number when every opening agrees, else a random parameter."""
        if np.all(values == values[0]):
            return float(values[0])
        return self.stage.add_uncertain(name, values)

    # -- the stage ---------------------------------------------------------------
    def build(self) -> StageLayout:
        self._add_states()
        for h, hydro in enumerate(self.case.hydros):
            self._add_inflow(h, hydro)
        for k in range(len(self.spec.blocks)):
            for h, hydro in enumerate(self.case.hydros):
                self._add_hydro_block(h, hydro, k)
            self._add_thermals(k)
            self._add_sources(k)
            self._add_lines(k)
            self._add_buses(k)
        for h, hydro in enumerate(self.case.hydros):
            self._add_water_balance(h, hydro)
        for constraint in self.case.generic_constraints:
            if self.spec.id in constraint.bounds:
                self._add_generic(constraint)
        return self.layout

    def _add_states(self) -> None:
        for h, hydro in enumerate(self.case.hydros):
            # The minimum storage is a hard bound on the end-of-stage storage, as in Cobre (0.5.1 and 0.18.0,
            # measured; its storage_violation_below_cost changes nothing). hydro_bounds may lower the maximum.
            state = self.stage.add_state(
                f"storage[{hydro.id}]",
                lower=self.case.bound("hydro.min_storage_hm3", hydro.id, self.spec.id, None, hydro.min_storage),
                upper=self.case.bound("hydro.max_storage_hm3", hydro.id, self.spec.id, None, hydro.max_storage),
                initial=self.case.initial_storage[hydro.id],
            )
            self._states[h] = state
            self.layout.storage_out[h] = state.out.column
            self.layout.storage_in[h] = state.incoming.column
        for h, hydro in enumerate(self.case.hydros):
            initial = self.inflows.initial_lags[h]
            self._lags[h] = [
                self.stage.add_state(f"inflow_lag[{hydro.id},{lag}]", lower=-math.inf, upper=math.inf,
                                     initial=initial[lag - 1])
                for lag in range(1, int(self.inflows.n_lags[h]) + 1)
            ]
            if self.lag_transition is not None and self._lags[h]:
                so_far = self.case.month_so_far.get(hydro.id, (0.0, 0.0))[0]
                self._lag_sums[h] = add_accumulator(self.stage, hydro.id, so_far)
        if not self.case.hydros:
            self.stage.add_state(NO_STATE, lower=0.0, upper=0.0, initial=0.0)

    def _add_inflow(self, h: int, hydro: Hydro) -> None:
        method = self.case.settings.inflow_method
        t = self.t
        rhs = self.inflows.base[t, h] + self.inflows.sigma[t, h] * self.noise[:, h]
        lags = self._lags[h]
        if method in TRUNCATING and not lags:
            rhs = np.maximum(rhs, 0.0)  # with lags, study.py has checked clamping never happens
        inflow = self._var(f"inflow[{hydro.id}]", lower=-math.inf)
        terms: dict[Variable, float] = {inflow: 1.0}
        for lag, state in enumerate(lags, start=1):
            terms[state.incoming] = -self.inflows.psi[t, h, lag - 1]
        # Always a parameter when forward passes patch it (external_inflows.py, out_of_sample.py).
        name = inflow_parameter(hydro.id)
        bound = self.stage.add_uncertain(name, rhs) if inflows_patched_forward(self.case) else self._random(name, rhs)
        self.stage.add_constraint(terms, "==", bound, name=f"par[{hydro.id}]")
        if h in self._lag_sums:
            add_accumulated_lags(self.stage, hydro.id, inflow, lags, self._lag_sums[h], self.lag_transition)
        else:
            for lag, state in enumerate(lags, start=1):
                source = inflow if lag == 1 else lags[lag - 2].incoming
                self.stage.add_constraint({state.out: 1.0, source: -1.0}, "==", 0.0, name=f"lag[{hydro.id},{lag}]")
        self._inflow_vars[h] = inflow
        self.layout.inflow[h] = inflow.column
        if method == "penalty":
            # Extra water at a price, in the water balance: the LP takes it when it is worth its cost.
            slack = self._var(
                f"inflow_slack[{hydro.id}]", cost=hydro.penalties.inflow_nonnegativity * float(self.hours.sum()),
                category="inflow_penalty",
            )
            self.layout.inflow_slack[h] = slack.column
            self._inflow_slacks[h] = slack

    def _in_service(self, hydro: Hydro) -> bool:
        """False in the stages outside the plant's entry/exit window (0.18): see :mod:`~.hydro_limits`."""
        return self.case.bound(IN_SERVICE, hydro.id, self.spec.id, None, 1.0) > 0.0

    def _add_hydro_block(self, h: int, hydro: Hydro, k: int) -> None:
        tau = self.hours[k]
        costs = stage_hydro_penalties(self.case, hydro, self.spec.id)
        planes = self.case.fpha.get((hydro.id, self.spec.id))
        productivity = self.case.productivity(hydro, self.spec.id)
        block = self.spec.blocks[k].id  # hydro_bounds may override the plant's limits per stage or block

        def limit(column: str, own: float) -> float:
            return self.case.bound(f"hydro.{column}", hydro.id, self.spec.id, block, own)

        max_generation = limit("max_generation_mw", hydro.max_generation)
        upper, turbined_cost = limit("max_turbined_m3s", hydro.max_turbined), 0.0
        if planes is not None:
            turbined_cost = tau * self.case.bound("hydro.fpha_turbined_cost", hydro.id, self.spec.id, None,
                                                  self.case.fpha_turbined_costs.get(hydro.id, 0.0))
        elif productivity > 0:
            upper = min(upper, max_generation / productivity)
        q = self._var(f"turbined[{hydro.id},{k}]", upper=upper, cost=turbined_cost, category="fpha_turbined")
        # out of service, the water passes the plant unpriced (as Cobre 0.18.0 does, measured)
        s = self._var(f"spillage[{hydro.id},{k}]", cost=tau * costs.spillage if self._in_service(hydro) else 0.0,
                      category="spillage")
        self.layout.turbined[h, k] = q.column
        self.layout.spillage[h, k] = s.column
        self._releases[(h, k)] = (q, s)
        generated: dict[Variable, float] = {q: productivity}
        if planes is not None:
            if hydro.groups:
                raise unsupported("system/hydros.json", f"hydro {hydro.id}", "unit_groups",
                                  "an FPHA plant split over several unit groups")
            state = self._states[h]
            g = add_fpha_generation(self.stage, hydro, k, planes, (q, s), (state.incoming, state.out))
            self.layout.generation[h, k] = g.column
            self._generation[(h, k)] = g
            generated = {g: 1.0}
            if max_generation < hydro.max_generation:
                self.stage.add_constraint({g: 1.0}, "<=", max_generation, name=f"max_generation[{hydro.id},{k}]")
            _accumulate(self._injections[(hydro.bus, k)], generated)
        elif hydro.groups:
            self._add_unit_groups(hydro, k, q, productivity)
        else:
            _accumulate(self._injections[(hydro.bus, k)], generated)
        name = f"{hydro.id},{k}"
        min_turbined = limit("min_turbined_m3s", hydro.min_turbined)
        if min_turbined > 0:
            slack = self._var(f"turbined_below[{name}]", cost=tau * costs.turbined_below, category="hydro_violation")
            self.stage.add_constraint({q: 1.0, slack: 1.0}, ">=", min_turbined, name=f"min_turbined[{name}]")
            self.layout.hydro_slacks[h, k, 0] = slack.column
        min_generation = limit("min_generation_mw", hydro.min_generation)
        if min_generation > 0:
            slack = self._var(f"generation_below[{name}]", cost=tau * costs.generation_below,
                              category="hydro_violation")
            self.stage.add_constraint({**generated, slack: 1.0}, ">=", min_generation,
                                      name=f"min_generation[{name}]")
            self.layout.hydro_slacks[h, k, 1] = slack.column
        min_outflow = limit("min_outflow_m3s", hydro.min_outflow)
        max_outflow = limit("max_outflow_m3s", hydro.max_outflow)
        if not self._in_service(hydro):  # the water passing a plant out of service is not its outflow (measured)
            min_outflow, max_outflow = 0.0, math.inf
        if min_outflow > 0:
            slack = self._var(f"outflow_below[{name}]", cost=tau * costs.outflow_below, category="hydro_violation")
            self.stage.add_constraint({q: 1.0, s: 1.0, slack: 1.0}, ">=", min_outflow,
                                      name=f"min_outflow[{name}]")
            self.layout.hydro_slacks[h, k, 2] = slack.column
        if math.isfinite(max_outflow):
            slack = self._var(f"outflow_above[{name}]", cost=tau * costs.outflow_above, category="hydro_violation")
            self.stage.add_constraint({q: 1.0, s: 1.0, slack: -1.0}, "<=", max_outflow,
                                      name=f"max_outflow[{name}]")
            self.layout.hydro_slacks[h, k, 3] = slack.column

    def _add_unit_groups(self, hydro: Hydro, k: int, q: Variable, productivity: float) -> None:
        """The plant's turbined flow split over its unit groups, each within its limits and injecting at its bus."""
        terms: dict[Variable, float] = {q: 1.0}
        for group in hydro.groups:
            upper = group.max_turbined
            if productivity > 0:
                upper = min(upper, group.max_generation / productivity)
            part = self._var(f"unit_turbined[{hydro.id},{group.id},{k}]", upper=upper)
            self._injections[(group.bus, k)][part] = productivity
            terms[part] = -1.0
        self.stage.add_constraint(terms, "==", 0.0, name=f"unit_groups[{hydro.id},{k}]")

    def _add_thermals(self, k: int) -> None:
        tau = self.hours[k]
        block, stage = self.spec.blocks[k].id, self.spec.id
        for j, thermal in enumerate(self.case.thermals):
            g = self._var(f"thermal[{thermal.id},{k}]",
                          lower=self.case.bound("thermal.min_mw", thermal.id, stage, block, thermal.min_mw),
                          upper=self.case.bound("thermal.max_mw", thermal.id, stage, block, thermal.max_mw),
                          cost=tau * self.case.bound("thermal.cost", thermal.id, stage, block, thermal.cost),
                          category="thermal")
            self.layout.thermal[j, k] = g.column
            self._thermals[(j, k)] = g
            self._injections[(thermal.bus, k)][g] = 1.0

    def _add_sources(self, k: int) -> None:
        tau = self.hours[k]
        for source in self.case.sources:
            column = self.entities.source_column(source.id)
            available = opening_availability(self.case, source, self.spec.id,
                                             None if column is None else self.noise[:, column])
            upper = self._random(f"available[{source.id},{k}]", available) if isinstance(available, np.ndarray) \
                else available
            g = self._var(f"source[{source.id},{k}]", upper=upper,
                          cost=-tau * self.case.bound("source.curtailment_cost", source.id, self.spec.id, None,
                                                      source.curtailment_cost), category="curtailment")
            self._injections[(source.bus, k)][g] = 1.0

    def _add_lines(self, k: int) -> None:
        tau = self.hours[k]
        block, stage = self.spec.blocks[k].id, self.spec.id
        for i, line in enumerate(self.case.lines):
            exchange_cost = self.case.bound("line.exchange_cost", line.id, stage, None, line.exchange_cost)
            direct = self._var(f"flow_direct[{line.id},{k}]",
                               upper=self.case.bound("line.direct_mw", line.id, stage, block, line.direct_mw),
                               cost=tau * exchange_cost, category="exchange")
            reverse = self._var(f"flow_reverse[{line.id},{k}]",
                                upper=self.case.bound("line.reverse_mw", line.id, stage, block, line.reverse_mw),
                                cost=tau * exchange_cost, category="exchange")
            self.layout.flow_direct[i, k] = direct.column
            self.layout.flow_reverse[i, k] = reverse.column
            self._flows[(i, k)] = (direct, reverse)
            _accumulate(self._injections[(line.source, k)], {direct: -1.0, reverse: 1.0})
            _accumulate(self._injections[(line.target, k)], {direct: 1.0, reverse: -1.0})

    def _add_buses(self, k: int) -> None:
        tau = self.hours[k]
        for b, bus in enumerate(self.case.buses):
            terms = self._injections[(bus.id, k)]
            for i, segment in enumerate(bus.deficit):
                deficit = self._var(f"deficit[{bus.id},{k},{i}]", upper=segment.depth_mw, cost=tau * segment.cost,
                                    category="deficit")
                self.layout.deficit[b, k, i] = deficit.column
                terms[deficit] = 1.0
            excess_cost = self.case.bound("bus.excess_cost", bus.id, self.spec.id, None, self.case.excess_cost)
            excess = self._var(f"excess[{bus.id},{k}]", cost=tau * excess_cost, category="excess")
            self.layout.excess[b, k] = excess.column
            terms[excess] = -1.0
            load = self._load(bus.id, k)
            self.layout.load[:, b, k] = load
            row = self.stage.add_constraint(terms, "==", self._random(f"load[{bus.id},{k}]", load),
                                            name=f"balance[{bus.id},{k}]")
            self.layout.bus_rows[b, k] = row

    def _load(self, bus_id: int, k: int) -> np.ndarray:
        mean, std = self.case.load_stats.get(bus_id, self.spec.id) or (0.0, 0.0)  # no load_seasonal_stats: no load
        factor = self.case.load_factor(bus_id, self.spec.id, k)
        column = self.entities.load_column(bus_id)
        n_open = self.noise.shape[0]
        if column is None or std == 0.0:
            return np.full(n_open, mean * factor)
        return (mean + std * self.noise[:, column]) * factor

    def _add_water_balance(self, h: int, hydro: Hydro) -> None:
        state = self._states[h]
        if not self._in_service(hydro):  # its reservoir keeps what it holds; inflow and upstream water pass on
            self.stage.add_constraint({state.out: 1.0, state.incoming: -1.0}, "==", 0.0, name=f"frozen[{hydro.id}]")
        volume = HM3_PER_M3S_HOUR * self.hours
        terms: dict[Variable, float] = {state.out: 1.0, state.incoming: -1.0}
        for k in range(len(self.spec.blocks)):
            for release in self._releases[(h, k)]:
                _accumulate(terms, {release: volume[k]})
            for u, upstream in enumerate(self.case.hydros):
                if upstream.downstream == hydro.id:
                    for release in self._releases[(u, k)]:
                        _accumulate(terms, {release: -volume[k]})
        stage_volume = HM3_PER_M3S_HOUR * float(self.hours.sum())
        terms[self._inflow_vars[h]] = -stage_volume
        line = self.case.evaporation.get((hydro.id, self.spec.id))
        if line is not None:
            below_cost, above_cost = self.case.evaporation_costs[hydro.id]
            hours = float(self.hours.sum())
            evaporated, *missed = add_evaporation(
                self.stage, hydro, line, (state.incoming, state.out), (hours * below_cost, hours * above_cost),
            )
            self.layout.evaporation[h] = [evaporated.column, *(v.column for v in missed)]
            self.layout.costs["evaporation_violation"].extend(v.column for v in missed)
            terms[evaporated] = stage_volume
        if h in self._inflow_slacks:
            terms[self._inflow_slacks[h]] = -stage_volume
        rhs = 0.0
        target = self.case.withdrawals.get((hydro.id, self.spec.id), 0.0)
        if target > 0:
            # The withdrawal leaves the reservoir; taking less or more than the target is penalised.
            below_cost, above_cost = self.case.withdrawal_costs[hydro.id]
            hours = float(self.hours.sum())
            below = self._var(f"withdrawal_below[{hydro.id}]", upper=target, cost=hours * below_cost,
                              category="withdrawal_violation")
            above = self._var(f"withdrawal_above[{hydro.id}]", cost=hours * above_cost,
                              category="withdrawal_violation")
            terms[below] = -stage_volume
            terms[above] = stage_volume
            rhs = -stage_volume * target
        self.layout.water_rows[h] = self.stage.add_constraint(terms, "==", rhs, name=f"water[{hydro.id}]")


    def _add_generic(self, constraint: GenericConstraint) -> None:
        """A generic constraint on each block of the stage, or on its own block (0.18's per-block bounds)."""
        index = {
            "thermal": {t.id: j for j, t in enumerate(self.case.thermals)},
            "hydro": {h.id: i for i, h in enumerate(self.case.hydros)},
            "line": {line.id: i for i, line in enumerate(self.case.lines)},
        }
        for k, block in enumerate(self.spec.blocks):
            if constraint.block is not None and block.id != constraint.block:
                continue
            terms: dict[Variable, float] = {}
            for term in constraint.terms:
                i = index[VARIABLES[term.variable]][term.entity]
                if term.variable == "thermal_generation":
                    extra = {self._thermals[(i, k)]: term.coefficient}
                elif term.variable == "hydro_turbined":
                    extra = {self._releases[(i, k)][0]: term.coefficient}
                elif term.variable == "hydro_spillage":
                    extra = {self._releases[(i, k)][1]: term.coefficient}
                elif term.variable == "hydro_generation" and (i, k) in self._generation:
                    extra = {self._generation[(i, k)]: term.coefficient}
                elif term.variable == "hydro_generation":
                    productivity = self.case.productivity(self.case.hydros[i], self.spec.id)
                    extra = {self._releases[(i, k)][0]: term.coefficient * productivity}
                else:
                    extra = {self._flows[(i, k)][0 if term.variable == "line_direct" else 1]: term.coefficient}
                _accumulate(terms, extra)
            if constraint.slack_penalty is not None:
                cost = constraint.slack_penalty * self.hours[k]
                name = f"generic_slack[{constraint.id},{block.id}]"
                if constraint.sense in ("<=", "=="):
                    terms[self._var(f"{name}-", cost=cost, category="generic_violation")] = -1.0
                if constraint.sense in (">=", "=="):
                    terms[self._var(f"{name}+", cost=cost, category="generic_violation")] = 1.0
            self.stage.add_constraint(terms, constraint.sense, constraint.bounds[self.spec.id],
                                      name=f"generic[{constraint.id},{block.id}]")


def _none(*shape: int) -> np.ndarray:
    return np.full(shape, -1, dtype=np.int64)


def _accumulate(terms: dict[Variable, float], extra: dict[Variable, float]) -> None:
    for var, coef in extra.items():
        terms[var] = terms.get(var, 0.0) + coef
