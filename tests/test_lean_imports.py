"""``import caudal`` and a training load only what the run uses (resident memory, issue 22).

``tests/test_lazy_imports.py`` keeps the output libraries (pyarrow, matplotlib,
rich, highspy, MPI) out of a training; this keeps out what ``import caudal``
used to bring along whether used or not: the checkpoint machinery with the
FlatBuffers runtime and the generated schema module (about 3.8 MB resident),
OpenSSL through ``hashlib`` (3.4 MB), and brazil4's data (``caudal.examples``,
about 1 MB). A Cobre case without Parquet files is read without pyarrow (about
27 MB). Each check runs in a fresh interpreter and reads its ``sys.modules``;
a positive control shows the same check sees a module when the run does use it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from caudal.solver.native_workspace import NATIVE_AVAILABLE

DETERMINISTIC = Path(__file__).parent / "data" / "cobre" / "deterministic"

NOT_IMPORTED_BY_CAUDAL = (
    "caudal.examples", "caudal.checkpoint.store", "caudal.checkpoint.generated.checkpoint_generated",
    "flatbuffers", "hashlib", "_hashlib", "secrets", "pyarrow", "matplotlib", "rich",
)
"""Modules (full dotted names) ``import caudal`` must not import."""

NOT_IMPORTED_BY_A_TRAINING = (
    "caudal.examples", "caudal.checkpoint.store", "caudal.checkpoint.generated.checkpoint_generated",
    "flatbuffers", "pyarrow", "matplotlib", "rich",
)
"""Modules a training without checkpoints on a Cobre case without Parquet files must not import.

``hashlib`` is not in the list: ``numpy.random`` imports ``secrets`` (and with it OpenSSL)."""

MODULES = """
import json, sys
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(code: str) -> set[str]:
    """Every module (full dotted name) a fresh interpreter has imported after running ``code``."""
    done = subprocess.run([sys.executable, "-c", code + MODULES], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def case_without_parquet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Cobre's thermal-dispatch case with its scenario statistics removed: a case that reads no Parquet file."""
    case = tmp_path_factory.mktemp("no_parquet") / "case"
    shutil.copytree(DETERMINISTIC / "d01-thermal-dispatch", case)
    for parquet in case.rglob("*.parquet"):
        parquet.unlink()
    return case


def test_import_caudal_leaves_checkpoints_digests_and_examples_unloaded() -> None:
    loaded = modules_after("import caudal")
    assert "caudal.api" in loaded and "caudal.checkpoint.schedule" in loaded  # the check sees what was imported
    assert loaded.isdisjoint(NOT_IMPORTED_BY_CAUDAL), sorted(loaded & set(NOT_IMPORTED_BY_CAUDAL))


def test_the_public_names_still_import_on_first_use() -> None:
    loaded = modules_after(
        "import caudal\n"
        "from caudal.checkpoint import CheckpointError, read_checkpoint, DEFAULT_KEEP\n"
        "assert DEFAULT_KEEP == 3 and callable(read_checkpoint)\n"
        "assert caudal.examples.brazil4 is not None\n"
    )
    assert {"caudal.examples", "caudal.checkpoint.store", "flatbuffers"} <= loaded


@pytest.mark.skipif(not NATIVE_AVAILABLE, reason="without the native kernels a training solves with highspy")
def test_a_cobre_case_without_parquet_trains_without_pyarrow_nor_checkpoint_code(case_without_parquet: Path) -> None:
    loaded = modules_after(
        "import caudal\n"
        "from caudal.hydro import cobre\n"
        f"study = cobre.load_case({str(case_without_parquet)!r})\n"
        "caudal.train(study.problem, iterations=2, forward_passes=1, threads=1)\n"
    )
    assert "caudal.hydro.cobre.withdrawals" in loaded  # the case was read by the Cobre reader
    assert loaded.isdisjoint(NOT_IMPORTED_BY_A_TRAINING), sorted(loaded & set(NOT_IMPORTED_BY_A_TRAINING))


@pytest.mark.skipif(not NATIVE_AVAILABLE, reason="without the native kernels a training solves with highspy")
def test_a_training_that_checkpoints_loads_the_checkpoint_code(case_without_parquet: Path, tmp_path: Path) -> None:
    """The positive control: the same check sees FlatBuffers once a checkpoint is written."""
    loaded = modules_after(
        "import caudal\n"
        "from caudal.hydro import cobre\n"
        f"study = cobre.load_case({str(case_without_parquet)!r})\n"
        "caudal.train(study.problem, iterations=2, forward_passes=1, threads=1,\n"
        f"             checkpoint_dir={str(tmp_path / 'checkpoints')!r}, checkpoint_every=1)\n"
    )
    assert {"flatbuffers", "caudal.checkpoint.store"} <= loaded
    assert any((tmp_path / "checkpoints").iterdir())
