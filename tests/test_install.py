"""What ``pip install caudal`` brings without extras, and what a missing extra says.

No MPI and no matplotlib by default: compute nodes bring the site's MPI and
need no plotting. The extras (``mpich``, ``mpi``, ``plots``) add them.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

from packaging.requirements import Requirement

OPTIONAL = {"mpi4py", "mpich", "matplotlib"}


def requirements(extra: str | None) -> set[str]:
    """The names caudal's installed metadata requires, without extras or with ``extra``."""
    names = set()
    for text in importlib.metadata.requires("caudal") or []:
        requirement = Requirement(text)
        environment = {"extra": extra or ""}
        if requirement.marker is None or requirement.marker.evaluate(environment):
            names.add(requirement.name)
    return names


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
