"""profile.parquet and trace.json written by real trainings, on 1 and 2 ranks x 2 threads (under mpiexec).

* one row per iteration x rank x thread, with the schema's columns and types;
* the rows add up: phases + profiler + other = wall time, a worker's busy time
  fits in its rank's wall time, the LP solves match the training's own count;
* the trace is well-formed JSON, has one track per worker, and its events nest
  (iteration > phase > task) on every track;
* ``--no-profile`` and ``CAUDAL_PROFILE=0`` turn it off.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from mpi_helpers import train_ranks

from caudal.profiling.columns import COLUMNS, PHASES
from caudal.profiling.table import read_profile
from caudal.profiling.trace import validate_trace

ITERATIONS = 3
CASE = ("brazil4", "--stages", "4", "--iterations", str(ITERATIONS), "--forward-passes", "5")


@pytest.fixture(scope="module", params=[1, 2], ids=["1rank", "2ranks"])
def run(request, tmp_path_factory):
    ranks = request.param
    output = tmp_path_factory.mktemp(f"profile{ranks}")
    summary = train_ranks(ranks, 2, CASE[0], output, *CASE[1:], "--trace-iteration", "2")
    return ranks, output, summary


@pytest.mark.mpi
def test_profile_has_one_row_per_iteration_rank_and_thread(run):
    ranks, output, _ = run
    table = pq.read_table(output / "profile.parquet")
    assert [(f.name, f.type.to_pandas_dtype()) for f in table.schema] == [(n, d.type) for n, d, _ in COLUMNS]
    columns, metadata = read_profile(output / "profile.parquet")
    assert table.num_rows == ITERATIONS * ranks * 2
    keys = set(zip(columns["iteration"].tolist(), columns["rank"].tolist(), columns["thread"].tolist(), strict=True))
    assert keys == {(i, r, t) for i in range(1, ITERATIONS + 1) for r in range(ranks) for t in range(2)}
    assert (columns["ranks"] == ranks).all() and (columns["threads"] == 2).all()
    assert metadata["case"] == "brazil4" and metadata["forward_passes"] == "5"


@pytest.mark.mpi
def test_every_native_worker_reports_its_buffers(run):
    """The memory column of the workspaces: after a solve a native workspace also holds bases, and reports them."""
    _, output, _ = run
    columns, metadata = read_profile(output / "profile.parquet")
    assert metadata["solver"] == "native"
    assert (columns["workspace_bytes"] > 0).all()


@pytest.mark.mpi
def test_profile_rows_add_up(run):
    ranks, output, summary = run
    columns, _ = read_profile(output / "profile.parquet")
    parts = sum(columns[f"{phase}_s"] for phase in PHASES) + columns["profiler_s"] + columns["other_s"]
    np.testing.assert_allclose(parts, columns["wall_s"], rtol=1e-9, atol=1e-9)
    assert (columns["other_s"] > -1e-6).all()
    assert (columns["busy_s"] <= columns["wall_s"] + 1e-6).all()
    assert (columns["busy_s"] + columns["wait_s"] <= columns["wall_s"] + 1e-6).all()
    assert (columns["busy_cpu_s"] > 0).all() and (columns["busy_cpu_s"] <= columns["busy_s"] + 1e-3).all()
    assert (columns["backward_s"] > 0).all() and (columns["busy_backward_s"] > 0).all()
    assert int(columns["solves"].sum()) == summary["lp_solves"]
    assert (columns["solve_s"] <= columns["busy_s"] + 1e-6).all()
    assert (columns["rss_bytes"] > 10 * 2**20).all() and (columns["cache_bytes"] > 0).all()
    if ranks > 1:
        assert (columns["communication_s"] > 0).all()
        shared = columns["cache_shared_bytes"]
        assert (shared[columns["rank"] == 0] > 0).all() and (shared[columns["rank"] != 0] == 0).all()


@pytest.mark.mpi
def test_trace_has_one_track_per_worker_and_nested_phases(run):
    ranks, output, _ = run
    document = json.loads((output / "trace.json").read_text())
    assert validate_trace(document) == []
    events = [e for e in document["traceEvents"] if e["ph"] == "X"]
    tracks = {(e["pid"], e["tid"]) for e in events}
    assert tracks == {(r, t) for r in range(ranks) for t in range(2)}
    named = {(e["pid"], e["tid"]) for e in document["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}
    assert named == tracks
    for track in tracks:
        mine = [e for e in events if (e["pid"], e["tid"]) == track]
        (iteration,) = [e for e in mine if e["cat"] == "iteration"]
        assert iteration["name"] == "iteration 2"
        phases = [e for e in mine if e["cat"] == "phase"]
        tasks = [e for e in mine if e["cat"] == "task"]
        assert {p["name"] for p in phases} >= {"forward", "backward", "communication", "cache"}
        assert sum(p["name"] == "backward" for p in phases) == 3  # stages 3, 2, 1
        assert tasks, f"no task on {track}"
        for child, parents in [(p, [iteration]) for p in phases] + [(t, phases) for t in tasks]:
            assert any(_inside(child, parent) for parent in parents), f"{child} is not nested on {track}"


def _inside(child: dict, parent: dict, slack: float = 0.01) -> bool:
    return (child["ts"] >= parent["ts"] - slack
            and child["ts"] + child["dur"] <= parent["ts"] + parent["dur"] + slack)


def test_validate_trace_finds_overlapping_events():
    good = {"traceEvents": [
        {"name": "a", "ph": "X", "ts": 0, "dur": 10, "pid": 0, "tid": 0},
        {"name": "b", "ph": "X", "ts": 2, "dur": 3, "pid": 0, "tid": 0},
    ]}
    bad = {"traceEvents": [*good["traceEvents"], {"name": "c", "ph": "X", "ts": 8, "dur": 5, "pid": 0, "tid": 0}]}
    assert validate_trace(good) == []
    assert any("overlaps" in problem for problem in validate_trace(bad))
    assert validate_trace({"events": []}) == ["no traceEvents list"]


def test_profiling_can_be_turned_off(tmp_path, monkeypatch):
    import caudal
    from caudal.examples import brazil4

    problem = brazil4(stages=2)
    caudal.train(problem, iterations=1, output=tmp_path / "off", profile=False, threads=1)
    monkeypatch.setenv("CAUDAL_PROFILE", "0")
    caudal.train(problem, iterations=1, output=tmp_path / "env", threads=1)
    caudal.train(problem, iterations=1, output=tmp_path / "forced", threads=1, profile=True)
    assert not (tmp_path / "off" / "profile.parquet").exists()
    assert not (tmp_path / "env" / "profile.parquet").exists()
    assert (tmp_path / "forced" / "profile.parquet").exists()
    with pytest.raises(ValueError, match="trace_iteration"):
        caudal.train(problem, iterations=1, trace_iteration=1, threads=1)


def test_the_profilers_cache_figure_is_the_caches_own():
    """The profiler sums the stage LP arrays through its own view of the cache, without importing sddp."""
    import caudal
    from caudal.profiling.memory import cache_bytes
    from caudal.sddp.shared_stage_cache import private_cache_bytes
    from caudal.sddp.training import TrainingState

    state = TrainingState.fresh(caudal.examples.brazil4(stages=3).compile())
    assert cache_bytes(state.cache) == private_cache_bytes(state.cache) > 0
