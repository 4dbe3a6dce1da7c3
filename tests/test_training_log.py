"""What the log, convergence.csv, summary.json and the plots tell a planner (issue 20).

The bound is named by the problem's sense; the gap and the simulated cost's
confidence interval appear only where they mean something; one clock for the
times; the log goes through Python's ``logging``; plots carry labels, units and
whole-number iteration and stage ticks.
"""

from __future__ import annotations

import csv
import json
import logging
import math

import numpy as np
import pytest
from problems import first_steps

import caudal
from caudal.cli import main
from caudal.sddp.records import MIN_INTERVAL_SAMPLES, IterationRecord, relative_gap, simulated_interval
from caudal.training_log import LOGGER, TerminalHandler, format_record


def _rows(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def maximised(tmp_path_factory):
    output = tmp_path_factory.mktemp("max")
    log = output / "log.txt"
    with open(log, "w", encoding="utf-8") as stream:
        result = caudal.train(first_steps("max"), iterations=3, forward_passes=2, threads=1, output=output,
                              log=stream, profile=False)
    return output, log.read_text(), result


def test_a_maximisation_names_its_bound_an_upper_bound_in_log_csv_and_summary(maximised):
    output, log, result = maximised
    assert "upper bound" in log and "lower bound" not in log
    assert f"upper bound {result.bound:.6f}" in log  # the status line
    header = (output / "convergence.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["iteration", "upper_bound", "lower_bound_mean", "lower_bound_low", "lower_bound_high"]
    rows = _rows(output / "convergence.csv")
    bounds = [float(row["upper_bound"]) for row in rows]
    # it falls, up to round-off: a new cut can move the optimum to another vertex of equal value
    rises = [later - earlier for earlier, later in zip(bounds[:-1], bounds[1:], strict=True)]
    assert all(rise <= 1e-12 * abs(bound) for rise, bound in zip(rises, bounds, strict=False)), \
        "a maximisation's bound falls"
    assert bounds[-1] < bounds[0]
    summary = json.loads((output / "summary.json").read_text())
    assert summary["sense"] == "maximize" and summary["upper_bound"] == summary["bound"] == result.bound
    assert "lower_bound" not in summary


def test_a_minimisation_keeps_its_names(tmp_path):
    caudal.train(first_steps(), iterations=2, forward_passes=2, threads=1, output=tmp_path, profile=False)
    header = (tmp_path / "convergence.csv").read_text().splitlines()[0]
    assert header == "iteration,lower_bound,upper_bound_mean,upper_bound_low,upper_bound_high,time_s,lp_solves"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["sense"] == "minimize" and summary["lower_bound"] == summary["bound"]


def test_few_forward_passes_give_no_confidence_interval():
    mean, low, high = simulated_interval(np.array([10.0, 30.0]))
    assert mean == 20.0 and math.isnan(low) and math.isnan(high)
    costs = np.arange(MIN_INTERVAL_SAMPLES, dtype=np.float64)
    mean, low, high = simulated_interval(costs)
    half = 1.959963984540054 * costs.std(ddof=1) / math.sqrt(costs.size)
    assert (low, high) == pytest.approx((mean - half, mean + half))


def test_the_interval_is_absent_from_csv_summary_and_log_with_two_forward_passes(maximised):
    output, log, _ = maximised
    for row in _rows(output / "convergence.csv"):
        assert math.isnan(float(row["lower_bound_low"])) and math.isnan(float(row["lower_bound_high"]))
    summary = json.loads((output / "summary.json").read_text())
    assert summary["lower_bound_low"] is None and summary["lower_bound_high"] is None
    first_line = next(line for line in log.splitlines() if line.split()[:1] == ["1"])
    assert first_line.split()[3:5] == ["-", "-"], first_line  # the "95% CI +-" and "gap" columns
    assert "95% CI +-" in log and f"CI and gap given from {MIN_INTERVAL_SAMPLES} forward passes" in log


def test_with_enough_forward_passes_the_interval_is_there(tmp_path):
    result = caudal.train(first_steps(), iterations=1, forward_passes=MIN_INTERVAL_SAMPLES, threads=1)
    last = result.history[-1]
    assert last.upper_bound_low < last.upper_bound_mean < last.upper_bound_high
    assert format_record(last).split()[3] != "-" and format_record(last).split()[4].endswith("%")


def test_the_gap_of_an_exactly_solved_problem_is_zero():
    assert relative_gap(0.0, 3e-10) == 0.0  # rounding around a cost of 0 is no 100% gap
    assert relative_gap(100.0, 100.0 + 1e-8) == 0.0
    assert relative_gap(90.0, 100.0) == pytest.approx(0.1)
    assert relative_gap(-100.0, -90.0) == pytest.approx(0.1)  # relative to the larger of the two
    record = IterationRecord(1, 0.0, 2e-10, -1e-10, 5e-10, 0.1, 5)
    assert record.gap == 0.0 and format_record(record).split()[4] == "0.00%"


def test_two_forward_passes_that_cost_nothing_show_no_gap_for_a_problem_solved_exactly():
    # the bound is the optimum, both sampled scenarios cost 0: a "100%" gap would say nothing true
    record = IterationRecord(7, 8333.33, 0.0, math.nan, math.nan, 0.1, 5)
    assert record.gap == 1.0
    assert format_record(record).split()[3:5] == ["-", "-"]


def test_one_clock_for_the_last_log_line_the_status_line_and_the_summary(tmp_path, capsys):
    assert main(["train", "brazil4", "--stages", "3", "-n", "2", "-m", "2", "-t", "1", "-o", str(tmp_path / "r"),
                 "--no-profile"]) == 0
    assert main(["train", "brazil4", "--stages", "3", "-n", "4", "-m", "2", "-t", "1", "-o", str(tmp_path / "r"),
                 "--resume", str(tmp_path / "r")]) == 0
    lines = capsys.readouterr().out.splitlines()
    last_row = [line for line in lines if line.split()[:1] == ["4"]][-1]
    status = next(line for line in reversed(lines) if line.startswith("status:"))
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    csv_time = float(_rows(tmp_path / "r" / "convergence.csv")[-1]["time_s"])
    assert summary["time_s"] == csv_time
    assert f"{summary['time_s']:.2f}s" in last_row.split() and f" in {summary['time_s']:.2f}s of training" in status
    first_run = float(_rows(tmp_path / "r" / "convergence.csv")[1]["time_s"])
    assert summary["time_s"] > first_run, "cumulative over the resume"


def test_the_log_goes_through_the_caudal_logger(caplog):
    with caplog.at_level(logging.INFO, logger="caudal"):
        caudal.train(first_steps(), iterations=2, forward_passes=2, threads=1, log=False)
    messages = [record.getMessage() for record in caplog.records if record.name == "caudal"]
    assert any(message.lstrip().startswith("iter") for message in messages)
    assert any(message.startswith("status: iteration_limit after 2 iterations") for message in messages)
    assert not any(isinstance(handler, TerminalHandler) for handler in LOGGER.handlers), "no handler left behind"


def test_log_file_has_time_stamps_levels_and_the_command_line_and_the_terminal_its_table(
    tmp_path, capsys, monkeypatch
):
    log = tmp_path / "train.log"
    words = ["train", "brazil4", "--stages", "3", "-n", "2", "-t", "1", "--log-file", str(log)]
    monkeypatch.setattr("sys.argv", ["/opt/venv/bin/caudal", *words])  # what the shell started
    assert main(words) == 0
    terminal = capsys.readouterr().out
    assert "lower bound" in terminal and "INFO" not in terminal and "command line" not in terminal
    lines = log.read_text().splitlines()
    assert lines[0].endswith(" INFO command line: caudal " + " ".join(words)), lines[0]
    for line in lines:
        stamp, level, _ = line.split(" ", 2)
        assert len(stamp) == 20 and stamp.endswith("Z") and level == "INFO", line
    assert any(line.endswith("lower bound") is False and "lower bound" in line for line in lines)
    assert any("status: iteration_limit" in line for line in lines)
