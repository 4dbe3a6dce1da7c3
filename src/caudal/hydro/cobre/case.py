"""A Cobre case as plain, validated data: what the formulation needs, nothing more.

The reader fills these records from the case's files; every physical quantity
keeps the unit of the format (MW, m3/s, hm3, hours, currency per MWh) so the
formulation can be checked against the format's reference line by line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from caudal.hydro.cobre.correlation import Correlation

INFLOW_METHODS = ("none", "penalty", "truncation", "truncation_with_penalty")


@dataclass(frozen=True)
class Block:
    id: int
    name: str
    hours: float


@dataclass(frozen=True)
class StageSpec:
    """One study stage: its dates, load blocks and number of openings."""

    id: int
    start: date
    end: date
    blocks: tuple[Block, ...]
    openings: int
    season_id: int | None = None

    @property
    def hours(self) -> float:
        return float(sum(b.hours for b in self.blocks))

    @property
    def days(self) -> int:
        return (self.end - self.start).days


@dataclass(frozen=True)
class DeficitSegment:
    depth_mw: float  # math.inf for the last, unbounded segment
    cost: float  # per MWh


@dataclass(frozen=True)
class Bus:
    id: int
    name: str
    deficit: tuple[DeficitSegment, ...]


@dataclass(frozen=True)
class Line:
    id: int
    name: str
    source: int
    target: int
    direct_mw: float
    reverse_mw: float
    exchange_cost: float  # per MWh, each direction


@dataclass(frozen=True)
class Thermal:
    id: int
    name: str
    bus: int
    min_mw: float
    max_mw: float
    cost: float  # per MWh


@dataclass(frozen=True)
class Source:
    """A non-controllable source (wind, solar): free energy up to its availability.

    Like Cobre, the stage cost credits ``curtailment_cost`` per MWh the source
    generates (rather than charging the energy it does not), so the cost of a
    case with sources matches Cobre's.
    """

    id: int
    name: str
    bus: int
    max_mw: float
    curtailment_cost: float  # per MWh


@dataclass(frozen=True)
class Term:
    """``coefficient * variable(entity)`` in a generic constraint (variable names: generic.VARIABLES)."""

    variable: str
    entity: int
    coefficient: float


@dataclass(frozen=True)
class GenericConstraint:
    id: int
    terms: tuple[Term, ...]
    sense: str  # "<=", ">=" or "=="
    slack_penalty: float | None  # per unit of violation and hour; None: no slack
    bounds: dict[int, float]  # stage id -> right-hand side (no row: no constraint in that stage)
    block: int | None = None  # the load block id the bounds bind; None: each block of the stage


@dataclass(frozen=True)
class HydroPenalties:
    """The penalty costs of one plant, as its case gives them (all but ``storage_below`` price a slack)."""

    spillage: float  # per (m3/s . h)
    storage_below: float  # per hm3; read and written back, prices nothing: the minimum storage is hard, as in Cobre
    turbined_below: float  # per (m3/s . h)
    outflow_below: float  # per (m3/s . h)
    outflow_above: float  # per (m3/s . h)
    generation_below: float  # per MWh
    inflow_nonnegativity: float  # per (m3/s . h)


@dataclass(frozen=True)
class UnitGroup:
    """One of several unit groups of a 0.18 plant: its bus and upper limits (its minima are zero)."""

    id: int
    bus: int
    max_turbined: float  # m3/s
    max_generation: float  # MW


@dataclass(frozen=True)
class Hydro:
    id: int
    name: str
    bus: int
    downstream: int | None
    min_storage: float  # hm3
    max_storage: float
    min_outflow: float  # m3/s
    max_outflow: float  # math.inf when unbounded
    productivity: float  # MW per m3/s
    min_turbined: float  # m3/s
    max_turbined: float
    min_generation: float  # MW
    max_generation: float
    penalties: HydroPenalties
    groups: tuple[UnitGroup, ...] = ()  # a plant split over several groups (0.18); empty: all of it on ``bus``


@dataclass(frozen=True)
class FphaPlanes:
    """The hyperplanes bounding a plant's generation in one stage (fpha.py).

    Generation g (MW) in each block satisfies, for every plane i,
    ``g <= intercept[i] + gamma_v[i] * (v_in + v_out) / 2 + gamma_q[i] * q + gamma_s[i] * s``
    (the intercept already multiplied by the plane's ``kappa``).
    """

    intercept: tuple[float, ...]  # MW
    gamma_v: tuple[float, ...]  # MW per hm3 of average storage
    gamma_q: tuple[float, ...]  # MW per m3/s turbined
    gamma_s: tuple[float, ...]  # MW per m3/s spilled


@dataclass(frozen=True)
class EvaporationLine:
    """A plant's evaporation in one stage (m3/s), linear in its average storage (evaporation.py).

    ``evaporation = constant + slope * (v_in + v_out) / 2``, bounded to ``[0, upper]``;
    missing it either way is priced by the plant's evaporation violation costs.
    """

    constant: float  # m3/s
    slope: float  # m3/s per hm3
    upper: float  # m3/s


@dataclass(frozen=True)
class TrainingSettings:
    """What config.json says about training (the defaults of ``caudal train``)."""

    iterations: int
    forward_passes: int
    seed: int
    time_limit: float | None = None
    inflow_scheme: str = "in_sample"  # or "external": forward passes on external_inflow_scenarios.parquet


@dataclass(frozen=True)
class SimulationSettings:
    enabled: bool
    scenarios: int


@dataclass(frozen=True)
class Settings:
    """The parts of config.json caudal honours."""

    training: TrainingSettings
    simulation: SimulationSettings
    inflow_method: str  # one of INFLOW_METHODS
    config_inflow_penalty: float | None  # config.json's penalty_cost, which Cobre 0.5.1 does not use


@dataclass(frozen=True)
class SeriesStats:
    """Seasonal mean and standard deviation, keyed by (entity id, stage id)."""

    mean: dict[tuple[int, int], float]
    std: dict[tuple[int, int], float]

    def get(self, entity: int, stage: int) -> tuple[float, float] | None:
        key = (entity, stage)
        if key not in self.mean:
            return None
        return self.mean[key], self.std[key]


@dataclass(frozen=True)
class ArModel:
    """Standardised AR coefficients (lag 1 first) and residual std ratio of one (hydro, stage)."""

    coefficients: tuple[float, ...]
    residual_std_ratio: float = 1.0


@dataclass(frozen=True)
class AnnualComponent:
    """PAR(p)-A's annual term of one (hydro, stage): ``psi_A`` and the statistics of the 12-month mean it weighs."""

    coefficient: float  # psi_A, dimensionless
    mean: float  # mu_A, m3/s
    std: float  # sigma_A, m3/s, positive


@dataclass
class Case:
    """Everything read from a case directory, validated and cross-referenced."""

    root: str
    settings: Settings
    stages: tuple[StageSpec, ...]
    pre_study: dict[int, int | None]  # pre-study stage id -> season id
    annual_discount_rate: float
    buses: tuple[Bus, ...]
    lines: tuple[Line, ...]
    thermals: tuple[Thermal, ...]
    hydros: tuple[Hydro, ...]
    excess_cost: float  # per MWh
    initial_storage: dict[int, float]  # hydro id -> hm3
    past_inflows: dict[int, tuple[float, ...]]  # hydro id -> m3/s, most recent first
    inflow_stats: SeriesStats
    ar_models: dict[tuple[int, int], ArModel]  # (hydro id, stage id) -> model
    load_stats: SeriesStats
    load_factors: dict[tuple[int, int], dict[int, float]]  # (bus id, stage id) -> {block id: factor}
    noise_openings: list[np.ndarray] | None = None  # per stage: float64[openings, entities]
    state_flags: dict[int, tuple[bool, bool]] = field(default_factory=dict)  # stage id -> (storage, lags)
    # (hydro id, stage id) -> MW per m3/s, from the production models where they change a plant's productivity
    productivity_overrides: dict[tuple[int, int], float] = field(default_factory=dict)
    sources: tuple[Source, ...] = ()
    withdrawals: dict[tuple[int, int], float] = field(default_factory=dict)  # (hydro, stage) -> m3/s
    generic_constraints: tuple[GenericConstraint, ...] = ()
    withdrawal_costs: dict[int, tuple[float, float]] = field(default_factory=dict)  # hydro -> (below, above)
    source_availability: dict[tuple[int, int], float] = field(default_factory=dict)  # (source, stage) -> [0, 1]
    # (source, stage) -> (mean, std) of a stochastic availability factor (sources.py), where std > 0
    source_noise: dict[tuple[int, int], tuple[float, float]] = field(default_factory=dict)
    # (quantity, entity id, stage id, block id or None) -> value: 0.18's stage-varying bounds (format_018/bounds.py)
    bound_overrides: dict[tuple[str, int, int, int | None], float] = field(default_factory=dict)
    fpha: dict[tuple[int, int], FphaPlanes] = field(default_factory=dict)  # (hydro, stage) -> planes
    # hydro id -> the realized days of the study's first month before it starts, as (sum of inflow x days,
    # days), both over the month's days: where its lag average starts (format_018/inflow_lags.py)
    month_so_far: dict[int, tuple[float, float]] = field(default_factory=dict)
    correlation: Correlation | None = None  # scenarios/correlation.json (correlation.py)
    fpha_turbined_costs: dict[int, float] = field(default_factory=dict)  # hydro -> per (m3/s . h) turbined
    evaporation: dict[tuple[int, int], EvaporationLine] = field(default_factory=dict)  # (hydro, stage) -> line
    evaporation_costs: dict[int, tuple[float, float]] = field(default_factory=dict)  # hydro -> (below, above)
    # (hydro id, stage id) -> the annual term estimated from history ('pacf_annual'); a given one is read in par_a
    annual_components: dict[tuple[int, int], AnnualComponent] = field(default_factory=dict)

    def load_factor(self, bus: int, stage: int, block: int) -> float:
        return self.load_factors.get((bus, stage), {}).get(block, 1.0)

    def available_mw(self, source: Source, stage: int) -> float:
        """What the source can generate in ``stage`` (MW): its capacity times its availability factor."""
        return source.max_mw * self.source_availability.get((source.id, stage), 1.0)

    def bound(self, quantity: str, entity: int, stage: int, block: int | None, default: float) -> float:
        """``quantity`` (e.g. ``"thermal.max_mw"``) in a block: its override for the block, else the stage's."""
        return stage_bound(self.bound_overrides, quantity, entity, stage, block, default)

    def productivity(self, hydro: Hydro, stage: int) -> float:
        """The plant's productivity in ``stage``: its production model's override, else its own."""
        return self.productivity_overrides.get((hydro.id, stage), hydro.productivity)


def stage_bound(
    overrides: dict[tuple[str, int, int, int | None], float], quantity: str, entity: int, stage: int,
    block: int | None, default: float,
) -> float:
    """The block's override of ``quantity``, else the stage's, else ``default``."""
    if block is not None and (quantity, entity, stage, block) in overrides:
        return overrides[(quantity, entity, stage, block)]
    return overrides.get((quantity, entity, stage, None), default)
