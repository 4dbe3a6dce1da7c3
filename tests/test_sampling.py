"""Forward sampling schemes: in-sample, out-of-sample, historical."""

from __future__ import annotations

import numpy as np
import pytest
from problems import first_steps

import caudal
from caudal.sddp.sampling import InSample, ScenarioSampler, compile_for, scenario_stream


def test_in_sample_draws_follow_the_probabilities():
    compiled = first_steps().compile()
    sampler = ScenarioSampler(compiled, seed=3)
    draws = sampler.scenarios(0, range(3000))
    assert draws.min() == 0 and draws.max() == 2
    assert np.allclose(np.bincount(draws.ravel(), minlength=3) / draws.size, 1 / 3, atol=0.02)


def test_scenarios_depend_only_on_seed_iteration_and_pass():
    compiled = first_steps().compile()
    one = ScenarioSampler(compiled, seed=5).scenarios(7, range(10))
    part = ScenarioSampler(compiled, seed=5).scenarios(7, range(4, 10))
    assert np.array_equal(one[4:], part)
    assert not np.array_equal(one, ScenarioSampler(compiled, seed=6).scenarios(7, range(10)))


def test_out_of_sample_visits_only_its_own_realisations():
    scheme = caudal.OutOfSample([{"inflow": [10.0, 90.0]}] * 3)
    compiled = compile_for(first_steps(), scheme)
    template = compiled.templates[1]
    assert template.n_openings == 3 and template.row_patch_lower.shape[0] == 5
    rows = ScenarioSampler(compiled, 0, scheme).scenarios(0, range(200))
    assert set(np.unique(rows)) == {3, 4}
    assert set(template.row_patch_lower[3:, 0]) == {10.0, 90.0}


@pytest.mark.parametrize("solver", ["highspy", "native"])
def test_training_with_out_of_sample_forward_passes_still_converges(solver):
    """The backward pass still uses the openings, so the bound converges to the same optimum."""
    problem = first_steps()
    scheme = caudal.OutOfSample([{"inflow": [0.0, 25.0, 50.0, 75.0, 100.0]}] * 3)
    result = caudal.train(problem, iterations=40, forward_passes=3, sampling=scheme, solver=solver)
    assert result.lower_bound == pytest.approx(8333.3333333, rel=1e-6)


def test_historical_scenarios_are_taken_whole():
    scenarios = [[{"inflow": v}] * 3 for v in (0.0, 100.0)]
    scheme = caudal.Historical(scenarios)
    compiled = compile_for(first_steps(), scheme)
    rows = ScenarioSampler(compiled, 0, scheme).scenarios(0, range(50))
    assert set(map(tuple, rows)) == {(3, 3, 3), (4, 4, 4)}
    result = caudal.train(first_steps(), iterations=5, sampling=scheme, solver="highspy")
    assert all(r.lower_bound <= 8333.3333334 for r in result.history)
    # a wet year (inflow 100 in every stage) needs no thermal at all under any sensible policy
    assert min(r.upper_bound_mean for r in result.history) == 0.0


def test_bad_realisations_are_refused():
    with pytest.raises(caudal.ProblemError, match="random parameters"):
        compile_for(first_steps(), caudal.OutOfSample([{"rain": [1.0]}] * 3))


def _searchsorted_draw(cumulative: np.ndarray, uniform: float) -> int:
    """The draw as numpy finds it: the reference of ``InSample.draw_from``'s bisection."""
    return min(int(np.searchsorted(cumulative, uniform, side="right")), cumulative.size - 1)


class _FixedUniforms:
    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float64)

    def random(self, n):
        assert n == self.values.size
        return self.values


def test_in_sample_bisection_matches_searchsorted_at_the_edges():
    # uniforms exactly on a cumulative probability, at zero, and past a last cumulative sum that rounds below 1
    cumulative = np.cumsum([0.1, 0.2, 0.3, 0.3999999])
    uniforms = [0.0, cumulative[0], cumulative[1], np.nextafter(cumulative[2], 0.0), cumulative[2], 0.99999995]
    drawn = InSample.draw_from([cumulative.tolist()] * len(uniforms), _FixedUniforms(uniforms))
    assert drawn.dtype == np.int32
    assert drawn.tolist() == [_searchsorted_draw(cumulative, u) for u in uniforms] == [0, 1, 2, 2, 3, 3]


def test_sampler_draws_what_the_scheme_draws_one_stage_at_a_time():
    compiled = first_steps().compile()
    sampler = ScenarioSampler(compiled, seed=11)
    drawn = sampler.scenarios(4, range(300))
    for k in range(300):
        uniforms = scenario_stream(11, 4, k).random(compiled.n_stages)
        pairs = zip(compiled.templates, uniforms, strict=True)
        expected = [_searchsorted_draw(np.cumsum(t.probabilities), u) for t, u in pairs]
        assert drawn[k].tolist() == expected
        assert InSample().draw(compiled, scenario_stream(11, 4, k)).tolist() == expected
