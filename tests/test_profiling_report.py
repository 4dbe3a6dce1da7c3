"""``caudal profile`` and ``caudal scaling``: the table, the plots, and the scaling arithmetic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import caudal
from caudal.cli import main
from caudal.examples import brazil4
from caudal.profiling.columns import INDEX, WIDTH
from caudal.profiling.report import print_report, profile_run
from caudal.profiling.scaling import Layout, SweepSpec, plan_layouts, scaling_rows, train_command
from caudal.profiling.summary import summarize

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    caudal.train(brazil4(stages=3), iterations=3, forward_passes=4, threads=2, output=output)
    return output


def test_caudal_profile_prints_the_table_and_writes_the_plots(run_dir, capsys):
    assert main(["profile", str(run_dir)]) == 0
    printed = capsys.readouterr().out
    for text in ("phase breakdown", "backward", "communication", "load imbalance", "LP time share",
                 "communication share", "workers", "profile_phases.png"):
        assert text in printed, text
    for name in ("profile_phases.png", "profile_workers.png"):
        assert (run_dir / name).read_bytes()[:8] == PNG_MAGIC


def test_caudal_profile_without_a_profile_is_a_usage_error(tmp_path, capsys):
    assert main(["profile", str(tmp_path)]) == 2
    assert "no profile" in capsys.readouterr().err


def _table(busy_by_worker: list[float], ranks: int, threads: int) -> dict[str, np.ndarray]:
    rows = np.zeros((ranks * threads, WIDTH))
    for w, busy in enumerate(busy_by_worker):
        rows[w, INDEX["iteration"]] = 1
        rows[w, INDEX["rank"]], rows[w, INDEX["thread"]] = divmod(w, threads)
        rows[w, INDEX["ranks"]], rows[w, INDEX["threads"]] = ranks, threads
        rows[w, INDEX["wall_s"]] = 10.0
        rows[w, INDEX["backward_s"]] = 8.0
        rows[w, INDEX["communication_s"]] = 2.0 if w // threads == 0 else 1.0
        rows[w, INDEX["busy_s"]] = rows[w, INDEX["busy_backward_s"]] = busy
        rows[w, INDEX["solve_s"]] = busy / 2
        rows[w, INDEX["solves"]] = 10
        rows[w, INDEX["ranged"]] = 3
    return {name: rows[:, i] for name, i in INDEX.items()}


def test_summary_figures_on_a_made_up_table():
    summary = summarize(_table([8.0, 4.0, 6.0, 6.0], ranks=2, threads=2))
    assert summary.workers_count == 4
    assert summary.load_imbalance == pytest.approx(8.0 / 6.0)
    assert summary.communication_share == pytest.approx(0.15)
    assert summary.communication_wait == pytest.approx(0.5)
    assert summary.highs_share == pytest.approx(12.0 / 40.0)
    assert summary.solves_per_iteration == 40
    assert summary.ranged_per_iteration == 12


def test_layouts_and_launch_command():
    layouts = plan_layouts([4, 1, 2], [2, 1])
    assert [layout.label for layout in layouts] == ["1x1", "2x1", "1x2", "4x1", "2x2", "4x2"]
    spec = SweepSpec("brazil4", layouts, iterations=3, forward_passes=2, weak=True, stages=24)
    command = train_command(spec, Layout(2, 2), output=Path("out"), checkpoints=Path("ck"))
    assert command[command.index("-n") + 1] == "2"
    assert command[command.index("--forward-passes") + 1] == "8"
    assert command[command.index("--threads") + 1] == "2"
    assert command[command.index("--stages") + 1] == "24"


class _Run:
    def __init__(self, workers: int, seconds: float):
        self.workers = workers
        self.seconds_per_iteration = seconds


def test_strong_and_weak_speedup_arithmetic():
    runs = [_Run(1, 8.0), _Run(2, 5.0), _Run(4, 4.0)]
    strong = scaling_rows(runs, weak=False)
    assert [row.speedup for row in strong] == pytest.approx([1.0, 1.6, 2.0])
    assert [row.efficiency for row in strong] == pytest.approx([1.0, 0.8, 0.5])
    weak = scaling_rows(runs, weak=True)
    assert [row.efficiency for row in weak] == pytest.approx([1.0, 1.6, 2.0])
    assert [row.speedup for row in weak] == pytest.approx([1.0, 3.2, 8.0])


@pytest.mark.mpi
def test_caudal_scaling_end_to_end(tmp_path, capsys):
    output = tmp_path / "sweep"
    status = main(["scaling", "brazil4", "--stages", "3", "--ranks", "1,2", "--threads", "1", "--iterations", "2",
                   "--forward-passes", "2", "--output", str(output)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "strong scaling" in printed and "2x1" in printed and "same policy on every layout" in printed
    assert (output / "scaling.png").read_bytes()[:8] == PNG_MAGIC
    lines = (output / "scaling.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("layout,ranks,threads,workers")
    assert "| 2x1 |" in (output / "scaling.md").read_text()
    assert (output / "runs" / "2x1" / "profile.parquet").exists()


def test_a_resumed_run_appends_to_the_profile_and_caudal_profile_says_which_iterations(tmp_path, capsys):
    from caudal.profiling.table import read_profile

    problem = brazil4(stages=3)
    caudal.train(problem, iterations=3, forward_passes=2, threads=1, output=tmp_path, log=False)
    caudal.train(problem, iterations=5, forward_passes=2, threads=1, output=tmp_path, log=False,
                 resume=tmp_path / "checkpoints")
    columns, _ = read_profile(tmp_path / "profile.parquet")
    assert sorted(set(columns["iteration"].tolist())) == [1, 2, 3, 4, 5]
    assert np.bincount(columns["iteration"].astype(int))[1:].tolist() == [1] * 5  # one rank x one thread each
    assert main(["profile", str(tmp_path), "--no-plots"]) == 0
    assert "5 iterations (iterations 1-5)" in capsys.readouterr().out


def test_iteration_ranges_name_runs_of_consecutive_iterations():
    from caudal.profiling.table import iteration_ranges

    assert iteration_ranges(np.array([3, 1, 2, 2, 7, 8, 10])) == "1-3, 7-8, 10"
    assert iteration_ranges(np.array([], dtype=np.int64)) == "none"


@pytest.mark.mpi
def test_a_run_resumed_on_two_ranks_appends_its_rows_to_the_profile(tmp_path):
    from mpi_helpers import train_ranks

    from caudal.profiling.table import read_profile

    case = ["--stages", "3", "--forward-passes", "2"]
    train_ranks(1, 1, "brazil4", tmp_path, *case, "--iterations", "2")
    train_ranks(2, 1, "brazil4", tmp_path, *case, "--iterations", "4", "--resume", str(tmp_path))
    columns, metadata = read_profile(tmp_path / "profile.parquet")
    rows_per_iteration = np.bincount(columns["iteration"].astype(int))[1:].tolist()
    assert rows_per_iteration == [1, 1, 2, 2]  # 1 rank x 1 thread, then 2 ranks x 1 thread
    assert metadata["ranks"] == "2"


class _TwoWorkerPool:
    """Stands in for a pool of two workers: runs each item in turn on worker ``item % 2``."""

    size = 2
    workspaces = ("worker 0", "worker 1")

    def run(self, task, first, stop, one_at_a_time=False):
        for item in range(first, stop):
            task(self.workspaces[item % 2], item, item + 1)


def test_the_pool_books_each_runs_task_time_by_the_threads_its_items_can_use(monkeypatch):
    from caudal.profiling import pool as instrumented

    ticks = iter(range(1000))
    monkeypatch.setattr(instrumented.time, "perf_counter", lambda: float(next(ticks)))  # every task lasts 1 s
    pool = instrumented.InstrumentedPool(_TwoWorkerPool())
    for items in (1, 4, 3):
        pool.run(lambda ws, start, stop: None, 0, items)
    assert pool.busy == [5.0, 3.0]  # items 0, 0 1 0 1, 0 1 0
    # 1 item: 1 s on 1 thread now and doubled; 4 items: 4 s over 2 threads, over 4 doubled; 3: over 2, over 3
    assert pool.tasks_even == pytest.approx(1 + 2 + 1.5)
    assert pool.tasks_even_doubled == pytest.approx(1 + 1 + 1)
    assert pool.tasks_narrow == pytest.approx(1 + 3)  # the runs of fewer than 4 items


def test_the_headroom_of_twice_the_threads_on_a_made_up_table():
    columns = _table([8.0, 4.0, 6.0, 6.0], ranks=2, threads=2)
    lead = columns["thread"] == 0
    columns["tasks_even_s"][lead] = [8.0, 6.0]  # rank 0 now: 2 s of the rest + 8 s of tasks
    columns["tasks_even_doubled_s"][lead] = [5.0, 3.0]
    columns["tasks_narrow_s"][lead] = [2.0, 4.0]
    headroom = summarize(columns).doubled_threads
    assert headroom.seconds_per_iteration == pytest.approx(10.0 - 8.0 + 5.0)  # the slowest rank
    assert headroom.speedup == pytest.approx(10.0 / 7.0)
    assert headroom.narrow_share == pytest.approx(6.0 / 24.0)
    assert summarize(_table([8.0, 4.0, 6.0, 6.0], ranks=2, threads=2)).doubled_threads is None  # an older profile


@pytest.mark.parametrize(("passes", "chunk"), [(1, 0), (4, 0), (1, "auto")])
def test_the_headroom_of_a_training_follows_its_work_items(tmp_path, capsys, passes, chunk):
    """One forward pass and unsplit openings: every run is one item, a second thread gains nothing; else it may."""
    caudal.train(brazil4(stages=4), iterations=3, forward_passes=passes, threads=1, opening_chunk=chunk,
                 output=tmp_path, log=False)
    report = profile_run(tmp_path, plots=False)
    headroom = report.summary.doubled_threads
    if passes == 1 and chunk == 0:
        assert headroom.speedup == pytest.approx(1.0) and headroom.narrow_share == pytest.approx(1.0)
    else:
        assert 1.05 < headroom.speedup < 2.0 and headroom.narrow_share < 0.5
    print_report(report)
    assert "with 2 threads per rank, at most" in capsys.readouterr().out
