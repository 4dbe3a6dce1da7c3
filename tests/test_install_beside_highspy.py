"""caudal installs into a fresh environment beside the newest highspy, and its native kernel works there.

The wheel is built once (pip's isolated build, from a copy of the sources)
and installed into a new virtual environment that already holds the newest
highspy on PyPI, the one that ships no C API of its own. pip's cache keeps
repeated runs cheap. The tests need PyPI: offline, deselect them with
``-m "not network"``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.network

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "native", "src")
BUILD_LEFTOVERS = shutil.ignore_patterns("*.so", "*.c", "__pycache__", "*.egg-info")


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    """Run ``command``; on failure the assertion shows its output."""
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, command))} failed:\n{done.stdout}\n{done.stderr}"
    return done


def installed_version(python: Path, package: str) -> str:
    return run([python, "-c", f"import importlib.metadata as m; print(m.version({package!r}))"]).stdout.strip()


class FreshEnvironment:
    """A new virtual environment: the newest highspy first, then caudal's wheel.

    The wheel builds while the environment is created and takes highspy: on
    two cores the compiler and pip's downloads and unpacking overlap. Neither
    install compiles bytecode (``--no-compile``), which the tests do not need.
    """

    def __init__(self, work: Path):
        source = work / "source"
        source.mkdir()
        for name in SOURCES:  # not the checkout itself: no in-place extension or build folder may leak in
            path = ROOT / name
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=BUILD_LEFTOVERS)
            else:
                shutil.copy2(path, source / name)
        quiet_pip = ["-m", "pip", "--disable-pip-version-check", "--quiet"]
        build = subprocess.Popen(
            [sys.executable, *quiet_pip, "wheel", "--no-deps", "--wheel-dir", str(work / "wheels"), str(source)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            run([sys.executable, "-m", "venv", work / "venv"])
            self.python = work / "venv" / "bin" / "python"
            self.pip = [self.python, *quiet_pip]
            run([*self.pip, "install", "--no-compile", "highspy"])
            self.highspy_before = installed_version(self.python, "highspy")
        finally:
            output, _ = build.communicate()
        assert build.returncode == 0, f"building caudal's wheel failed:\n{output}"
        wheel = next((work / "wheels").glob("caudal-*.whl"))
        run([*self.pip, "install", "--no-compile", wheel])


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> FreshEnvironment:
    return FreshEnvironment(tmp_path_factory.mktemp("install"))


def test_caudal_keeps_the_newest_highspy_and_pip_check_is_clean(fresh: FreshEnvironment) -> None:
    assert installed_version(fresh.python, "highspy") == fresh.highspy_before
    # 1.16 is the first highspy without libhighs.so.1, which caudal once required at ==1.15.1
    assert tuple(int(part) for part in fresh.highspy_before.split(".")[:2]) >= (1, 16)
    run([*fresh.pip, "check"])


TINY_TRAINING = """
import json
import caudal
from caudal.solver.native_workspace import NATIVE_AVAILABLE, NATIVE_IMPORT_ERROR, native_kernel_info
from hydro_problems import first_steps

assert NATIVE_AVAILABLE, NATIVE_IMPORT_ERROR
problem = first_steps()
result = caudal.train(problem, iterations=20, seed=1, threads=2, solver="native")
print(json.dumps({
    "caudal": caudal.__file__, "kernel": native_kernel_info(), "lower_bound": result.lower_bound,
    "exact": caudal.deterministic_equivalent(problem).objective,
}))
"""


def test_the_native_kernel_loads_highsbox_and_trains(fresh: FreshEnvironment) -> None:
    """Imported from the new environment (not this checkout), on highsbox's libhighs, to the exact optimum."""
    done = run([fresh.python, "-c", TINY_TRAINING], cwd=TESTS, env={**os.environ, "PYTHONPATH": str(TESTS)})
    report = json.loads(done.stdout.strip().splitlines()[-1])
    site = fresh.python.parent.parent / "lib"
    assert Path(report["caudal"]).is_relative_to(site)
    kernel = report["kernel"]
    assert Path(kernel["module"]).is_relative_to(site)
    assert Path(kernel["highs_library"]).is_relative_to(site) and "highsbox" in Path(kernel["highs_library"]).parts
    assert kernel["highs_compiled"] == kernel["highs_loaded"]
    assert report["lower_bound"] == pytest.approx(report["exact"], rel=1e-6)


LOAD_BY_RPATH = """
import importlib.machinery, importlib.util, sys
path = sys.argv[1]
loader = importlib.machinery.ExtensionFileLoader("caudal._native", path)
module = importlib.util.module_from_spec(importlib.util.spec_from_file_location("caudal._native", path, loader=loader))
loader.exec_module(module)
assert "caudal" not in sys.modules  # nothing of caudal ran: the loader found libhighs through the rpath alone
print(module.highs_versions()[1])
"""


def test_the_installed_kernel_finds_libhighs_through_its_rpath(fresh: FreshEnvironment) -> None:
    """Side by side in site-packages, the extension loads without caudal preloading libhighs."""
    kernel = next((fresh.python.parent.parent / "lib").glob("python3*/site-packages/caudal/_native*.so"))
    done = run([fresh.python, "-c", LOAD_BY_RPATH, kernel])
    assert installed_version(fresh.python, "highsbox").startswith(done.stdout.strip())  # 1.15.1, or 1.15.1.postN
