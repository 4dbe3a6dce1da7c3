"""The command line under faults, on one process: signals, unusable folders, bad problem files and arguments.

* SIGTERM while the problem file is still loading is honoured (one iteration,
  a checkpoint, exit 75); with no --output it exits 143, which promises nothing
  to resume; Ctrl-C checkpoints and exits 130;
* an unwritable --output or --checkpoint-dir is refused before training, and a
  full disk at a checkpoint names the file;
* problem files with a syntax error, an ImportError, no or a non-callable
  build_problem, or a wrong return type; a binary --config; a seed beyond 64
  bits; a --resume with nothing to resume: one line naming what is wrong.
"""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from caudal.cli import main
from caudal.sddp.training import TrainingOptions

SLOW = '''
import time
from caudal.examples import brazil4

def build_problem():
    print("loading", flush=True)
    time.sleep(1.5)
    return brazil4(stages=3)
'''


def signalled_run(tmp_path: Path, signum: int, *extra: str, wait_for: str = "loading") -> subprocess.CompletedProcess:
    case = tmp_path / "slow.py"
    case.write_text(SLOW)
    job = subprocess.Popen([sys.executable, "-m", "caudal", "train", str(case), "--iterations", "100000",
                            "--threads", "1", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in job.stdout:
        if line.strip().startswith(wait_for):
            break
    job.send_signal(signum)
    stdout, stderr = job.communicate(timeout=30)
    return subprocess.CompletedProcess(job.args, job.returncode, stdout, stderr)


def test_sigterm_while_the_problem_file_loads_is_honoured(tmp_path):
    done = signalled_run(tmp_path, signal.SIGTERM, "--output", str(tmp_path / "run"))
    assert done.returncode == 75, done.stderr
    assert [p.name for p in (tmp_path / "run" / "checkpoints").glob("*.caudal")] == ["checkpoint-00000001.caudal"]


def test_sigterm_with_no_checkpoint_does_not_promise_a_resume(tmp_path):
    done = signalled_run(tmp_path, signal.SIGTERM)
    assert done.returncode == 143, done.stderr
    assert "no checkpoint written" in done.stderr and "nothing to resume" in done.stderr


def test_ctrl_c_checkpoints_and_exits_130(tmp_path):
    done = signalled_run(tmp_path, signal.SIGINT, "--output", str(tmp_path / "run"), wait_for="2 ")
    assert done.returncode == 130, done.stderr
    assert "SIGINT received" in done.stderr and "Traceback" not in done.stderr
    assert list((tmp_path / "run" / "checkpoints").glob("checkpoint-*.caudal"))


@pytest.mark.parametrize("option", ["--output", "--checkpoint-dir"])
def test_an_unwritable_folder_is_refused_before_training(tmp_path, capsys, option):
    (tmp_path / "file").write_text("a file, not a folder")
    started = time.perf_counter()
    status = main(["train", "brazil4", "--stages", "3", "--iterations", "50", option, str(tmp_path / "file" / "run")])
    assert status == 2 and time.perf_counter() - started < 10
    err = capsys.readouterr().err
    assert f"{tmp_path / 'file' / 'run'}: cannot create the run folder" in err and "iter" not in err


def test_a_full_disk_at_a_checkpoint_names_the_file(tmp_path, capsys, monkeypatch):
    import caudal.checkpoint.store as store

    def full(path, chunks):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "atomic_write", full)
    status = main(["train", "brazil4", "--stages", "3", "--iterations", "2", "--output", str(tmp_path / "run"),
                   "--quiet"])
    assert status == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'run' / 'checkpoints' / 'checkpoint-00000002.caudal'}: cannot write: No space left" in err


@pytest.mark.parametrize("source,says", [
    ("def build_problem(:\n", "line 1: syntax error"),
    ("import caudal_no_such_module\n", "running it raised ModuleNotFoundError: No module named"),
    ("x = 1\n", "defines no build_problem() function"),
    ("build_problem = 3\n", "build_problem is not a function but int 3"),
    ("def build_problem():\n    return None\n", "build_problem() returned NoneType, not a caudal.Problem"),
    ("def build_problem():\n    return {}['x']\n", "build_problem() raised KeyError: 'x' (at case.py:2)"),
])
def test_a_bad_problem_file_is_one_named_line(tmp_path, capsys, source, says):
    case = tmp_path / "case.py"
    case.write_text(source)
    assert main(["train", str(case), "--iterations", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(case) in err and says in err, err


def test_a_binary_config_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "run.toml").write_bytes(bytes(range(256)))
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--config", str(tmp_path / "run.toml")])
    assert exit_.value.code == 2
    assert f"--config {tmp_path / 'run.toml'}: not a TOML file" in capsys.readouterr().err


def test_a_seed_beyond_64_bits_is_refused_at_once(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--seed", str(2**64), "--iterations", "1"])
    assert exit_.value.code == 2 and "must be at most 2**64 - 1" in capsys.readouterr().err
    with pytest.raises(ValueError, match="64-bit"):
        TrainingOptions(iterations=1, seed=2**64)


def test_nothing_to_resume_exits_2_like_inspect(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "brazil4", "--stages", "3", "--iterations", "1", "--resume", str(tmp_path / "empty")]) == 2
    assert main(["checkpoint", "inspect", str(tmp_path / "empty")]) == 2
    assert "no valid checkpoint" in capsys.readouterr().err


def test_a_full_disk_at_the_summary_names_the_file(tmp_path, monkeypatch):
    import json

    from caudal import outputs

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json, "dump", full)
    with pytest.raises(OSError, match=f"{tmp_path / 'summary.json'}: cannot write: No space left on device"):
        outputs.write_summary(tmp_path / "summary.json", {})
    assert not list(tmp_path.iterdir()), "no temporary file left behind"
