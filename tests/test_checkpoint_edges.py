"""Checkpoint edge cases: what used to block a resume, pass verification wrongly, or be skipped silently.

* a newer, valid checkpoint of another case or seed is skipped with a warning
  and the resume falls back to the older checkpoint of this run;
* a directory, FIFO or dangling link under a checkpoint name is named (never
  opened: a FIFO would block), and a training refuses to start over one;
* ``resume`` given a checkpoint file resumes from that file;
* a payload whose checksum matches but whose bases are impossible fails
  verification, naming the file;
* unknown header flags are refused;
* fallback warnings are not printed a second time by the logging module.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from test_checkpoint_cases import trained_state, two_reservoirs

import caudal
from caudal.checkpoint import CheckpointError, latest_valid, read_checkpoint, write_checkpoint
from caudal.checkpoint.during_training import resume_state
from caudal.checkpoint.framing import HEADER_SIZE
from caudal.parallel.comm import SingleProcessCommunicator
from caudal.sddp.training import TrainingOptions
from caudal.solver.workspace import Basis

OPTIONS = TrainingOptions(iterations=3, forward_passes=2, seed=3)
PROBLEM = two_reservoirs(stages=4)


@pytest.fixture(scope="module")
def state():
    return trained_state(PROBLEM, OPTIONS)


def at(state, iteration):
    return dataclasses.replace(state, iteration=iteration, history=state.history[:iteration])


def test_a_newer_checkpoint_of_another_seed_does_not_block_the_resume(tmp_path, state):
    write_checkpoint(tmp_path, at(state, 2), OPTIONS)
    other_seed = dataclasses.replace(OPTIONS, seed=99)
    write_checkpoint(tmp_path, at(trained_state(PROBLEM, other_seed), 3), other_seed)
    resumed, path, warnings = resume_state(tmp_path, PROBLEM, OPTIONS, SingleProcessCommunicator())
    assert path.name == "checkpoint-00000002.caudal" and resumed.iteration == 2
    text = "\n".join(warnings)
    assert "checkpoint-00000003.caudal: cannot resume: options fingerprint mismatch" in text
    assert "falling back to the previous good checkpoint" in text


def test_a_newer_checkpoint_of_another_case_does_not_block_the_resume(tmp_path, state):
    write_checkpoint(tmp_path, at(state, 1), OPTIONS)
    other = two_reservoirs(stages=5)
    write_checkpoint(tmp_path, at(trained_state(other, OPTIONS), 3), OPTIONS)
    resumed, path, warnings = resume_state(tmp_path, PROBLEM, OPTIONS, SingleProcessCommunicator())
    assert resumed.iteration == 1 and "case fingerprint mismatch" in "\n".join(warnings)


def test_resume_from_a_checkpoint_file(tmp_path, state):
    first = write_checkpoint(tmp_path, at(state, 1), OPTIONS, keep=5)
    write_checkpoint(tmp_path, at(state, 3), OPTIONS, keep=5)
    resumed, path, warnings = resume_state(first, PROBLEM, OPTIONS, SingleProcessCommunicator())
    assert (resumed.iteration, path, warnings) == (1, first, [])


def test_fifos_dangling_links_and_empty_directories_are_named_never_opened(tmp_path, state):
    good = write_checkpoint(tmp_path, at(state, 1), OPTIONS, as_directory=False)
    (tmp_path / "checkpoint-00000005.caudal").mkdir()  # a checkpoint directory with nothing in it
    os.mkfifo(tmp_path / "checkpoint-00000004.caudal")
    (tmp_path / "checkpoint-00000003.caudal").symlink_to(tmp_path / "gone")
    found, warnings = latest_valid(tmp_path)  # would block forever if it opened the FIFO
    assert found == good
    text = "\n".join(warnings)
    assert "skipped " + str(tmp_path / "checkpoint-00000005.caudal") in text
    assert "checkpoint-00000004.caudal: a FIFO, not a checkpoint file" in text
    assert "checkpoint-00000003.caudal: a dangling symbolic link" in text


def test_training_refuses_to_start_over_a_fifo_named_like_a_checkpoint(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    os.mkfifo(tmp_path / "checkpoints" / "checkpoint-00000002.caudal")
    with pytest.raises(CheckpointError, match="checkpoint-00000002.caudal: is a FIFO, where a checkpoint"):
        caudal.train(PROBLEM, iterations=4, output=tmp_path, checkpoint_every=2)


@pytest.mark.parametrize("status,problem", [(9, "column status 9 is not a basis status"), (255, "status 255")])
def test_impossible_bases_fail_verification_naming_the_file(tmp_path, state, status, problem):
    saved = state.cache.bases[1]
    broken = Basis(saved.col_status.copy(), saved.row_status.copy())
    broken.col_status[:] = status
    broken.row_status[:] = status
    state.cache.bases[1] = broken
    try:
        path = write_checkpoint(tmp_path, at(state, 3), OPTIONS)  # its checksum matches its (bad) payload
    finally:
        state.cache.bases[1] = saved
    with pytest.raises(CheckpointError, match=problem) as caught:
        read_checkpoint(path)
    assert caught.value.path == path and "stage 1 basis" in str(caught.value)


def test_unknown_header_flags_are_refused(tmp_path, state):
    path = write_checkpoint(tmp_path, at(state, 3), OPTIONS)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, 40, 0x80000000)  # no caudal knows this flag
    struct.pack_into("<I", data, HEADER_SIZE - 4, zlib.crc32(data[: HEADER_SIZE - 4]))
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="unknown flags 0x80000000"):
        read_checkpoint(path)


def test_inspect_prints_each_fallback_warning_once(tmp_path, state):
    write_checkpoint(tmp_path, at(state, 1), OPTIONS, keep=5)
    newest = write_checkpoint(tmp_path, at(state, 2), OPTIONS, keep=5)
    newest.write_bytes(newest.read_bytes()[:-5])
    done = subprocess.run([sys.executable, "-m", "caudal.cli", "checkpoint", "inspect", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("truncated") == 1, done.stderr
    assert np.char.count(done.stdout, "verified: yes") == 1
