"""A run imports the heavy libraries it uses, when it uses them.

pyarrow (about 30 MB resident), matplotlib and rich serve outputs, plots and
reports; highspy loads a second HiGHS beside the native kernels' (about 5 MB).
A training that writes no output must not pay for them: each check runs in a
fresh interpreter and reads its ``sys.modules`` at the end.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from caudal.solver.native_workspace import NATIVE_AVAILABLE

UNUSED_BY_A_BARE_TRAINING = ("pyarrow", "matplotlib", "rich", "highspy")

REPORT = """
import json, sys
print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))
"""


def imported_after(code: str) -> set[str]:
    """Top-level packages imported by a fresh interpreter that runs ``code``."""
    done = subprocess.run([sys.executable, "-c", code + REPORT], capture_output=True, text=True, timeout=120)
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
