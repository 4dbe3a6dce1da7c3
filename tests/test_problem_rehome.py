"""A compiled problem's small objects moved out of its builders' arenas: exact copies, sharing kept, bounds unchanged.

On the national case the templates' array headers, names and floats, compiled
while the builders were alive, kept some 56 MB of the builders' free arenas
resident for the whole training (caudal.sddp.free_heap.rehome_problem). These
tests fail if the copies differ from the originals by a bit, if a copy still
shares the old one's memory, if names shared between stages get one copy each,
if the old templates stay alive, or if the arenas are no longer given back.
"""

from __future__ import annotations

import gc
import re
import subprocess
import sys
import weakref

import numpy as np

from caudal.examples.national_case import NationalSize, generate, with_training, write_case
from caudal.parallel.pool import SerialPool
from caudal.sddp import free_heap
from caudal.sddp.training import TrainingOptions, TrainingState, run_training
from caudal.solver.highspy_workspace import HighspyWorkspace

TINY = NationalSize(hydros=6, thermals=4, subsystems=2, stages=4, openings=3, par_order=2, seed=5)


def test_rehoming_copies_every_array_and_name_exactly_and_keeps_what_the_stages_share():
    problem = generate(TINY).problem().compile()
    old_templates = problem.templates
    old_initial = problem.initial_state
    free_heap.rehome_problem(problem)
    assert problem.templates is not old_templates
    assert np.array_equal(problem.initial_state, old_initial) and not np.shares_memory(problem.initial_state,
                                                                                       old_initial)
    for new, old in zip(problem.templates, old_templates, strict=True):
        assert new is not old and type(new) is type(old)
        for name, value in vars(old).items():
            copy = getattr(new, name)
            if isinstance(value, np.ndarray):
                assert copy.dtype == value.dtype and copy.shape == value.shape
                assert copy.tobytes() == value.tobytes()  # bit for bit, -0.0 and infinities included
                assert not np.shares_memory(copy, value)
            elif isinstance(value, tuple):
                assert copy == value and copy is not value
                assert all(a is not b for a, b in zip(copy, value, strict=True) if len(a) > 1)
            else:
                assert copy == value
    first = problem.templates[0]
    for template in problem.templates[1:]:  # one names tuple for all stages, as SharedNames left it
        assert template.col_names is first.col_names and template.row_names is first.row_names
    assert problem.state_names == tuple(problem.templates[0].col_names[c] for c in first.state_out_cols)


def test_the_old_templates_are_released_once_rehomed():
    problem = generate(TINY).problem().compile()
    old = weakref.ref(problem.templates[1])
    free_heap.rehome_problem(problem)
    gc.collect()
    assert old() is None


def _bounds(problem) -> list[tuple[float, float]]:
    state = TrainingState.fresh(problem)
    run_training(state, SerialPool(HighspyWorkspace()), TrainingOptions(iterations=4, forward_passes=3, seed=2))
    return [(r.lower_bound, r.upper_bound_mean) for r in state.history]


def test_a_rehomed_problem_trains_bit_identical_bounds(monkeypatch):
    rehomed = _bounds(generate(TINY).problem().compile())
    monkeypatch.setattr(free_heap, "rehome_problem", lambda problem: None)
    assert _bounds(generate(TINY).problem().compile()) == rehomed


ARENAS = r"""
import gc, sys
from caudal.hydro import cobre
from caudal.sddp.free_heap import rehome_problem
study = cobre.load_case(sys.argv[1])
problem = study.problem.compile()  # as caudal train does: compiled while the builders are alive, then they go
del study
gc.collect()
sys._debugmallocstats()
rehome_problem(problem)
gc.collect()
sys._debugmallocstats()
"""


def test_rehoming_gives_back_most_of_the_arenas_the_builders_used(tmp_path):
    system = generate(NationalSize(stages=48))  # the national size over 48 stages: 37 arenas, 23 once rehomed
    write_case(with_training(system, 1, 1), tmp_path / "case")
    done = subprocess.run([sys.executable, "-c", ARENAS, str(tmp_path / "case")], capture_output=True, text=True,
                          timeout=300, check=True)
    before, after = (int(n) for n in re.findall(r"# arenas allocated current\s*=\s*(\d+)", done.stderr))
    assert after < 0.75 * before, (before, after)
