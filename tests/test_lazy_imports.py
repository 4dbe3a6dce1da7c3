"""A run imports the heavy libraries it uses, when it uses them.

pyarrow (about 30 MB resident), matplotlib and rich serve outputs, plots and
reports; highspy loads a second HiGHS beside the native kernels' (about 5 MB).
A training that writes no output must not pay for them: each check runs in a
fresh interpreter and reads its ``sys.modules`` at the end. A one-process run
does not load MPI (mpi4py and its libmpi, about 18 MB), nor psutil (2.3 MB;
Linux's ``/proc`` gives the RSS a profile row records). Reading a Cobre case
needs a Parquet reader only, arro3's (about 13 MB, where pyarrow's libraries
take about 29): a training on a case never imports pyarrow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from caudal.solver.native_workspace import NATIVE_AVAILABLE

CASE_WITH_PARQUET = Path(__file__).parent / "data" / "cobre" / "4ree"
"""A Cobre case whose scenario statistics are Parquet files."""

UNUSED_BY_A_BARE_TRAINING = ("pyarrow", "matplotlib", "rich", "highspy", "mpi4py", "psutil")

UNUSED_BY_A_CASE_TRAINING = (
    "matplotlib", "rich", "highspy", "mpi4py", "psutil", "pyarrow",
    # the standard library's too, each a few hundred kB: argument parsing, sockets, archives, temporary files
    "argparse", "difflib", "socket", "shutil", "bz2", "lzma", "csv", "tempfile",
)
"""Modules (full dotted names) a training on a Cobre case with Parquet files must not import."""

MODULES = """
import json, sys
print(json.dumps(sorted(sys.modules)))
"""

REPORT = """
import json, sys
print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))
"""


def imported_after(code: str) -> set[str]:
    """Top-level packages imported by a fresh interpreter that runs ``code``."""
    done = subprocess.run([sys.executable, "-c", code + REPORT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def modules_after(code: str) -> set[str]:
    """Every module (full dotted name) imported by a fresh interpreter that runs ``code``."""
    done = subprocess.run([sys.executable, "-c", code + MODULES], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_import_caudal_imports_no_output_library() -> None:
    loaded = imported_after("import caudal")
    assert "caudal" in loaded and "numpy" in loaded  # the check sees what was imported
    assert loaded.isdisjoint(UNUSED_BY_A_BARE_TRAINING), loaded & set(UNUSED_BY_A_BARE_TRAINING)


@pytest.mark.skipif(not NATIVE_AVAILABLE, reason="without the native kernels a training solves with highspy")
def test_a_training_without_output_imports_no_output_library() -> None:
    loaded = imported_after(
        "import caudal\n"
        "from caudal.examples import brazil4\n"
        "caudal.train(brazil4(stages=3, openings=3), iterations=2, threads=1)\n"
    )
    assert loaded.isdisjoint(UNUSED_BY_A_BARE_TRAINING), loaded & set(UNUSED_BY_A_BARE_TRAINING)


@pytest.mark.skipif(not NATIVE_AVAILABLE, reason="without the native kernels a training solves with highspy")
def test_the_train_command_without_output_imports_no_output_library() -> None:
    loaded = imported_after(
        "import runpy, sys\n"
        "sys.argv = ['caudal', 'train', 'brazil4', '--stages', '3', '--iterations', '2', '--threads', '1', '-q']\n"
        "try:\n"
        "    runpy.run_module('caudal', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    assert not stop.code, stop.code\n"
    )
    assert loaded.isdisjoint(UNUSED_BY_A_BARE_TRAINING), loaded & set(UNUSED_BY_A_BARE_TRAINING)


def test_the_check_sees_a_library_that_is_imported() -> None:
    """The same check after a plot-free pyarrow use: it must name pyarrow, or the tests above prove nothing."""
    assert "pyarrow" in imported_after("import caudal\nimport pyarrow.parquet\n")


@pytest.mark.skipif(not NATIVE_AVAILABLE, reason="without the native kernels a training solves with highspy")
def test_a_training_on_a_cobre_case_imports_only_the_parquet_reader() -> None:
    loaded = imported_after(
        "import caudal\n"
        "from caudal.hydro import cobre\n"
        f"study = cobre.load_case({str(CASE_WITH_PARQUET)!r})\n"
        "caudal.train(study.problem, iterations=2, threads=1)\n"
    )
    assert "arro3" in loaded  # the case's Parquet files were read
    assert loaded.isdisjoint(UNUSED_BY_A_CASE_TRAINING), loaded & set(UNUSED_BY_A_CASE_TRAINING)


def test_the_module_check_sees_the_parquet_filesystems() -> None:
    """``pyarrow.parquet`` brings ``pyarrow.fs`` and S3: the check above must be able to see them."""
    loaded = modules_after("import caudal\nimport pyarrow.parquet\n")
    assert {"pyarrow.fs", "pyarrow.parquet"} <= loaded


def test_arrow_allocates_with_malloc_unless_the_user_chose() -> None:
    """caudal sets Arrow's pool before pyarrow loads (mimalloc's segments stay resident), never over the user's."""
    code = "import caudal, pyarrow\nprint(pyarrow.default_memory_pool().backend_name)\n"
    chosen = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"})
    assert chosen.stdout.split() == ["system"], chosen.stderr
    theirs = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"})
    assert theirs.stdout.split() == ["mimalloc"], theirs.stderr
