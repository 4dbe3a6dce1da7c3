"""HiGHS options chosen for the cost of a ``Highs_run``, not for the simplex path: results must not move.

``configure_for_sddp`` (native/sddp_options.pxd) sets ``log_dev_level`` to 1 so
that HiGHS skips a progress line it formats after every solve. These tests
hold the claim that made it acceptable: with output off nothing is printed,
and every value a work item returns is bit-identical to HiGHS's default level.
"""

from __future__ import annotations

import numpy as np
import pytest
from hydro_problems import random_hydro

import caudal
from caudal.sddp.stage_cache import StageCache
from caudal.solver.native_workspace import NATIVE_AVAILABLE, NativeWorkspace
from caudal.solver.workspace import Basis

pytestmark = pytest.mark.skipif(not NATIVE_AVAILABLE, reason="native extension not built")


@pytest.fixture(scope="module")
def trained() -> StageCache:
    result = caudal.train(random_hydro(4, 5, 6, seed=3), iterations=6, forward_passes=3, seed=1, threads=1)
    return StageCache(result.policy.problem, result.policy.cut_pools)


def every_result(cache: StageCache, overrides: dict) -> list[np.ndarray]:
    """Backward and forward work items at every stage, from a kernel created under ``overrides``."""
    from caudal import _native

    _native.set_option_overrides(overrides)
    try:
        ws = NativeWorkspace()
    finally:
        _native.set_option_overrides({})
    states = np.random.default_rng(5).uniform(0, 200, (3, cache.problem.n_states))
    results = []
    for t in range(1, cache.problem.n_stages):
        lp = cache.lps[t]
        n_open = lp.template.n_openings
        for state in states:
            values, subgradients, final = np.empty(n_open), np.empty((n_open, state.shape[0])), Basis.slack(lp)
            ws.solve_backward(lp, cache.bases[t], state, 7, values, subgradients, final)
            results += [values, subgradients, final.col_status, final.row_status]
        k = states.shape[0]
        out = np.empty_like(states), np.empty(k), np.empty(k)
        openings = (np.arange(k) % n_open).astype(np.int32)
        ws.solve_forward(lp, cache.bases[t], states, openings, np.arange(k, dtype=np.int64), *out)
        results += list(out)
    return results


def test_the_developer_log_level_prints_nothing_and_moves_no_bit(trained: StageCache, capfd) -> None:
    from caudal._native import engine_options

    assert engine_options()["log_dev_level"] == 1
    capfd.readouterr()
    engine = every_result(trained, {})
    assert capfd.readouterr() == ("", "")  # HiGHS writes to the C streams: captured at the descriptors
    default_level = every_result(trained, {"log_dev_level": 0})
    assert len(engine) == len(default_level)
    for mine, theirs in zip(engine, default_level, strict=True):
        assert np.array_equal(mine, theirs)
