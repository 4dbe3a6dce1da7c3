"""The brazil4 hydrothermal case: four energy-equivalent reservoirs of Brazil.

The data (``data/brazil4``, from MSPPy, BSD-3-Clause, see ``LICENSE.msppy``)
and the stage problem are described in ``data/brazil4/README.md``; this module
builds that problem through the public :class:`~caudal.Problem` API and nothing
else, so it doubles as a worked example of the API on a realistic case.

The CSV files are parsed once per process (they are small and immutable) and
read through :mod:`importlib.resources`, so the case works from a source
checkout, an installed wheel or a zip import alike.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from caudal.model.problem import Bound, Problem, ProblemError, Stage, Variable
from caudal.model.size import too_large

N_SUBSYSTEMS = 4
"""Subsystems 0..3 (SE/CO, S, NE, N) have a reservoir and a demand."""

TRANSSHIPMENT = 4
"""Node 4 only passes energy on: no demand, no generation."""

N_NODES = N_SUBSYSTEMS + 1

SPILL_COST = 0.001
"""Cost of spilled energy: small, so the LP prefers storing or generating."""

DISCOUNT = 0.9906
"""Monthly discount factor of the published studies."""

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True, eq=False)
class Brazil4Data:
    """The case's data as arrays (read-only: it is shared by every build)."""

    storage_capacity: np.ndarray  # [4] upper bound of stored energy
    initial_storage: np.ndarray  # [4] stored energy before stage 0
    first_inflow: np.ndarray  # [4] known inflow of stage 0
    hydro_capacity: np.ndarray  # [4] maximum hydro generation
    demand: np.ndarray  # [12 months, 4]
    deficit_cost: np.ndarray  # [segments]
    deficit_depth: np.ndarray  # [segments] fraction of the month's demand
    thermal: tuple[np.ndarray, ...]  # per subsystem: [plants, 3] columns LB, UB, OBJ
    exchange_limit: np.ndarray  # [5, 5] from row to column
    exchange_cost: np.ndarray  # [5, 5]
    years: np.ndarray  # [82] complete historical years, ascending
    inflow_history: np.ndarray  # [years, 12 months, 4]

    @property
    def n_years(self) -> int:
        return int(self.years.shape[0])


def _read_table(name: str, delimiter: str = ",") -> list[list[str]]:
    """Rows of a data file, header included, stripped of any byte-order mark."""
    text = resources.files("caudal.examples").joinpath("data", "brazil4", name).read_text(encoding="utf-8-sig")
    return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text), delimiter=delimiter) if row]


def _numeric_table(name: str) -> tuple[list[str], list[str], np.ndarray]:
    """A table with a header row and a label column: (column labels, row labels, values)."""
    rows = _read_table(name)
    header, body = rows[0], rows[1:]
    values = np.array([[float(cell) for cell in row[1:]] for row in body])
    return header[1:], [row[0] for row in body], values


def _column(name: str, column: str) -> np.ndarray:
    header, _, values = _numeric_table(name)
    return values[:, header.index(column)]


def _history(subsystem: int) -> dict[int, np.ndarray]:
    """Year -> 12 monthly inflows of one subsystem; years with a missing month are left out."""
    rows = _read_table(f"hist_{subsystem}.csv", delimiter=";")
    header, body = rows[0], rows[1:]
    if header != ["YEAR", *MONTHS]:
        raise ValueError(f"hist_{subsystem}.csv: unexpected header {header}")
    history = {}
    for row in body:
        try:
            history[int(row[0])] = np.array([float(cell) for cell in row[1:]])
        except ValueError:  # "NA" (or an empty cell) marks a missing value
            continue
    return {year: values for year, values in history.items() if np.all(np.isfinite(values))}


@functools.cache
def load_data() -> Brazil4Data:
    """Parse the case's CSV files (once per process)."""
    hydro_header, hydro_rows, hydro = _numeric_table("hydro.csv")
    ub, initial = hydro_header.index("UB"), hydro_header.index("INITIAL")

    def hydro_row(prefix: str, column: int) -> np.ndarray:
        return np.array([hydro[hydro_rows.index(f"{prefix}_{i}"), column] for i in range(N_SUBSYSTEMS)])

    _, _, demand = _numeric_table("demand.csv")
    histories = [_history(i) for i in range(N_SUBSYSTEMS)]
    # Openings are joint across subsystems, so a year counts only if every subsystem has it whole.
    years = sorted(set.intersection(*(set(h) for h in histories)))
    inflow_history = np.stack([np.stack([h[year] for h in histories], axis=1) for year in years])
    _, _, exchange_limit = _numeric_table("exchange.csv")
    _, _, exchange_cost = _numeric_table("exchange_cost.csv")
    thermal = []
    for i in range(N_SUBSYSTEMS):
        header, _, values = _numeric_table(f"thermal_{i}.csv")
        thermal.append(values[:, [header.index("LB"), header.index("UB"), header.index("OBJ")]])
    data = Brazil4Data(
        storage_capacity=hydro_row("StoredEnergy", ub),
        initial_storage=hydro_row("StoredEnergy", initial),
        first_inflow=hydro_row("inflow", initial),
        hydro_capacity=hydro_row("hydro", ub),
        demand=demand,
        deficit_cost=_column("deficit.csv", "OBJ"),
        deficit_depth=_column("deficit.csv", "DEPTH"),
        thermal=tuple(thermal),
        exchange_limit=exchange_limit,
        exchange_cost=exchange_cost,
        years=np.array(years, dtype=np.int64),
        inflow_history=inflow_history,
    )
    _check_shapes(data)
    for value in vars(data).values():
        for array in value if isinstance(value, tuple) else (value,):
            array.setflags(write=False)
    return data


def _check_shapes(data: Brazil4Data) -> None:
    expected = {
        "demand": (12, N_SUBSYSTEMS),
        "exchange_limit": (N_NODES, N_NODES),
        "exchange_cost": (N_NODES, N_NODES),
        "inflow_history": (data.n_years, 12, N_SUBSYSTEMS),
    }
    for name, shape in expected.items():
        if getattr(data, name).shape != shape:
            raise ValueError(f"brazil4 data: {name} has shape {getattr(data, name).shape}, expected {shape}")


STAGE_BYTES = 64 * 1024
"""Memory a stage of brazil4 takes while it is built and compiled (measured: about 52 KiB)."""


def brazil4(
    stages: int = 12,
    openings: int | None = None,
    first_inflow: Sequence[float] | np.ndarray | None = None,
    discount: float = DISCOUNT,
    demand_scale: float = 1.0,
) -> Problem:
    """The brazil4 hydrothermal problem (risk neutral), as in ``data/brazil4/README.md``.

    Parameters
    ----------
    stages:
        Horizon in months; stage ``t`` uses calendar month ``t % 12`` (stage 0 is
        January). 120 is the published operating study.
    openings:
        Openings of every stage after the first. ``None`` uses all 82 complete
        historical years (1931-2013 without 1983). An integer ``n`` uses the
        *first* ``n`` of them in chronological order, so that small cases are
        deterministic and nested (the openings of ``n`` are among those of
        ``n + 1``); it is meant for tests and quick experiments, not as a
        representative sample.
    first_inflow:
        The known inflows of the first stage, one per subsystem (default: the
        INITIAL inflows of ``hydro.csv``; MSPPy's pre-2019 values were
        39717.564, 6632.5141, 15897.183, 2525.2938).
    discount:
        Monthly discount factor: stage ``t``'s cost is multiplied by
        ``discount**t``.
    demand_scale:
        Multiplies every subsystem's monthly demand (the deficit segments,
        fractions of the demand, follow): one knob for demand-growth studies
        such as ``caudal sweep --grid demand_scale=0.9,1.0,1.1``.

    All costs are non-negative, so the problem's ``value_bound`` is 0.
    """
    data = load_data()
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
        raise ProblemError(f"brazil4: stages must be a positive integer, got {stages!r}")
    if openings is None:
        n_openings = data.n_years
    elif isinstance(openings, bool) or not isinstance(openings, int) or not 1 <= openings <= data.n_years:
        raise ProblemError(f"brazil4: openings must be an integer in 1..{data.n_years}, got {openings!r}")
    else:
        n_openings = openings
    if first_inflow is None:
        known_inflow = data.first_inflow
    else:
        known_inflow = np.asarray(first_inflow, dtype=np.float64).reshape(-1)
        if known_inflow.shape != (N_SUBSYSTEMS,) or not np.all(np.isfinite(known_inflow)):
            raise ProblemError(f"brazil4: first_inflow must be {N_SUBSYSTEMS} finite numbers, got {first_inflow!r}")
    if not (isinstance(discount, int | float) and math.isfinite(discount) and discount > 0):
        raise ProblemError(f"brazil4: discount must be a positive number, got {discount!r}")
    if not (isinstance(demand_scale, int | float) and math.isfinite(demand_scale) and demand_scale >= 0):
        raise ProblemError(f"brazil4: demand_scale must be a non-negative number, got {demand_scale!r}")

    if (problem := too_large(f"{stages} stages", STAGE_BYTES * stages)) is not None:
        raise ProblemError(f"brazil4: {problem}")
    problem = Problem(sense="min", value_bound=0.0, name="brazil4")
    for t in range(stages):
        month = t % 12
        # The stage's own discount multiplies the cost-to-go after it, so stage t is weighted discount**t.
        stage = problem.add_stage(discount=discount, name=f"month {t} ({MONTHS[month]})")
        if t == 0:
            inflow: list[Bound] = [float(value) for value in known_inflow]
        else:
            history = data.inflow_history[:n_openings, month, :]
            inflow = [stage.add_uncertain(f"inflow_{i}", history[:, i]) for i in range(N_SUBSYSTEMS)]
        _add_stage_problem(stage, data, month, inflow, demand_scale)
    return problem


def _add_stage_problem(
    stage: Stage, data: Brazil4Data, month: int, inflow: Sequence[Bound], demand_scale: float = 1.0
) -> None:
    """Variables and constraints of one month (the README's "stage problem")."""
    stored = [
        stage.add_state(
            f"stored_{i}",
            lower=0.0,
            upper=float(data.storage_capacity[i]),
            initial=float(data.initial_storage[i]),
        )
        for i in range(N_SUBSYSTEMS)
    ]
    spill = [stage.add_variable(f"spill_{i}", cost=SPILL_COST) for i in range(N_SUBSYSTEMS)]
    hydro = [stage.add_variable(f"hydro_{i}", upper=float(data.hydro_capacity[i])) for i in range(N_SUBSYSTEMS)]
    # An arc with a zero limit is fixed at zero (the diagonal among them); leaving
    # it out changes neither the feasible set nor the optimum, only the LP's size.
    exchange = {
        (a, b): stage.add_variable(
            f"exchange_{a}_{b}", upper=float(data.exchange_limit[a, b]), cost=float(data.exchange_cost[a, b])
        )
        for a in range(N_NODES)
        for b in range(N_NODES)
        if data.exchange_limit[a, b] > 0
    }
    for i in range(N_SUBSYSTEMS):
        demand = demand_scale * float(data.demand[month, i])
        supply = {hydro[i]: 1.0}
        for k, (lower, upper, cost) in enumerate(data.thermal[i]):
            plant = stage.add_variable(f"thermal_{i}_{k}", lower=float(lower), upper=float(upper), cost=float(cost))
            supply[plant] = 1.0
        for j, (cost, depth) in enumerate(zip(data.deficit_cost, data.deficit_depth, strict=True)):
            segment = stage.add_variable(f"deficit_{i}_{j}", upper=float(depth) * demand, cost=float(cost))
            supply[segment] = 1.0
        stage.add_constraint({**supply, **_net_import(exchange, i)}, "==", demand, name=f"demand_{i}")
    stage.add_constraint(_net_import(exchange, TRANSSHIPMENT), "==", 0.0, name="transshipment")
    for i in range(N_SUBSYSTEMS):
        stage.add_constraint(
            {stored[i].out: 1.0, spill[i]: 1.0, hydro[i]: 1.0, stored[i].incoming: -1.0},
            "==",
            inflow[i],
            name=f"water_{i}",
        )


def _net_import(exchange: dict[tuple[int, int], Variable], node: int) -> dict[Variable, float]:
    """Coefficients of energy flowing into ``node`` (+1) and out of it (-1)."""
    terms = {}
    for (a, b), variable in exchange.items():
        if b == node:
            terms[variable] = 1.0
        elif a == node:
            terms[variable] = -1.0
    return terms
