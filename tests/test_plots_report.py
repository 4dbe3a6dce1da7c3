"""Plots a planner puts in a report: labels and units, whole-number ticks, bands only where they exist."""

from __future__ import annotations

import pytest
from problems import first_steps

import caudal
from caudal import plots

plt = pytest.importorskip("matplotlib.pyplot")
PolyCollection = pytest.importorskip("matplotlib.collections").PolyCollection
MaxNLocator = pytest.importorskip("matplotlib.ticker").MaxNLocator


@pytest.fixture
def figures(monkeypatch):
    """The figures a plot function draws, kept open to be read (the function closes them otherwise)."""
    plt.close("all")
    monkeypatch.setattr(plt, "close", lambda figure=None: None)
    yield lambda: [plt.figure(number) for number in plt.get_fignums()]
    monkeypatch.undo()
    plt.close("all")


def _bands(axis) -> int:
    return sum(isinstance(artist, PolyCollection) for artist in axis.collections)


def _assert_labelled(axis, x: str) -> None:
    assert axis.get_xlabel() == x
    assert isinstance(axis.xaxis.get_major_locator(), MaxNLocator)
    assert all(float(tick).is_integer() for tick in axis.get_xticks()), "whole iterations and stages only"


def test_convergence_of_a_maximisation_with_two_forward_passes(tmp_path, figures):
    caudal.train(first_steps("max"), iterations=4, forward_passes=2, threads=1, output=tmp_path, profile=False)
    plots.plot_convergence(tmp_path)
    (axis,) = figures()[0].axes
    labels = [text.get_text() for text in axis.get_legend().get_texts()]
    assert any(label.startswith("upper bound") for label in labels) and not any("lower bound" in la for la in labels)
    assert _bands(axis) == 0, "no confidence band from 2 forward passes"
    assert "cost units" in axis.get_ylabel() and axis.get_ylabel().startswith("value")
    _assert_labelled(axis, "iteration")


def test_convergence_band_drawn_from_30_forward_passes(tmp_path, figures):
    caudal.train(first_steps(), iterations=2, forward_passes=30, threads=1, output=tmp_path, profile=False)
    plots.plot_convergence(tmp_path)
    (axis,) = figures()[0].axes
    assert _bands(axis) == 1
    assert any("95% confidence" in text.get_text() for text in axis.get_legend().get_texts())
    assert any(text.get_text().startswith("lower bound") for text in axis.get_legend().get_texts())


def test_fan_with_spaghetti_beside_it(tmp_path, figures):
    result = caudal.train(first_steps(), iterations=3, forward_passes=2, threads=1)
    caudal.simulate(result, scenarios=12, threads=1, output=tmp_path)
    names = list(result.policy.problem.state_names)
    out = plots.plot_fan(tmp_path, f"state:{names[0]}", spaghetti=5)
    assert out.is_file()
    fan, paths = figures()[0].axes
    assert len(paths.get_lines()) == 5 + 1  # five trajectories and the median
    for axis in (fan, paths):
        _assert_labelled(axis, "stage")
        assert min(axis.get_lines()[0].get_xdata()) == 1, "stages count from 1"
    assert fan.get_ylabel() == f"{names[0]} (state, case units)"


def test_fan_alone_by_default_and_cost_columns_say_their_money(tmp_path, figures):
    result = caudal.train(first_steps(), iterations=2, forward_passes=2, threads=1)
    caudal.simulate(result, scenarios=4, threads=1, output=tmp_path)
    plots.plot_fan(tmp_path, "discounted_cost")
    (axis,) = figures()[0].axes
    assert axis.get_ylabel() == "discounted cost (cost units, first-stage money)"


def test_caudal_plot_fan_spaghetti_option(tmp_path, capsys):
    from caudal.cli import main

    result = caudal.train(first_steps(), iterations=2, forward_passes=2, threads=1)
    caudal.simulate(result, scenarios=4, threads=1, output=tmp_path)
    out = tmp_path / "fan.png"
    assert main(["plot", "fan", str(tmp_path), "--column", "stage_cost", "--spaghetti", "3", "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
