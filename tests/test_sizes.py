"""Sizes a machine cannot hold are refused with the figure, before anything is allocated."""

from __future__ import annotations

import time

import pytest

from caudal.cli import main
from caudal.examples import brazil4
from caudal.model.problem import Problem, ProblemError
from caudal.model.size import available_memory, too_large


def test_available_memory_is_plausible():
    assert 2**26 < available_memory() < 2**50


def test_too_large_names_the_figure():
    message = too_large("120 stages", 2 * 1024**3, available=1024**3)
    assert message is not None and "120 stages needs about 2.0 GiB of memory, more than the 1.0 GiB" in message
    assert too_large("120 stages", 1024**3, available=2 * 1024**3) is None


def test_a_hundred_million_stages_are_refused_at_once(capsys):
    started = time.perf_counter()
    status = main(["train", "brazil4", "--stages", "100000000", "--iterations", "1"])
    assert time.perf_counter() - started < 10
    assert status == 2
    assert "100000000 stages needs about" in capsys.readouterr().err


def test_openings_whose_tour_would_not_fit_are_refused():
    problem = Problem(name="wide")
    for t in range(2):
        stage = problem.add_stage()
        x = stage.add_state("x", lower=0.0, upper=1.0, initial=0.0)
        noise = stage.add_uncertain("d", [0.0] * (2_000_000 if t else 1))
        stage.add_constraint({x.out: 1.0}, ">=", noise)
    with pytest.raises(ProblemError, match="up to 2000000 openings per stage"):
        problem.compile()


def test_a_billion_forward_passes_are_refused_before_training():
    import caudal

    with pytest.raises(ProblemError, match="1000000000 forward passes over 2 stages needs about"):
        caudal.train(brazil4(stages=2), iterations=1, forward_passes=10**9)
