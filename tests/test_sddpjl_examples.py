"""Published values of SDDP.jl's examples, reached through caudal's API.

The reference is the value asserted in SDDP.jl's own test of each example,
with the tolerance asserted there (see ``sddpjl_examples.py`` for the sources
and for what cannot be rebuilt). The trees are small, so the deterministic
equivalent (the whole tree as one LP, solved by HiGHS without SDDP) must reach
the published value too: if it did not, the builder would be wrong, whatever
the training says.

Iteration counts are SDDP.jl's where the file sets one. SDDP.jl samples its
forward passes with its own random numbers, so "after 20 iterations" is
checked for several seeds: the published value must not depend on luck.
"""

from __future__ import annotations

import numpy as np
import pytest
from problems import deterministic_optimum
from sddpjl_examples import (
    HYDRO_VALLEY_DETERMINISTIC,
    HYDRO_VALLEY_DETERMINISTIC_ATOL,
    HYDRO_VALLEY_DRO,
    HYDRO_VALLEY_DRO_ATOL,
    HYDRO_VALLEY_STAGEWISE,
    HYDRO_VALLEY_STAGEWISE_ATOL,
    PROB52_ATOL,
    PROB52_OPTIMUM,
    ModifiedChiSquared,
    hydro_valley,
    prob52_3stages,
)

import caudal
from caudal.sddp.risk import check_weights

SEEDS = (0, 1, 2)


def test_hydro_valley_stagewise_deterministic_equivalent_is_the_published_value():
    assert deterministic_optimum(hydro_valley()) == pytest.approx(HYDRO_VALLEY_STAGEWISE,
                                                                  abs=HYDRO_VALLEY_STAGEWISE_ATOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_hydro_valley_stagewise_bound_after_20_iterations(seed):
    """hydro_valley.jl: ``hasmarkovprice = false``, 20 iterations, bound 838.33 to 1e-2 (a maximisation)."""
    result = caudal.train(hydro_valley(), iterations=20, seed=seed)
    assert result.bound == pytest.approx(HYDRO_VALLEY_STAGEWISE, abs=HYDRO_VALLEY_STAGEWISE_ATOL)
    # Maximising, the bound is an upper bound at every iteration.
    optimum = deterministic_optimum(hydro_valley())
    assert all(record.lower_bound >= optimum - 1e-6 for record in result.history)


def test_hydro_valley_minimising_the_negated_objective_gives_the_negated_bound():
    """The file's ``sense = :Min`` flips the objective; the bound flips with it."""
    result = caudal.train(hydro_valley(sense="min"), iterations=20, seed=0)
    assert result.bound == pytest.approx(-HYDRO_VALLEY_STAGEWISE, abs=HYDRO_VALLEY_STAGEWISE_ATOL)


def test_hydro_valley_deterministic_with_cut_selection():
    """hydro_valley.jl, "deterministic": 10 iterations, deleting cuts every iteration, 835.0 to 1e-3.

    SDDP.jl's ``cut_deletion_minimum = 1`` runs its Level-1 cut selection
    whenever a stage has a cut; caudal's :class:`~caudal.Level1` runs after
    every new cut, which is the same schedule.
    """
    problem = hydro_valley(stagewise_inflows=False)
    assert deterministic_optimum(problem) == pytest.approx(HYDRO_VALLEY_DETERMINISTIC,
                                                           abs=HYDRO_VALLEY_DETERMINISTIC_ATOL)
    result = caudal.train(problem, iterations=10, seed=0, cut_selection=caudal.Level1())
    assert result.bound == pytest.approx(HYDRO_VALLEY_DETERMINISTIC, abs=HYDRO_VALLEY_DETERMINISTIC_ATOL)


def test_prob52_3stages_deterministic_equivalent_is_the_published_value():
    """The file asserts the deterministic equivalent itself: 406712.49 to 0.1."""
    assert deterministic_optimum(prob52_3stages()) == pytest.approx(PROB52_OPTIMUM, abs=PROB52_ATOL)


@pytest.mark.parametrize("seed", SEEDS)
def test_prob52_3stages_trains_to_the_published_value(seed):
    """The file trains with SDDP.jl's default stopping rule; 40 iterations are ample for a 4-scenario tree.

    Minimising, the bound stays below the optimum at every iteration.
    """
    result = caudal.train(prob52_3stages(), iterations=40, seed=seed)
    assert result.bound == pytest.approx(PROB52_OPTIMUM, abs=PROB52_ATOL)
    assert all(record.lower_bound <= PROB52_OPTIMUM + PROB52_ATOL for record in result.history)


@pytest.mark.parametrize(("radius", "iterations", "published"), HYDRO_VALLEY_DRO)
def test_hydro_valley_distributionally_robust(radius, iterations, published):
    """hydro_valley.jl, "Distributionally robust Optimization": a measure written against caudal's interface.

    The largest radius puts all the weight on the driest opening, so the
    bound is the worst case, 835 (the file derives it by hand).
    """
    result = caudal.train(hydro_valley(), iterations=iterations, seed=0, risk_measure=ModifiedChiSquared(radius))
    assert result.bound == pytest.approx(published, abs=HYDRO_VALLEY_DRO_ATOL)


def test_modified_chi_squared_weights_are_the_worst_distribution_in_the_ball():
    """Feasible (a probability vector within the radius) and not beaten by any sampled feasible distribution."""
    rng = np.random.default_rng(7)
    for _ in range(50):
        n = int(rng.integers(2, 7))
        probabilities, values, radius = rng.dirichlet(np.ones(n)), rng.normal(size=n), rng.uniform(0.0, 1.0)
        weights = ModifiedChiSquared(radius).weights(probabilities, values)
        check_weights(weights, probabilities)
        assert np.linalg.norm(weights - probabilities) <= radius + 1e-9
        candidates = rng.dirichlet(np.full(n, 0.3), size=500)
        inside = candidates[np.linalg.norm(candidates - probabilities, axis=1) <= radius]
        assert np.all(inside @ values <= weights @ values + 1e-9)
