"""Checkpoint directories: one file per stage (or stage part) and a manifest, for checkpoints of any size.

Both layouts give back every array bit for bit; a run resumed from a directory
continues exactly like one that never stopped; a damaged, missing or swapped
stage file or manifest is named and the previous checkpoint is used; a write
that fails half-way leaves the previous checkpoint the newest; pruning and
inspect/export treat directories like files. The sizes here are tiny: small
``shard_bytes`` force stages into several parts.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import mmap
import os
import shutil

import numpy as np
import pytest
from test_checkpoint_cases import assert_same_state, deactivate_some_cuts, new_pool, trained_state, two_reservoirs

import caudal.checkpoint.directory as directory_module
from caudal.checkpoint import (
    CheckpointError,
    export_cuts,
    inspect_checkpoint,
    latest_valid,
    read_checkpoint,
    restore_state,
    write_checkpoint,
)
from caudal.checkpoint.directory import read_manifest
from caudal.checkpoint.files import list_checkpoints, list_temporaries
from caudal.checkpoint.manifest import MANIFEST_NAME
from caudal.checkpoint.shards import plan_shards
from caudal.checkpoint.store import writes_directory
from caudal.sddp.cuts import CutPool
from caudal.sddp.stage_cache import StageCache
from caudal.sddp.training import TrainingOptions, TrainingState, run_training

K = 3
OPTIONS = TrainingOptions(iterations=K, forward_passes=3, seed=7)
LAYOUTS = {"file": {"as_directory": False}, "directory": {"as_directory": True, "threads": 2},
           "directory in parts": {"as_directory": True, "threads": 2, "shard_bytes": 300}}


@pytest.fixture(scope="module")
def problem():
    return two_reservoirs()


@pytest.fixture(scope="module")
def state(problem):
    trained = trained_state(problem, OPTIONS)
    deactivate_some_cuts(trained)
    return trained


def _at(state: TrainingState, iteration: int) -> TrainingState:
    return dataclasses.replace(state, iteration=iteration, history=state.history[:iteration])


def _stage_files(path) -> list:
    return sorted(p for p in path.iterdir() if p.name != MANIFEST_NAME)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_both_layouts_round_trip_bit_exact(tmp_path, problem, state, layout):
    visited = [np.random.default_rng(t).normal(size=(3 * t, problem.n_states)) for t in range(problem.n_stages)]
    visited[2][0, 1] = -0.0
    path = write_checkpoint(tmp_path, state, OPTIONS, visited_states=visited, **LAYOUTS[layout])
    assert path.name == f"checkpoint-{K:08d}.caudal" and path.is_dir() == (layout != "file")
    checkpoint = read_checkpoint(path)
    assert checkpoint.iteration == K and checkpoint.history.records() == state.history
    for t, (pool, saved) in enumerate(zip(state.pools, checkpoint.cut_pools, strict=True)):
        assert saved.stage == t and saved.n_cuts == pool.size
        for name, ours in (("intercepts", pool.intercepts), ("iteration", pool.iteration),
                           ("forward_pass", pool.forward_pass), ("active", pool.active)):
            assert getattr(saved, name).tobytes() == ours.tobytes(), (t, name)
        assert saved.dense_coefficients().tobytes() == pool.coefficients.tobytes()
    for t, (basis, saved) in enumerate(zip(state.cache.bases, checkpoint.bases, strict=True)):
        assert saved.col_status.tobytes() == basis.col_status.tobytes()
        assert saved.row_status.tobytes() == basis.row_status.tobytes()
        assert np.array_equal(saved.cut_ids, state.cache.lps[t].cut_ids)
    for t, rows in enumerate(visited):
        assert checkpoint.visited_states[t].tobytes() == rows.tobytes()
    if layout == "directory in parts":
        parts = [p.name for p in _stage_files(path)]
        assert "stage-0000-001.caudal" in parts and len(parts) > problem.n_stages
        assert checkpoint.files == len(parts) + 1


@pytest.mark.parametrize("shard_bytes", [1 << 20, 150])
def test_dense_and_sparse_cuts_keep_every_bit(tmp_path, problem, state, shard_bytes):
    """Dense storage where it is smaller, CSR where the cuts are sparse; -0.0 survives both, and joining parts."""
    pools = []
    rng = np.random.default_rng(1)
    for t in range(problem.n_stages):
        pool = CutPool(problem.n_states)
        coefficients = rng.normal(size=(7, problem.n_states))
        if t % 2:
            coefficients[:, 1] = 0.0  # half the entries +0.0: CSR is smaller
        coefficients[3, 0] = -0.0
        pool.add(rng.normal(size=7), coefficients, t, np.arange(7))
        pools.append(pool)
    synthetic = TrainingState(problem, pools, StageCache(problem, pools), iteration=0)
    path = write_checkpoint(tmp_path, synthetic, OPTIONS, as_directory=True, shard_bytes=shard_bytes)
    checkpoint = read_checkpoint(path)
    assert (checkpoint.files - 1 == problem.n_stages) == (shard_bytes > 1000)  # or stages in several parts
    forms = ["dense" if p.dense is not None else "csr" for p in checkpoint.cut_pools]
    assert forms == ["dense", "csr", "dense", "csr", "dense"]
    for pool, saved in zip(pools, checkpoint.cut_pools, strict=True):
        assert saved.dense_coefficients().tobytes() == pool.coefficients.tobytes()
    if shard_bytes < 1000:
        return  # stages in parts are joined: a copy
    dense = checkpoint.cut_pools[0].dense  # zero-copy: a read-only view of the file's memory map
    assert not dense.flags.writeable and not dense.flags.owndata
    owner = dense
    while isinstance(owner, np.ndarray | memoryview):
        owner = owner.base if isinstance(owner, np.ndarray) else owner.obj
    assert isinstance(owner, mmap.mmap)


def test_no_stage_file_exceeds_its_share(tmp_path, problem, state):
    shard_bytes = 400
    path = write_checkpoint(tmp_path, state, OPTIONS, as_directory=True, shard_bytes=shard_bytes)
    per_cut = 37 + 12 * problem.n_states  # a file may pass its share by one cut, plus framing and tables
    assert all(p.stat().st_size <= shard_bytes + per_cut + 700 for p in _stage_files(path))
    plan = plan_shards(state.pools, [a.states for a in state.visited], [0] * problem.n_stages, 1)
    assert [s.n_cuts for s in plan if s.stage == 0] == [1] * state.pools[0].size  # one cut a file at the limit


def _train(state: TrainingState, options: TrainingOptions) -> None:
    pool = new_pool()
    try:
        run_training(state, pool, options)
    finally:
        pool.close()


@pytest.mark.parametrize("first,second", [("directory", "file"), ("file", "directory in parts")])
def test_resume_across_layouts_is_bit_identical(tmp_path, problem, first, second):
    """k iterations, a checkpoint in one layout, then another; resumed to 2k equals 2k straight."""
    options = dataclasses.replace(OPTIONS, iterations=2 * K)
    straight = TrainingState.fresh(problem)
    _train(straight, options)
    half = trained_state(problem, dataclasses.replace(options, iterations=K))
    write_checkpoint(tmp_path, half, options, **LAYOUTS[first])
    del half
    resumed = restore_state(read_checkpoint(latest_valid(tmp_path)[0]), problem, options)
    _train(resumed, dataclasses.replace(options, iterations=K + 1))
    write_checkpoint(tmp_path, resumed, options, **LAYOUTS[second])
    again = restore_state(read_checkpoint(latest_valid(tmp_path)[0]), problem, options)
    _train(again, options)
    assert_same_state(straight, again, compare_times=False)


def _damage(path, how: str) -> str:
    """Damage checkpoint directory ``path``; returns the name of the file the error must name."""
    stage = _stage_files(path)[1]
    manifest = path / MANIFEST_NAME
    if how == "flipped stage byte":
        data = bytearray(stage.read_bytes())
        data[len(data) // 2] ^= 0x20
        stage.write_bytes(bytes(data))
    elif how == "truncated stage file":
        stage.write_bytes(stage.read_bytes()[:-9])
    elif how == "missing stage file":
        stage.unlink()
    elif how == "stage file of another checkpoint":
        return str(stage)  # done by the caller, which has another checkpoint
    elif how == "flipped manifest byte":
        data = bytearray(manifest.read_bytes())
        data[-5] ^= 0x01
        manifest.write_bytes(bytes(data))
        return str(manifest)
    elif how == "missing manifest":
        manifest.unlink()
        return str(manifest)
    return str(stage)


@pytest.mark.parametrize("how", ["flipped stage byte", "truncated stage file", "missing stage file",
                                 "stage file of another checkpoint", "flipped manifest byte", "missing manifest"])
def test_a_damaged_directory_is_named_and_the_previous_checkpoint_used(tmp_path, state, how):
    other_visits = [np.ones((1, state.problem.n_states))] * state.problem.n_stages  # other stage files
    older = write_checkpoint(tmp_path, _at(state, 1), OPTIONS, as_directory=True, keep=5, visited_states=other_visits)
    newer = write_checkpoint(tmp_path, _at(state, 2), OPTIONS, as_directory=True, keep=5)
    named = _damage(newer, how)
    if how == "stage file of another checkpoint":
        shutil.copyfile(_stage_files(older)[1], named)  # a valid stage file, but not the one listed
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(newer)
    assert named in str(caught.value), caught.value
    found, warnings = latest_valid(tmp_path)
    assert found == older
    text = "\n".join(warnings)
    assert f"skipped {named}" in text and f"falling back to the previous good checkpoint {older}" in text


def test_a_failed_write_leaves_the_previous_checkpoint(tmp_path, state, monkeypatch):
    """A writer that fails between stage files publishes nothing and cleans up its temporary directory."""
    good = write_checkpoint(tmp_path, _at(state, 1), OPTIONS, as_directory=True)
    written = []
    real = directory_module.encode_shard

    def failing(shard, *args):
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(shard)
        return real(shard, *args)

    monkeypatch.setattr(directory_module, "encode_shard", failing)
    with pytest.raises(CheckpointError) as caught:
        write_checkpoint(tmp_path, _at(state, 2), OPTIONS, as_directory=True)
    assert caught.value.kind == "write" and "No space left on device" in str(caught.value)
    assert [p for _, p in list_checkpoints(tmp_path)] == [good] and list_temporaries(tmp_path) == []
    assert latest_valid(tmp_path) == (good, [])


def test_a_crash_mid_write_leaves_only_a_temporary(tmp_path, state, monkeypatch):
    """A process killed mid-write never renames: readers skip its temporary, the next write deletes it."""
    good = write_checkpoint(tmp_path, _at(state, 1), OPTIONS, as_directory=True)
    monkeypatch.setattr(directory_module, "replace_entry", _crash)
    with pytest.raises(_Crash):
        write_checkpoint(tmp_path, _at(state, 2), OPTIONS, as_directory=True)
    leftover = list_temporaries(tmp_path)
    assert len(leftover) == 1 and (leftover[0] / MANIFEST_NAME).exists()  # complete, but never published
    found, warnings = latest_valid(tmp_path)
    assert found == good and "unfinished temporary" in warnings[0]
    monkeypatch.undo()
    write_checkpoint(tmp_path, _at(state, 2), OPTIONS, as_directory=True)
    assert list_temporaries(tmp_path) == []


class _Crash(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even the writer's cleanup."""


def _crash(*_):
    raise _Crash


def test_pruning_and_replacing_treat_directories_like_files(tmp_path, state):
    for iteration, as_directory in ((0, False), (1, True), (2, False), (3, True)):
        write_checkpoint(tmp_path, _at(state, iteration), OPTIONS, as_directory=as_directory, keep=2)
    assert [(i, p.is_dir()) for i, p in list_checkpoints(tmp_path)] == [(3, True), (2, False)]
    write_checkpoint(tmp_path, _at(state, 3), OPTIONS, as_directory=False, keep=2)  # same iteration, other layout
    assert [(i, p.is_dir()) for i, p in list_checkpoints(tmp_path)] == [(3, False), (2, False)]
    write_checkpoint(tmp_path, _at(state, 3), OPTIONS, as_directory=True, keep=2)
    assert [(i, p.is_dir()) for i, p in list_checkpoints(tmp_path)] == [(3, True), (2, False)]
    assert sorted(os.listdir(tmp_path)) == ["checkpoint-00000002.caudal", "checkpoint-00000003.caudal"]
    assert read_checkpoint(tmp_path / "checkpoint-00000003.caudal").iteration == 3


def test_inspect_and_export_read_both_layouts(tmp_path, state):
    file = write_checkpoint(tmp_path / "file", state, OPTIONS, as_directory=False)
    folder = write_checkpoint(tmp_path / "folder", state, OPTIONS, as_directory=True, shard_bytes=300)
    text = inspect_checkpoint(folder)
    n_files = len(_stage_files(folder))
    assert f"directory of a manifest and {n_files} stage files, every checksum ok" in text
    assert inspect_checkpoint(file).splitlines()[2:-1] == text.splitlines()[2:-1]
    tables = []
    for path in (file, folder):
        with open(export_cuts(path, tmp_path / f"{path.parent.name}.csv"), newline="") as stream:
            tables.append(list(csv.reader(stream)))
    assert tables[0] == tables[1] and len(tables[0]) == 1 + sum(p.size for p in state.pools)


def test_the_layout_is_chosen_by_size(state, monkeypatch):
    visited = [a.states for a in state.visited]
    assert not writes_directory(state, visited)
    monkeypatch.setattr("caudal.checkpoint.store.DIRECTORY_ABOVE", 1000)
    assert writes_directory(state, visited)


def test_the_manifest_lists_every_stage_file_and_its_writer(tmp_path, state):
    path = write_checkpoint(tmp_path, state, OPTIONS, as_directory=True, shard_bytes=300)
    manifest = read_manifest(path)
    assert [entry.plan.file_name for entry in manifest.shards] == [p.name for p in _stage_files(path)]
    assert {entry.rank for entry in manifest.shards} == {0}
    assert all(entry.file_size == (path / entry.plan.file_name).stat().st_size for entry in manifest.shards)


# --- under mpiexec: both ranks write, a failure on one rank reaches all, resume across layouts ---

BRAZIL = ["brazil4", "--stages", "5", "--forward-passes", "4", "--threads", "1", "--quiet"]


def _train_cli(ranks: int, output, layout: str, *extra: str) -> dict:
    from mpi_helpers import run_ranks

    done = run_ranks(ranks, ["-m", "caudal", "train", *BRAZIL, "--output", str(output), *extra],
                     env={"CAUDAL_CHECKPOINT_LAYOUT": layout}, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((output / "summary.json").read_text())
    rows = (output / "convergence.csv").read_text().splitlines()
    summary["bounds"] = [",".join(r.split(",")[:5] + r.split(",")[6:]) for r in rows]  # without the time
    return summary


@pytest.mark.mpi
def test_two_ranks_write_the_stage_files_and_resume_across_layouts(tmp_path):
    straight = _train_cli(1, tmp_path / "straight", "file", "--iterations", "6")
    by_two = tmp_path / "by_two"
    _train_cli(2, by_two, "directory", "--iterations", "3")
    written = by_two / "checkpoints" / "checkpoint-00000003.caudal"
    assert written.is_dir() and {entry.rank for entry in read_manifest(written).shards} == {0, 1}
    resumed = _train_cli(1, by_two, "file", "--iterations", "6", "--resume", str(by_two))
    assert (by_two / "checkpoints" / "checkpoint-00000006.caudal").is_file()
    by_one = tmp_path / "by_one"
    _train_cli(1, by_one, "file", "--iterations", "3")
    resumed_by_two = _train_cli(2, by_one, "directory", "--iterations", "6", "--resume", str(by_one))
    final = by_one / "checkpoints" / "checkpoint-00000006.caudal"
    assert final.is_dir() and {entry.rank for entry in read_manifest(final).shards} == {0, 1}
    for run in (resumed, resumed_by_two):
        assert run["policy_digest"] == straight["policy_digest"] and run["bounds"] == straight["bounds"]


FAILING_RANK = """
import os
import sys
import caudal.checkpoint.directory as directory_module
from test_checkpoint_cases import trained_state, two_reservoirs
from caudal.checkpoint import CheckpointError, latest_valid, write_checkpoint
from caudal.parallel.comm import world
from caudal.sddp.training import TrainingOptions

comm = world()


def say(line):
    os.write(1, (line + "\\n").encode())  # one write per line: the ranks' lines never interleave


options = TrainingOptions(iterations=2, forward_passes=2, seed=1)
state = trained_state(two_reservoirs(), options)
real = directory_module.encode_shard
def failing(*args):
    raise OSError(28, "No space left on device")
if comm.rank == 1:
    directory_module.encode_shard = failing
try:
    write_checkpoint(sys.argv[1], state, options, as_directory=True, comm=comm)
    say(f"rank {comm.rank}: written")
except CheckpointError as error:
    say(f"rank {comm.rank}: {error.kind}: {error.problem}")
directory_module.encode_shard = real
path = write_checkpoint(sys.argv[1], state, options, as_directory=True, comm=comm)
comm.barrier()
say(f"rank {comm.rank}: then {latest_valid(sys.argv[1])[0] == path}")
"""


@pytest.mark.mpi
def test_a_rank_that_fails_to_write_makes_every_rank_raise(tmp_path):
    from mpi_helpers import run_ranks

    script = tmp_path / "failing_rank.py"
    script.write_text(FAILING_RANK)
    tests = os.path.dirname(os.path.abspath(__file__))
    done = run_ranks(2, [str(script), str(tmp_path / "checkpoints")], env={"PYTHONPATH": tests}, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "rank 0: write: checkpoint not written: 1 rank(s) could not write their stage files" in lines, lines
    assert any(line.startswith("rank 1: write: checkpoint not written: OSError: [Errno 28] No space left")
               for line in lines), lines
    assert "rank 0: then True" in lines and "rank 1: then True" in lines and len(lines) == 4, lines


def test_the_command_line_inspects_and_exports_a_checkpoint_directory(tmp_path, state):
    import subprocess
    import sys

    path = write_checkpoint(tmp_path / "run" / "checkpoints", state, OPTIONS, as_directory=True)
    for target in (path, tmp_path / "run"):  # the checkpoint directory itself, or the run holding it
        inspect = subprocess.run([sys.executable, "-m", "caudal", "checkpoint", "inspect", str(target)],
                                 capture_output=True, text=True, timeout=120)
        assert inspect.returncode == 0, inspect.stderr
        assert f"checkpoint {path}" in inspect.stdout and "every checksum ok" in inspect.stdout
    table = tmp_path / "cuts.csv"
    export = subprocess.run([sys.executable, "-m", "caudal", "checkpoint", "export", str(path), "-o", str(table)],
                            capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr
    assert len(table.read_text().splitlines()) == 1 + sum(p.size for p in state.pools)


def test_stage_files_hashed_while_written_are_framed_like_any_payload(tmp_path, problem, state, monkeypatch):
    """Chunks hashed as they are written, and short writes, give the header encode_header would."""
    from caudal.checkpoint.framing import FLAG_SHA256, HEADER_SIZE, encode_header
    from caudal.checkpoint.restore import restore_pools

    real_pwrite = os.pwrite
    monkeypatch.setattr(directory_module, "_CHUNK_BYTES", 64)
    monkeypatch.setattr(directory_module.os, "pwrite", lambda fd, data, at: real_pwrite(fd, bytes(data)[:7], at))
    path = write_checkpoint(tmp_path, state, OPTIONS, as_directory=True, threads=2)
    monkeypatch.undo()
    stage_files = sorted(p for p in path.iterdir() if p.name != MANIFEST_NAME)
    assert stage_files and all(p.stat().st_size > HEADER_SIZE + 64 for p in stage_files)
    for stage_file in stage_files:
        data = stage_file.read_bytes()
        assert data[:HEADER_SIZE] == encode_header(data[HEADER_SIZE:], FLAG_SHA256)
    loaded = read_checkpoint(path)
    assert_same_state(state, restore_state(loaded, problem, OPTIONS))
    serial, threaded = restore_pools(loaded, problem, threads=1), restore_pools(loaded, problem, threads=2)
    for saved, one, two in zip(state.pools, serial, threaded, strict=True):
        for name in ("intercepts", "coefficients", "iteration", "forward_pass", "active", "targets"):
            assert getattr(saved, name).tobytes() == getattr(one, name).tobytes() == getattr(two, name).tobytes()
