"""caudal sweep: the grid, the scheduler's rules, and whole sweeps on 1, 2, 3 and 4 ranks.

The sweeps train a Python case whose ``kind`` parameter makes a variant work
("ok"), fail on its first attempt only ("flaky"), fail every time ("broken"),
or fail on one world rank only, leaving its group's other rank blocked in a
collective ("one_rank"). A failing variant must be retried once, preferably on
another group, and reported, while the others finish.
"""

from __future__ import annotations

import math
import os
import signal
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from mpi_helpers import run_ranks

from caudal.cli import main
from caudal.profiling.launch import is_mpi_runtime_variable
from caudal.sweep.grid import GridError, Variant, expand, merge_axes, parse_axis, table_axes
from caudal.sweep.scheduler import Attempt, Outcome, Scheduler
from caudal.sweep.variant_settings import Study, StudyError, check_names, risk_measure

CASE = textwrap.dedent("""\
    import os
    import signal
    from pathlib import Path

    from caudal.examples import brazil4
    from caudal.parallel.comm import world


    def build_problem(kind="ok", marker="", stages=3, demand_scale=1.0):
        if kind == "broken":
            raise ValueError("this variant is broken")
        if kind in ("flaky", "signal") and not Path(marker).exists():
            Path(marker).write_text("once")
            if kind == "flaky":
                raise RuntimeError("flaky: the first attempt fails")
            os.kill(os.getpid(), signal.SIGUSR1)  # as slurm would before the walltime
        if kind == "one_rank" and world().rank == 3:
            raise RuntimeError("failure on world rank 3 only")
        return brazil4(stages=stages, demand_scale=demand_scale)
    """)


@pytest.fixture
def case(tmp_path) -> Path:
    path = tmp_path / "case.py"
    path.write_text(CASE)
    return path


def sweep_table(output: Path) -> list[dict]:
    return pq.read_table(output / "sweep.parquet").to_pylist()


# ------------------------------------------------------------------------------------------------ the grid

def test_axes_from_the_command_line():
    assert parse_axis("demand_scale=0.9,1.0,1.1") == ("demand_scale", [0.9, 1.0, 1.1])
    assert parse_axis("seed=0..3") == ("seed", [0, 1, 2, 3])
    assert parse_axis("forward-passes=1,2") == ("forward_passes", [1, 2])
    assert parse_axis("kind=ok,broken") == ("kind", ["ok", "broken"])
    for bad in ("seed", "seed=", "=1,2", "seed=3..1"):
        with pytest.raises(GridError):
            parse_axis(bad)


def test_axes_from_a_toml_table_and_the_command_line_on_top():
    file_axes = table_axes({"demand_scale": [0.9, 1.1], "alpha": 0.5, "seed": [0, 1]}, "study.toml")
    assert file_axes == {"demand_scale": [0.9, 1.1], "alpha": [0.5], "seed": [0, 1]}
    merged = merge_axes(file_axes, {"seed": [5]})
    assert merged == {"demand_scale": [0.9, 1.1], "alpha": [0.5], "seed": [5]}
    for bad in ({"seed": []}, {"seed": [[1, 2]]}, {"seed": {"a": 1}}):
        with pytest.raises(GridError):
            table_axes(bad, "study.toml")


def test_variants_are_every_combination_in_a_fixed_order():
    variants = expand({"demand_scale": [0.9, 1.1], "seed": [0, 1, 2]})
    assert [v.index for v in variants] == list(range(6))
    assert [dict(v.params) for v in variants[:3]] == [{"demand_scale": 0.9, "seed": s} for s in (0, 1, 2)]
    assert variants[4].slug == "004-demand_scale=1.1-seed=1"
    assert variants[4].label == "demand_scale=1.1 seed=1"
    assert expand({}) == [Variant(0, {})]
    assert Variant(7, {"case_file": "a/b c"}).slug == "007-case_file=a_b_c"


def test_parameter_names_are_checked_before_anything_trains():
    check_names(Study(), ["demand_scale", "alpha", "seed", "iterations", "stages", "openings"])
    with pytest.raises(StudyError, match="demand_scal: not a parameter of case 'brazil4'"):
        check_names(Study(), ["demand_scal"])
    with pytest.raises(StudyError, match="lam needs alpha"):
        check_names(Study(), ["lam"])


def test_risk_parameters():
    assert risk_measure({}) is None
    assert risk_measure({"alpha": 0.25}).alpha == 0.25
    eavar = risk_measure({"alpha": 0.25, "lam": 0.5})
    assert (eavar.lam, eavar.alpha) == (0.5, 0.25)


# ------------------------------------------------------------------------------------------------ scheduling

def ended(scheduler: Scheduler, group: int, outcome: Outcome) -> None:
    variant, number = scheduler.running[group]
    scheduler.report(Attempt(variant, number, group, outcome))


def test_a_failed_variant_is_retried_first_and_on_another_group():
    scheduler = Scheduler(n_variants=3, n_groups=2)
    assert scheduler.assign(0) == (0, 1)
    assert scheduler.assign(1) == (1, 1)
    ended(scheduler, 0, Outcome.FAILED)
    assert scheduler.assign(0) == (2, 1), "the group it failed on takes the next variant instead"
    ended(scheduler, 1, Outcome.DONE)
    assert scheduler.assign(1) == (0, 2), "the retry goes before new work, to the next free group"
    ended(scheduler, 1, Outcome.FAILED)
    ended(scheduler, 0, Outcome.TIMED_OUT)
    assert scheduler.assign(0) is None, "while another group is live, a retry waits for it"
    assert scheduler.assign(1) == (2, 2) and not scheduler.finished()
    ended(scheduler, 1, Outcome.DONE)
    assert scheduler.finished()
    assert [scheduler.status(v) for v in range(3)] == ["failed", "done", "done"]
    assert scheduler.exit_status() == 1


def test_one_group_retries_on_itself():
    scheduler = Scheduler(n_variants=1, n_groups=1)
    scheduler.assign(0)
    ended(scheduler, 0, Outcome.FAILED)
    assert scheduler.assign(0) == (0, 2)
    ended(scheduler, 0, Outcome.DONE)
    assert scheduler.finished() and scheduler.exit_status() == 0


def test_a_signal_drains_the_sweep_without_spending_an_attempt():
    scheduler = Scheduler(n_variants=3, n_groups=2)
    scheduler.assign(0), scheduler.assign(1)
    ended(scheduler, 0, Outcome.INTERRUPTED)
    assert scheduler.assign(0) is None and not scheduler.finished()
    ended(scheduler, 1, Outcome.DONE)
    assert scheduler.finished()
    assert [scheduler.status(v) for v in range(3)] == ["interrupted", "done", "not_run"]
    assert scheduler.attempts[0] == 0
    assert scheduler.exit_status() == 75


def test_a_lost_group_gives_its_variant_to_another_and_takes_no_more_work():
    scheduler = Scheduler(n_variants=2, n_groups=2)
    scheduler.assign(0), scheduler.assign(1)
    scheduler.lose(1, "its rank 1 failed")
    assert scheduler.lost == {1} and scheduler.assign(1) is None
    ended(scheduler, 0, Outcome.DONE)
    assert scheduler.assign(0) == (1, 2)
    scheduler.report(Attempt(1, 1, 1, Outcome.FAILED))  # a late report from the lost group changes nothing
    ended(scheduler, 0, Outcome.DONE)
    assert scheduler.finished() and scheduler.exit_status() == 0


# ------------------------------------------------------------------------------------------------ whole sweeps

def test_one_process_retries_a_flaky_variant_and_reports_a_broken_one(case, tmp_path, capsys):
    study = tmp_path / "sweep.toml"
    study.write_text(textwrap.dedent(f"""\
        case = "{case}"
        iterations = 3
        threads = 1
        [grid]
        kind = ["ok", "flaky", "broken"]
        marker = "{tmp_path / 'flaky.marker'}"
        """))
    output = tmp_path / "out"
    status = main(["sweep", "--config", str(study), "--output", str(output), "--log-file", str(tmp_path / "log")])
    assert status == 1, "a variant failed: the sweep says so"
    rows = sweep_table(output)
    assert [(r["kind"], r["status"], r["attempts"]) for r in rows] == [
        ("ok", "done", 1), ("flaky", "done", 2), ("broken", "failed", 2)]
    assert rows[2]["error"] == "ValueError: this variant is broken"
    assert rows[0]["iterations_run"] == 3 and rows[0]["lower_bound"] == rows[1]["lower_bound"]
    assert math.isnan(rows[2]["lower_bound"])
    log = (tmp_path / "log").read_text()
    assert "flaky: the first attempt fails; will retry" in log and "wrote" in log
    assert "broken" in capsys.readouterr().out, "the printed summary"
    assert "ValueError: this variant is broken" in (Path(rows[2]["output"]) / "train.log").read_text()
    again = main(["sweep", "--config", str(study), "--output", str(output)])
    assert again == 2, "a new sweep into an earlier one's folder is refused"


def test_a_signal_stops_the_sweep_with_75_and_resume_finishes_it(case, tmp_path):
    args = ["sweep", str(case), "--grid", "kind=ok,signal,ok", "--grid", f"marker={tmp_path / 'signal.marker'}",
            "--iterations", "3", "--threads", "1", "--output", str(tmp_path / "out"), "--quiet"]
    previous = signal.getsignal(signal.SIGUSR1)
    assert main(args) == 75
    assert signal.getsignal(signal.SIGUSR1) == previous, "the sweep's handlers are gone"
    assert [r["status"] for r in sweep_table(tmp_path / "out")] == ["done", "done", "not_run"]
    resume = [a for a in args if a not in ("--output", str(tmp_path / "out"))] + ["--resume", str(tmp_path / "out")]
    assert main(resume) == 0
    rows = sweep_table(tmp_path / "out")
    assert [r["status"] for r in rows] == ["done"] * 3
    assert "resuming from" in (Path(rows[0]["output"]) / "train.log").read_text(), "finished variants end at once"


def test_unknown_parameters_and_bad_layouts_are_usage_errors(tmp_path, capsys):
    assert main(["sweep", "--grid", "demand_scal=1,2", "-o", str(tmp_path / "a")]) == 2
    assert "not a parameter of case 'brazil4'" in capsys.readouterr().err
    assert main(["sweep", "--grid", "seed=0,1", "--ranks-per-variant", "2", "-o", str(tmp_path / "b")]) == 2


def _sweep_on_ranks(ranks: int, case: Path, output: Path, *extra: str, timeout: float = 120):
    return run_ranks(ranks, ["-m", "caudal", "sweep", str(case), "--iterations", "3", "--threads", "1",
                             "--output", str(output), *extra], timeout=timeout)


@pytest.mark.mpi
def test_two_ranks_groups_of_one(case, tmp_path):
    result = _sweep_on_ranks(2, case, tmp_path / "out", "--grid", "kind=ok,flaky,broken,ok",
                             "--grid", f"marker={tmp_path / 'flaky.marker'}")
    assert result.returncode == 1, result.stderr
    assert "2 groups of 1 rank" in result.stdout
    rows = sweep_table(tmp_path / "out")
    assert [(r["status"], r["attempts"]) for r in rows] == [("done", 1), ("done", 2), ("failed", 2), ("done", 1)]
    first = next(line for line in result.stdout.splitlines() if "this variant is broken; will retry" in line)
    second = next(line for line in result.stdout.splitlines() if "attempt 2): ValueError" in line)
    assert first.split("(group ")[1][0] != second.split("(group ")[1][0], "the retry ran on the other group"
    assert len({r["lower_bound"] for r in rows if r["status"] == "done"}) == 1


@pytest.mark.mpi
def test_four_ranks_groups_of_two_same_bounds_as_one_rank(case, tmp_path):
    grid = ["--grid", "kind=ok,broken", "--grid", "demand_scale=0.9,1.1"]
    result = _sweep_on_ranks(4, case, tmp_path / "four", "--ranks-per-variant", "2", *grid)
    assert result.returncode == 1, result.stderr
    assert "2 groups of 2 ranks" in result.stdout
    rows = sweep_table(tmp_path / "four")
    assert [(r["kind"], r["status"], r["attempts"]) for r in rows] == [
        ("ok", "done", 1), ("ok", "done", 1), ("broken", "failed", 2), ("broken", "failed", 2)]
    assert main(["sweep", str(case), *grid[:1], "kind=ok", *grid[2:], "--iterations", "3", "--threads", "1",
                 "--output", str(tmp_path / "one"), "--quiet"]) == 0
    alone = sweep_table(tmp_path / "one")
    assert [r["lower_bound"] for r in rows[:2]] == [r["lower_bound"] for r in alone], "bit-identical on 2 ranks"


@pytest.mark.mpi
def test_a_group_whose_ranks_disagree_is_lost_and_the_others_finish(case, tmp_path):
    result = _sweep_on_ranks(4, case, tmp_path / "out", "--ranks-per-variant", "2", "--grace", "2",
                             "--grid", "kind=one_rank", "--grid", "seed=0..2")
    assert result.returncode != 0, "the blocked ranks can only be freed by ending the job"
    assert "group 1 is lost" in result.stdout
    rows = sweep_table(tmp_path / "out")
    assert [r["status"] for r in rows] == ["done"] * 3, "the lost group's variant was trained by the other group"
    assert max(r["attempts"] for r in rows) == 2


@pytest.mark.mpi
def test_scheduler_on_its_own_rank(case, tmp_path):
    result = _sweep_on_ranks(3, case, tmp_path / "out", "--scheduler", "rank", "--grid", "seed=0..2")
    assert result.returncode == 0, result.stderr
    assert "2 groups of 1 rank" in result.stdout and "(alone)" in result.stdout
    assert [r["status"] for r in sweep_table(tmp_path / "out")] == ["done"] * 3


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    """The in-process sweeps must not think they run under MPI.

    Only what a launcher sets goes: the user's Open MPI settings (run as root,
    oversubscribe) stay, for the sweeps these tests launch with mpiexec.
    """
    for name in list(os.environ):
        if is_mpi_runtime_variable(name) or name.startswith("SLURM_") or name == "CAUDAL_COMM":
            monkeypatch.delenv(name)
