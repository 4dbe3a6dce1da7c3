"""The performance model: its traffic and collective counts follow the code, its terms scale as documented."""

from __future__ import annotations

import numpy as np
import pytest

from caudal.profiling.columns import INDEX, WIDTH
from caudal.profiling.performance_model import (
    INFINIBAND_HDR,
    CaseShape,
    Costs,
    bytes_per_iteration,
    calibrate,
    collectives_per_iteration,
    communication_seconds,
    iteration_seconds,
)

SHAPE = CaseShape(stages=120, openings=20, forward_passes=192, states=160, columns=1400, rows=172)
COSTS = Costs(forward=(1e-3, 1e-7), backward=(2e-3, 2e-7), cache=(1e-4, 1e-8), rest=0.01)


def test_traffic_per_iteration():
    traffic = bytes_per_iteration(SHAPE, iteration=1)
    assert traffic["cuts (intercepts, coefficients)"] == 119 * 192 * 161 * 8
    assert traffic["forward costs and trial states"] == 192 * 8 + 192 * 120 * 160 * 8
    assert collectives_per_iteration(120) == 4 + 6 * 119 + 8 + 120


def test_one_rank_does_not_communicate_and_latency_grows_with_log_ranks():
    assert communication_seconds(SHAPE, 1, INFINIBAND_HDR) == {"latency": 0.0, "bandwidth": 0.0}
    at4, at256 = (communication_seconds(SHAPE, r, INFINIBAND_HDR)["latency"] for r in (4, 256))
    assert at256 == pytest.approx(4 * at4)


def test_compute_divides_by_workers_until_the_forward_passes_run_out():
    one = iteration_seconds(SHAPE, COSTS, 1, 1, INFINIBAND_HDR, iteration=5)
    at64 = iteration_seconds(SHAPE, COSTS, 64, 1, INFINIBAND_HDR, iteration=5)
    at192 = iteration_seconds(SHAPE, COSTS, 192, 1, INFINIBAND_HDR, iteration=5)
    at256 = iteration_seconds(SHAPE, COSTS, 256, 1, INFINIBAND_HDR, iteration=5)
    assert at64["backward"] == pytest.approx(one["backward"] / 64)
    assert at256["backward"] == at192["backward"]  # 192 trial states: the extra workers idle
    assert at64["cache"] == one["cache"]  # assembled on every node, serially
    assert iteration_seconds(SHAPE, COSTS, 4, 1, INFINIBAND_HDR, 5, cores_per_node=2)["backward"] == pytest.approx(
        2 * at64["backward"] * 16)


def test_cut_selection_caps_the_cuts():
    capped = CaseShape(**{**SHAPE.__dict__, "max_active_cuts": 1000})
    assert capped.cuts(3) == 576 and capped.cuts(50) == 1000 and SHAPE.cuts(50) == 9600
    assert SHAPE.backward_cuts(1) == pytest.approx(192 * 118 / 119)  # the last stage holds no cuts


def test_calibrate_recovers_linear_costs():
    shape = CaseShape(stages=5, openings=3, forward_passes=2, states=4, columns=20, rows=10)
    rows = np.zeros((4, WIDTH))
    for k in range(4):
        i = k + 1
        rows[k, INDEX["iteration"]] = i
        rows[k, INDEX["busy_forward_s"]] = 5 * 2 * (1e-3 + 1e-6 * shape.forward_cuts(i))
        rows[k, INDEX["forward_s"]] = rows[k, INDEX["busy_forward_s"]] + 5 * 1e-4
        rows[k, INDEX["busy_backward_s"]] = 4 * 2 * 3 * (2e-3 + 3e-6 * shape.backward_cuts(i))
        rows[k, INDEX["backward_s"]] = rows[k, INDEX["busy_backward_s"]]
        rows[k, INDEX["cache_s"]] = 4 * (1e-4 + 1e-7 * shape.cuts(i) * 5)
        rows[k, INDEX["wall_s"]] = rows[k, INDEX["forward_s"]] + rows[k, INDEX["backward_s"]] + rows[
            k, INDEX["cache_s"]] + 0.01
    rows[:, INDEX["busy_s"]] = rows[:, INDEX["busy_forward_s"]] + rows[:, INDEX["busy_backward_s"]]
    rows[:, INDEX["busy_cpu_s"]] = rows[:, INDEX["busy_s"]]
    costs = calibrate({name: rows[:, i] for name, i in INDEX.items()}, shape, cpu=True)
    assert costs.forward == pytest.approx((1e-3, 1e-6))
    assert costs.backward == pytest.approx((2e-3, 3e-6))
    assert costs.cache == pytest.approx((1e-4, 1e-7))
    assert costs.rest == pytest.approx(0.01)
    assert costs.stage_overhead == pytest.approx((1e-4, 0.0), abs=1e-12)


def test_uneven_solve_times_slow_the_stage_down_only_with_several_workers():
    even = iteration_seconds(SHAPE, COSTS, 192, 1, INFINIBAND_HDR, iteration=5)
    uneven = iteration_seconds(SHAPE, COSTS, 192, 1, INFINIBAND_HDR, iteration=5, sigma=0.1)
    alone = iteration_seconds(SHAPE, COSTS, 1, 1, INFINIBAND_HDR, iteration=5, sigma=0.1)
    assert uneven["backward"] > even["backward"] * 1.25
    assert alone == iteration_seconds(SHAPE, COSTS, 1, 1, INFINIBAND_HDR, iteration=5)
