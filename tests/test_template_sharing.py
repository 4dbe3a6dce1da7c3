"""Stage templates hold one read-only copy of each array they have equal (caudal.model.problem.SharedArrays).

On the national case 10.5 MB of the templates' 23 MB repeated an earlier
stage's bytes. These tests fail if equal arrays get a copy per stage again, if
arrays that differ by a bit, a dtype or a shape get shared, if a shared array
can be written into, or if sharing changes a bound.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from caudal.examples.national_case import NationalSize, generate
from caudal.model.problem import SharedArrays
from caudal.parallel.pool import SerialPool
from caudal.sddp.training import TrainingOptions, TrainingState, run_training
from caudal.solver.highspy_workspace import HighspyWorkspace

TINY = NationalSize(hydros=6, thermals=4, subsystems=2, stages=4, openings=3, par_order=2, seed=5)


def test_stages_with_equal_bounds_hold_one_read_only_array():
    templates = generate(TINY).problem().compile().templates
    first = templates[0]
    for template in templates[1:]:
        assert template.col_lower is first.col_lower
        assert template.state_out_cols is first.state_out_cols
    for template in templates:
        for value in vars(template).values():
            if isinstance(value, np.ndarray):
                assert not value.flags.writeable
    with pytest.raises(ValueError):
        first.col_lower[0] = 1.0


def test_only_arrays_equal_in_bits_dtype_and_shape_are_shared():
    shared = SharedArrays()
    zero = shared._array(np.zeros(4))
    assert shared._array(np.zeros(4)) is zero
    assert shared._array(np.array([-0.0, 0.0, 0.0, 0.0])) is not zero  # equal in value, not in bits
    assert shared._array(np.zeros(4, dtype=np.int64)) is not zero  # the same bytes, another dtype
    assert shared._array(np.zeros((2, 2))) is not zero  # the same bytes, another shape
    nan = shared._array(np.array([np.nan, 1.0]))
    assert shared._array(np.array([np.nan, 1.0])) is nan  # nan != nan, but the bits are equal


def _bounds(problem) -> list[tuple[float, float]]:
    state = TrainingState.fresh(problem)
    run_training(state, SerialPool(HighspyWorkspace()), TrainingOptions(iterations=4, forward_passes=3, seed=2))
    return [(r.lower_bound, r.upper_bound_mean) for r in state.history]


def test_shared_arrays_train_bit_identical_bounds_to_a_copy_per_stage():
    shared = generate(TINY).problem().compile()
    own = generate(TINY).problem().compile()
    own = dataclasses.replace(own, templates=tuple(
        dataclasses.replace(t, **{k: v.copy() for k, v in vars(t).items() if isinstance(v, np.ndarray)})
        for t in own.templates))
    assert own.templates[1].col_lower is not own.templates[0].col_lower
    assert _bounds(own) == _bounds(shared)
