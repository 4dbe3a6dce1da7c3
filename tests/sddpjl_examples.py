"""Examples from SDDP.jl's test suite, rebuilt through caudal's public API.

SDDP.jl (https://github.com/odow/SDDP.jl, MPL-2.0) keeps runnable examples
with asserted bounds under ``docs/src/examples``. Those asserted bounds are
values computed by an independent SDDP implementation, so matching them checks
caudal's whole chain (problem builder, sign handling for maximisation,
probabilities, cuts, bound) against someone else's. The builders below are
written from the mathematical formulation in those files, not translated line
by line; each docstring names the source file and says where caudal's form
differs and why the difference does not change the optimum.

What cannot be rebuilt: the Markov-chain variants of ``hydro_valley.jl``. Their
price (an objective coefficient) follows a Markov chain whose transition in
stage 3 depends on the price state of stage 2. caudal's problems have
stagewise-independent openings that change right-hand sides and bounds only,
so neither a random objective coefficient nor a dependence between stages'
noises can be written without reformulating the model, and a reformulation
would no longer test the published model.
"""

from __future__ import annotations

import math

import numpy as np

from caudal import Problem

# -- hydro_valley.jl ---------------------------------------------------------

HYDRO_VALLEY_SOURCE = "odow/SDDP.jl docs/src/examples/hydro_valley.jl"

HYDRO_VALLEY_STAGEWISE = 838.33
"""``test_hydro_valley_model``, "stagewise inflows": the bound after 20 iterations."""

HYDRO_VALLEY_STAGEWISE_ATOL = 1e-2

HYDRO_VALLEY_DETERMINISTIC = 835.0
"""``test_hydro_valley_model``, "deterministic": the bound after 10 iterations with cut deletion."""

HYDRO_VALLEY_DETERMINISTIC_ATOL = 1e-3

PRICES = (1.0, 2.0, 3.0)
"""Electricity price per stage: the first column of the file's price table (Markov state 1)."""

FLOW_KNOTS = (50.0, 60.0, 70.0)
POWER_KNOTS = (55.0, 65.0, 70.0)
"""Both turbines share one response curve: flow ``FLOW_KNOTS[k]`` makes power ``POWER_KNOTS[k]``."""

SPILL_COST = 1000.0

INFLOWS = ((0.0, 20.0, 50.0), (0.0, 0.0, 20.0))
"""``INFLOWS[r]``: the inflow list of reservoir ``r``; entry 0 is also the known first-stage inflow."""


def hydro_valley(stagewise_inflows: bool = True, sense: str = "max") -> Problem:
    """Two hydro dams in a valley chain over three stages, selling power at a known price.

    Source: ``hydro_valley.jl`` (``hydro_valley_model(hasmarkovprice=false)``).
    Per stage ``t`` and reservoir ``r``: storage ``reservoir_r`` in ``[0, 200]``
    (a state, 200 at the start); the upper dam's outflow and spill flow into
    the lower one. A turbine is dispatched as a convex combination
    (``dispatch_r_k`` in ``[0, 1]``, summing to at most 1) of three operating
    points (flow, power); revenue is ``price_t * generation`` less 1000 per
    unit spilled.

    Inflows: in the first stage ``inflow_r <= INFLOWS[r][0]`` (both 0). With
    ``stagewise_inflows``, stages 2 and 3 draw the pair ``(inflow_0, inflow_1)``
    uniformly from (0, 0), (20, 0), (50, 20) - the file builds the pairs by
    zipping the two reservoirs' inflow lists. Without it every stage keeps the
    first stage's bound (the file's "deterministic" case).

    Differences in form, not in the optimum: the file fixes a free ``rainfall``
    variable to the noise and bounds ``inflow <= rainfall``; here the noise is
    the right-hand side of ``inflow <= noise`` directly. The file's
    ``hasmarkovprice=false`` builds a one-state chain (transition matrices of
    ones), which is a plain linear policy graph: three stages.

    ``sense="max"`` is the file's default, with an upper bound of 1e6 on the
    value function; ``sense="min"`` negates the objective (the file's
    ``flipobj``) and bounds the value function below by -1e6.
    """
    flip = 1.0 if sense == "max" else -1.0
    problem = Problem(sense=sense, value_bound=flip * 1e6, name=f"SDDP.jl hydro_valley ({sense})")
    n_reservoirs = len(INFLOWS)
    for t, price in enumerate(PRICES):
        stage = problem.add_stage(name=f"stage {t + 1}")
        storage = [
            stage.add_state(f"reservoir_{r}", lower=0.0, upper=200.0, initial=200.0) for r in range(n_reservoirs)
        ]
        outflow = [stage.add_variable(f"outflow_{r}") for r in range(n_reservoirs)]
        spill = [stage.add_variable(f"spill_{r}", cost=-flip * SPILL_COST) for r in range(n_reservoirs)]
        inflow = [stage.add_variable(f"inflow_{r}") for r in range(n_reservoirs)]
        generation = stage.add_variable("generation", cost=flip * price)
        dispatch = [
            [stage.add_variable(f"dispatch_{r}_{k}", upper=1.0) for k in range(len(FLOW_KNOTS))]
            for r in range(n_reservoirs)
        ]
        for r in range(n_reservoirs):
            # storage out = storage in + inflow - outflow - spill (+ the upstream dam's outflow and spill)
            balance = {storage[r].out: 1.0, storage[r].incoming: -1.0, inflow[r]: -1.0, outflow[r]: 1.0, spill[r]: 1.0}
            if r > 0:
                balance[outflow[r - 1]] = -1.0
                balance[spill[r - 1]] = -1.0
            stage.add_constraint(balance, "==", 0.0, name=f"flow_{r}")
        stage.add_constraint(
            {generation: 1.0} | {d: -power for row in dispatch for d, power in zip(row, POWER_KNOTS, strict=True)},
            "==",
            0.0,
            name="generation",
        )
        for r in range(n_reservoirs):
            turbine = {outflow[r]: 1.0} | {d: -flow for d, flow in zip(dispatch[r], FLOW_KNOTS, strict=True)}
            stage.add_constraint(turbine, "==", 0.0, name=f"turbine_flow_{r}")
            stage.add_constraint(dict.fromkeys(dispatch[r], 1.0), "<=", 1.0, name=f"dispatched_{r}")
        for r in range(n_reservoirs):
            if stagewise_inflows and t > 0:
                noise = stage.add_uncertain(f"rainfall_{r}", INFLOWS[r])
                stage.add_constraint({inflow[r]: 1.0}, "<=", noise, name=f"inflow_noise_{r}")
            else:
                stage.add_constraint({inflow[r]: 1.0}, "<=", INFLOWS[r][0], name=f"initial_inflow_noise_{r}")
    return problem


# -- StructDualDynProg.jl_prob5.2_3stages.jl -----------------------------------

PROB52_SOURCE = "odow/SDDP.jl docs/src/examples/StructDualDynProg.jl_prob5.2_3stages.jl"

PROB52_OPTIMUM = 406712.49
"""The asserted value of both the deterministic equivalent and the trained bound."""

PROB52_ATOL = 0.1

PROB52_INVESTMENT_COST = (16.0, 5.0, 32.0, 2.0)
"""``i_c``: cost per unit of new capacity of each of the 4 technologies."""

PROB52_OPERATING_COST = (25.0, 80.0, 6.5, 160.0)
"""``C``: operating cost per unit of each technology."""

PROB52_DURATION = tuple(hours / 8760.0 for hours in (8760.0, 7000.0, 1500.0))
"""``T``: fraction of the year each of the 3 load blocks lasts."""

PROB52_CUMULATIVE_DEMAND = ((3919.0, 7329.0, 10315.0), (7086.0, 9004.0, 11169.0))
"""Per demand scenario, the load-duration curve as cumulative demand; block demands are its differences."""

PROB52_PROBABILITIES = (0.9, 0.1)

PROB52_PENALTY = 1e5
"""Cost per unit of unserved demand."""


def prob52_3stages() -> Problem:
    """Capacity expansion under uncertain demand, 4 technologies, 3 load blocks, 3 stages.

    Source: ``StructDualDynProg.jl_prob5.2_3stages.jl`` (after blegat's
    StochasticDualDynamicProgramming.jl ``test/prob5.2_3stages.jl``).
    Per stage: capacity ``x_i`` (a state, 0 at the start) grows by the
    investment ``v_i >= 0`` at cost ``i_c[i]``; production ``y_ij >= 0`` of
    technology ``i`` in block ``j`` uses at most the *incoming* capacity and
    costs ``C[i] * T[j]``; ``sum_i y_ij + penalty >= demand_j``, unserved
    demand costing 1e5. No investment in the last stage.

    Demand: stages 2 and 3 draw one of two load-duration curves with
    probabilities 0.9 and 0.1, independently. In the first stage the file
    leaves the demand variables ``ξ`` free (no ``parameterize``), so the demand
    rows are slack there: the first stage only invests. Here the demand is the
    rows' right-hand side, and the first stage has no demand rows, which is
    the same feasible set for ``x``, ``v``, ``y`` and ``penalty``.
    """
    investment = np.array(PROB52_INVESTMENT_COST)
    operating = np.array(PROB52_OPERATING_COST)
    duration = np.array(PROB52_DURATION)
    block_demand = np.diff(np.array(PROB52_CUMULATIVE_DEMAND), prepend=0.0, axis=1)  # [scenario, block]
    n_tech, n_blocks = investment.size, duration.size
    problem = Problem(sense="min", value_bound=0.0, name="SDDP.jl StructDualDynProg prob 5.2, 3 stages")
    for t in range(3):
        stage = problem.add_stage(name=f"stage {t + 1}")
        capacity = [stage.add_state(f"x_{i}", lower=0.0, upper=math.inf, initial=0.0) for i in range(n_tech)]
        invest = [stage.add_variable(f"v_{i}", cost=float(investment[i])) for i in range(n_tech)]
        produce = [
            [stage.add_variable(f"y_{i}_{j}", cost=float(operating[i] * duration[j])) for j in range(n_blocks)]
            for i in range(n_tech)
        ]
        penalty = stage.add_variable("penalty", cost=PROB52_PENALTY)
        for i in range(n_tech):
            stage.add_constraint(
                {capacity[i].out: 1.0, capacity[i].incoming: -1.0, invest[i]: -1.0}, "==", 0.0, name=f"expand_{i}"
            )
            stage.add_constraint(
                dict.fromkeys(produce[i], 1.0) | {capacity[i].incoming: -1.0}, "<=", 0.0, name=f"capacity_{i}"
            )
        if t > 0:
            for j in range(n_blocks):
                demand = stage.add_uncertain(f"demand_{j}", block_demand[:, j])
                serve = {produce[i][j]: 1.0 for i in range(n_tech)} | {penalty: 1.0}
                stage.add_constraint(serve, ">=", demand, name=f"demand_{j}")
            stage.set_probabilities(PROB52_PROBABILITIES)
        if t == 2:
            stage.add_constraint(dict.fromkeys(invest, 1.0), "==", 0.0, name="no_investment")
    return problem


# -- a risk measure through the plugin interface -------------------------------

HYDRO_VALLEY_DRO = ((math.sqrt(2.0 / 3.0) - 1e-6, 10, 835.0), (1.0 / 6.0, 20, 836.695))
"""``test_hydro_valley_model``, "Distributionally robust Optimization" (``hasmarkovprice = false``):
(radius, iterations, asserted bound), both asserted to within 1.0."""

HYDRO_VALLEY_DRO_ATOL = 1.0


class ModifiedChiSquared:
    """The distributionally robust measure of Philpott, de Matos and Kapelevich (2018), as SDDP.jl names it.

    The weights are the distribution within Euclidean distance ``radius`` of
    the nominal probabilities ``p`` that makes the expected cost highest:
    ``max q.z`` over ``|q - p| <= radius``, ``q >= 0``, ``sum q = 1``. caudal
    does not ship it; it is written here against caudal's risk-measure
    interface (one ``weights`` method) to reproduce SDDP.jl's published
    bounds, which also checks that the interface carries such a measure.

    The optimality conditions give ``q = max(0, p + s (z - nu))`` for some
    step ``s >= 0`` and shift ``nu``, that is ``q(s)``, the Euclidean
    projection of ``p + s z`` onto the simplex. Its distance from ``p`` grows
    with ``s``, so ``s`` is found by bisection to put ``q`` on the sphere;
    when even the limit (all weight on the costliest openings) lies inside
    the ball, the limit is the answer. As in SDDP.jl, values whose population
    standard deviation is below ``minimum_std`` get the nominal probabilities.
    """

    def __init__(self, radius: float, minimum_std: float = 1e-5):
        if radius < 0:
            raise ValueError(f"radius must be non-negative, got {radius}")
        self.radius = radius
        self.minimum_std = minimum_std

    def weights(self, probabilities: np.ndarray, values: np.ndarray) -> np.ndarray:
        if np.std(values) < self.minimum_std or self.radius == 0.0:
            return probabilities
        worst = values == values.max()
        limit = np.zeros_like(probabilities)  # as s grows, the costliest openings take all the weight
        limit[worst] = _project_to_simplex(probabilities[worst])
        if np.linalg.norm(limit - probabilities) <= self.radius:
            return limit
        scale = 1.0 / (values.max() - values.min())  # steps are relative to the spread of the values
        low, high = 0.0, scale
        while np.linalg.norm(_project_to_simplex(probabilities + high * values) - probabilities) < self.radius:
            low, high = high, 2.0 * high
        for _ in range(200):
            middle = 0.5 * (low + high)
            if np.linalg.norm(_project_to_simplex(probabilities + middle * values) - probabilities) < self.radius:
                low = middle
            else:
                high = middle
            if high - low <= 1e-15 * high:
                break
        return _project_to_simplex(probabilities + low * values)


def _project_to_simplex(point: np.ndarray) -> np.ndarray:
    """The nearest probability vector to ``point`` (Euclidean): ``max(0, point - nu)`` summing to 1."""
    ordered = np.sort(point)[::-1]
    cumulative = np.cumsum(ordered) - 1.0
    ranks = np.arange(1, point.size + 1)
    last = np.nonzero(ordered - cumulative / ranks > 0)[0][-1]
    return np.maximum(point - cumulative[last] / (last + 1), 0.0)
