"""``caudal doctor``: every field of the report, alone, under mpiexec, and without mpi4py."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys

import pytest
from mpi_helpers import run_ranks

from caudal.profiling.launch import launch_environment

FIELDS = ("caudal", "python", "mpi4py", "launcher tasks", "launcher ranks per node", "caudal world", "cores",
          "highspy", "native kernel", "libhighs")


def doctor(*python_code: str) -> subprocess.CompletedProcess:
    """``caudal doctor`` in a fresh process (after ``python_code``), outside any launcher."""
    code = "; ".join([*python_code, "import sys", "from caudal.cli import main", "sys.exit(main(['doctor']))"])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=launch_environment())


def fields(stdout: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in stdout.splitlines())


def test_one_process_reports_every_field():
    done = doctor()
    assert done.returncode == 0, done.stderr
    report = fields(done.stdout)
    with_mpi = [*FIELDS[:3], "MPI library", *FIELDS[3:]]
    assert list(report) == (with_mpi if "MPI library" in report else list(FIELDS))
    assert report["caudal"].startswith(importlib.metadata.version("caudal"))
    assert report["launcher tasks"] == "none" and report["launcher ranks per node"] == "none"
    assert report["caudal world"].startswith("1 rank, no MPI")
    assert re.fullmatch(r"\d+ available to this process \(affinity\), \d+ on the machine", report["cores"])
    assert report["highspy"] == importlib.metadata.version("highspy")
    assert report["native kernel"].endswith(".so") or report["native kernel"].startswith("not built")
    assert re.fullmatch(r"HiGHS \d+\.\d+\.\d+\S* \(/\S*libhighs\S*\)", report["libhighs"]), report["libhighs"]


def test_without_mpi4py_it_says_how_to_get_it():
    done = doctor("import sys", "sys.modules['mpi4py'] = None")
    assert done.returncode == 0, done.stderr
    report = fields(done.stdout)
    assert report["mpi4py"].startswith("not installed") and "caudal[mpich]" in report["mpi4py"]
    assert "MPI library" not in report


@pytest.mark.mpi
def test_under_mpiexec_the_launcher_and_the_world_agree():
    done = run_ranks(2, ["-m", "caudal", "doctor"], timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("caudal: ") == 1, "rank 0 prints, once"
    report = fields(done.stdout)
    assert report["launcher tasks"].startswith("2 (")
    assert report["caudal world"] == "2 ranks on 1 node, 2 on this node"
    library = subprocess.run([sys.executable, "-c", "from mpi4py import MPI; print(MPI.Get_library_version())"],
                             capture_output=True, text=True, timeout=60, env=launch_environment()).stdout
    assert report["MPI library"].split()[0] == library.split()[0], "the library mpi4py loads (MPICH, Open MPI...)"
