"""Every deterministic Cobre example reproduces its known cost, exactly and by SDDP.

The known costs are those of Cobre's README (and Cobre's own test suite); the
deterministic equivalent solves the case's caudal problem as one LP, and
training with the case's own config.json must reach the same value.
"""

from __future__ import annotations

import warnings

import pytest
from cobre_cases import DATA, KNOWN_COSTS, deterministic_case

import caudal
from caudal.hydro import cobre

TOLERANCE = 1e-6


def load(name: str) -> cobre.CobreStudy:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # d10's unused penalty_cost, tested elsewhere
        return cobre.load_case(deterministic_case(name))


@pytest.mark.parametrize("name", sorted(KNOWN_COSTS))
def test_deterministic_equivalent_reproduces_known_cost(name: str) -> None:
    study = load(name)
    objective = caudal.deterministic_equivalent(study.problem).objective
    assert objective == pytest.approx(KNOWN_COSTS[name], rel=TOLERANCE)


@pytest.mark.parametrize("name", sorted(KNOWN_COSTS))
def test_sddp_bound_reproduces_known_cost(name: str) -> None:
    study = load(name)
    settings = study.training
    result = caudal.train(
        study.problem, iterations=settings.iterations, forward_passes=settings.forward_passes, seed=settings.seed
    )
    assert result.lower_bound == pytest.approx(KNOWN_COSTS[name], rel=TOLERANCE)


def test_d19_with_caudals_own_openings_differs_only_by_its_tiny_noise() -> None:
    """Without Cobre's tree, d19 gets caudal's draws for its 0.001 m3/s noise: close, not equal."""
    study = cobre.load_case(DATA / "deterministic" / "d19-multi-hydro-par")
    assert study.noise_source == "generated"
    objective = caudal.deterministic_equivalent(study.problem).objective
    relative = abs(objective - KNOWN_COSTS["d19-multi-hydro-par"]) / KNOWN_COSTS["d19-multi-hydro-par"]
    assert 1e-6 < relative < 1e-3


def test_config_gives_the_training_settings() -> None:
    settings = load("d16-par1-lag-shift").training
    assert (settings.iterations, settings.forward_passes, settings.seed, settings.time_limit) == (50, 1, 42, None)
