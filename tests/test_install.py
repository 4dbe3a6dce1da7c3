"""What ``pip install caudal`` brings without extras, and what a missing extra says.

No MPI and no matplotlib by default: compute nodes bring the site's MPI and
need no plotting. The extras (``mpich``, ``mpi``, ``plots``) add them.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

OPTIONAL = {"mpi4py", "mpich", "matplotlib"}


def requirement_lines(extra: str | None) -> list[str]:
    """What caudal's installed metadata requires, without extras or with ``extra``."""
    lines = []
    for text in importlib.metadata.requires("caudal") or []:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": extra or ""}):
            lines.append(text)
    return lines


def requirements(extra: str | None) -> set[str]:
    return {Requirement(text).name for text in requirement_lines(extra)}


def test_no_mpi_and_no_matplotlib_by_default():
    assert not requirements(None) & OPTIONAL
    assert {"numpy", "highspy", "pyarrow"} <= requirements(None)


def test_the_extras_bring_them():
    assert requirements("mpich") - requirements(None) == {"mpi4py", "mpich"}
    assert requirements("mpi") - requirements(None) == {"mpi4py"}
    assert requirements("plots") - requirements(None) == {"matplotlib"}


def test_caudal_plot_without_matplotlib_is_one_line_and_status_2(tmp_path):
    (tmp_path / "convergence.csv").write_text("iteration,lower_bound\n1,1.0\n")
    code = ("import sys; sys.modules['matplotlib'] = None; from caudal.cli import main; "
            f"sys.exit(main(['plot', 'convergence', {str(tmp_path)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr == "caudal: error: caudal plot needs matplotlib, which is not installed: " \
        "pip install 'caudal[plots]'\n"


def test_pip_check_is_clean_after_installing_caudal_without_extras(tmp_path):
    """The bug this guards: with mpich a hard requirement, the cluster recipe (no mpich) left pip check failing.

    pip check reads the installed distributions' metadata only, so the fresh
    environment gets caudal's dependencies as pip resolves them for a plain
    ``pip install caudal`` (no extras), then caudal's own metadata, without
    compiling its kernels again.
    """
    fresh = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(fresh)], check=True, timeout=120)
    python = fresh / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                              "--disable-pip-version-check", *requirement_lines(None)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    files = importlib.metadata.distribution("caudal").files or []
    metadata = Path(next(f for f in files if f.name == "METADATA").locate()).parent  # caudal-*.dist-info
    shutil.copytree(metadata, Path(site) / metadata.name)
    check = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "check"],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No broken requirements found" in check.stdout
    listed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "list", "--format=freeze"],
                            capture_output=True, text=True, check=True).stdout.lower()
    names = {line.split("==")[0] for line in listed.splitlines()}
    assert "caudal" in names and not names & OPTIONAL, names
