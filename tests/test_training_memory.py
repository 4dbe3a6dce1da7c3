"""What a training holds in memory: one copy of each thing, sized by what was used, results unchanged.

The national case (160 hydros, 120 stages) measured these: stage templates
that each held their own copy of the same 3,466 names (25 MB of strings), a
second copy of every stage's cut-free solver form, the forward pass's stage LPs
kept to the end of the iteration beside their successors, and cut pools and
visited-state archives preallocated for 64 rows per stage. These tests fail if
one comes back, or if sizing the pools by use changes a cut or a bound.
"""

from __future__ import annotations

import dataclasses
import gc
import weakref

import numpy as np
import pytest

from caudal.examples.national_case import NationalSize, generate
from caudal.model.problem import SharedNames
from caudal.parallel.pool import SerialPool
from caudal.sddp.cuts import CutPool, StateArchive
from caudal.sddp.passes import forward_pass
from caudal.sddp.stage_cache import StageCache
from caudal.sddp.training import TrainingOptions, TrainingState, run_training
from caudal.sddp.working_set import WorkingSets
from caudal.solver.highspy_workspace import HighspyWorkspace

TINY = NationalSize(hydros=6, thermals=4, subsystems=2, stages=4, openings=3, par_order=2, seed=5)


def tiny_problem():
    return generate(TINY).problem().compile()


def test_the_stages_share_one_copy_of_their_names():
    problem = tiny_problem()
    first = problem.templates[0]
    for template in problem.templates[1:]:
        assert template.col_names == first.col_names
        assert template.col_names is first.col_names and template.row_names is first.row_names


def test_templates_with_names_of_their_own_still_share_the_strings_they_have_in_common():
    template = tiny_problem().templates[0]
    other = dataclasses.replace(template, col_names=("only here", *template.col_names[1:]),
                                row_names=tuple(name + "" for name in template.row_names))
    names = SharedNames()
    kept, changed = names.share(template), names.share(other)
    assert changed.col_names == other.col_names and changed.col_names is not kept.col_names
    assert all(a is b for a, b in zip(changed.col_names[1:], kept.col_names[1:], strict=True))
    assert changed.row_names is kept.row_names


def test_a_cut_free_stage_lp_holds_its_solver_form_once():
    """The assembler's cut-free form serves the cut-free LPs: no second copy, and nothing copied from the template."""
    problem = tiny_problem()
    pools = [CutPool(problem.n_states) for _ in range(problem.n_stages)]
    cache = StageCache(problem, pools)
    for t, template in enumerate(problem.templates):
        first = cache.lps[t]
        form = first.solver_form
        assert np.shares_memory(form.values, template.values)
        assert np.shares_memory(form.row_lower, template.row_lower)
        assert np.shares_memory(form.row_upper, template.row_upper)
        cache.refresh(t)  # rebuilt without cuts: the same form again, not a new one
        again = cache.lps[t]
        assert again is not first and again.version != first.version
        assert np.shares_memory(again.solver_form.col_cost, form.col_cost)
        assert np.shares_memory(again.solver_form.row_dual_factor, form.row_dual_factor)


def test_a_stage_lp_with_cuts_still_scales_its_own_rows():
    problem = tiny_problem()
    pools = [CutPool(problem.n_states) for _ in range(problem.n_stages)]
    pools[0].add(np.array([5.0]), np.ones((1, problem.n_states)), 1, np.array([0]))
    cache = StageCache(problem, pools)
    form, template = cache.lps[0].solver_form, problem.templates[0]
    assert not np.shares_memory(form.row_lower, template.row_lower)
    assert form.row_lower[-1] == 5.0 * form.scale
    assert np.array_equal(form.row_lower[: template.num_rows], template.row_lower)


def test_the_backward_pass_lets_each_old_stage_lp_go():
    problem = tiny_problem()
    state = TrainingState.fresh(problem)
    pool = SerialPool(HighspyWorkspace())
    forward = forward_pass(problem, state.cache, pool, np.zeros((2, problem.n_stages), dtype=np.int32),
                           keep_bases=True)
    t = 1
    old = weakref.ref(forward.lps[t])
    state.pools[t].add(np.array([1.0]), np.zeros((1, problem.n_states)), 1, np.array([0]))
    state.cache.refresh(t)
    gc.collect()
    assert old() is not None  # the forward result still holds it
    forward.start_bases(t, state.cache.lps[t], state.cache.bases[t])
    forward.release_stage(t)
    gc.collect()
    assert old() is None
    assert forward.lps[t] is None and forward.bases[t] is None


def _trained(state: TrainingState) -> TrainingState:
    run_training(state, SerialPool(HighspyWorkspace()), TrainingOptions(iterations=5, forward_passes=3, seed=2))
    return state


def test_pools_and_archives_grow_with_use_and_train_the_same_cuts_as_preallocated_ones():
    problem = tiny_problem()
    growing = _trained(TrainingState.fresh(problem))
    pools = [CutPool(problem.n_states, capacity=256) for _ in range(problem.n_stages)]
    visited = [StateArchive(problem.n_states, capacity=256) for _ in range(problem.n_stages)]
    preallocated = _trained(TrainingState(problem, pools, StageCache(problem, pools, WorkingSets(visited)),
                                          visited=visited))
    assert [r.lower_bound for r in growing.history] == [r.lower_bound for r in preallocated.history]
    assert [r.upper_bound_mean for r in growing.history] == [r.upper_bound_mean for r in preallocated.history]
    row_bytes = problem.n_states * 8
    for mine, theirs, archive, their_archive in zip(growing.pools, preallocated.pools, growing.visited,
                                                    preallocated.visited, strict=True):
        assert np.array_equal(mine.intercepts, theirs.intercepts)
        assert np.array_equal(mine.coefficients, theirs.coefficients)
        assert np.array_equal(mine.active, theirs.active)
        assert np.array_equal(archive.states, their_archive.states)
        assert archive.size == 15
        # grown by doubling from what the first iteration needed: less than twice what is used
        assert archive.nbytes < 2 * archive.size * row_bytes
        if mine.size:
            assert mine.nbytes < 2 * mine.size * (row_bytes + 64)


def _template_arrays(template) -> dict[str, np.ndarray]:
    return {f.name: getattr(template, f.name) for f in dataclasses.fields(template)
            if isinstance(getattr(template, f.name), np.ndarray)}


def test_a_compacted_problem_is_the_same_problem_in_new_objects_that_pin_nothing_old():
    """``compacted`` re-creates every object and array, so the old ones (and their arenas) can all go."""
    from caudal.sddp.free_heap import compacted

    problem = tiny_problem()
    old_template = weakref.ref(problem.templates[1])
    copy = compacted(problem)
    assert copy is not problem and copy.state_names == problem.state_names
    assert np.array_equal(copy.initial_state, problem.initial_state)
    for theirs, mine in zip(problem.templates, copy.templates, strict=True):
        assert mine.col_names == theirs.col_names
        old, new = _template_arrays(theirs), _template_arrays(mine)
        assert old.keys() == new.keys()
        for name, array in new.items():
            assert array.dtype == old[name].dtype and np.array_equal(array, old[name], equal_nan=True), name
            assert array.flags.writeable == old[name].flags.writeable and array.flags.aligned, name
            assert not np.shares_memory(array, old[name]), f"{name} still views the old data"
    # the names stay shared between the stages, as compile made them
    assert all(t.col_names is copy.templates[0].col_names for t in copy.templates)
    del problem
    gc.collect()
    assert old_template() is None, "something of the new problem still holds an old template"
    assert [r.lower_bound for r in _trained(TrainingState.fresh(copy)).history] == \
        [r.lower_bound for r in _trained(TrainingState.fresh(tiny_problem())).history]


def test_an_object_pickle_cannot_copy_is_returned_as_it_is():
    from caudal.sddp.free_heap import compacted

    unpicklable = {"builder": lambda: None}
    assert compacted(unpicklable) is unpicklable


def test_compiling_with_release_builders_gives_the_same_templates_and_empties_the_stages():
    from caudal.model.problem import ProblemError

    kept = generate(TINY).problem()
    released = generate(TINY).problem()
    expected, got = kept.compile(), released.compile(release_builders=True)
    for mine, theirs in zip(got.templates, expected.templates, strict=True):
        assert mine.col_names == theirs.col_names and mine.row_names == theirs.row_names
        for name, array in _template_arrays(mine).items():
            assert np.array_equal(array, _template_arrays(theirs)[name], equal_nan=True), name
    assert all(len(stage._entry_values) == 0 and not stage._col_names for stage in released.stages)
    assert kept.compile().n_stages == TINY.stages  # an ordinary compile leaves the problem as it was
    with pytest.raises(ProblemError, match="release_builders"):
        released.compile()
