"""The documentation builds without warnings, and what it tells users to type works.

The README and every page of the user guide and the how-to pages are run top to bottom, in the guide's order, in one
scratch directory (so a page may use what an earlier one made, as a reader
would): ```` ```python ```` blocks are executed in one namespace per page, and
``$ ...`` lines of ```` ```console ```` blocks are run as commands (``caudal``
and ``mpiexec`` from this environment). Lines that create or fill a virtual
environment are the README's quick start, which CI runs as it is. Other fences
(```` ```text ````, ```` ```toml ````) are illustrations and are not run.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mpi_helpers import mpiexec

from caudal.profiling.launch import launch_environment

DOCS = Path(__file__).resolve().parent.parent / "docs"
README = DOCS.parent / "README.md"
FENCE = re.compile(r"^```(\w+)\s*\n(.*?)^```\s*$", re.S | re.M)
# an en or em dash (or a dash and a hyphen) glued to an option name, as smart quotes make of "--output"
DASHED_OPTION = re.compile("[\u2013\u2014]-?[a-z][a-z-]+")
SKIPPED_PREFIXES = ("python3.11 -m venv", ".venv/bin/pip", "pip ", "module ", "sbatch ", "srun ")


def guide_pages() -> list[Path]:
    """The README, then the pages of the index's toctrees, in order."""
    index = (DOCS / "index.md").read_text()
    names = re.findall(r"^([\w/.-]+)$", index, re.M)
    return [README] + [DOCS / f"{name}.md" for name in names if (DOCS / f"{name}.md").exists()]


def command_of(line: str) -> list[str] | None:
    """The argv to run for a documented shell line, or None for quick-start lines."""
    if line.startswith(SKIPPED_PREFIXES):
        return None
    words = shlex.split(line)
    if words[0] in ("caudal", ".venv/bin/caudal"):
        return [sys.executable, "-m", "caudal", *words[1:]]
    if words[0] in ("mpiexec", ".venv/bin/mpiexec"):
        rest = [w for w in words[1:]]
        at = next(i for i, w in enumerate(rest) if w.endswith("caudal"))
        return [mpiexec(), *rest[:at], sys.executable, "-m", "caudal", *rest[at + 1 :]]
    if words[0] in ("python", ".venv/bin/python"):
        return [sys.executable, *words[1:]]
    raise AssertionError(f"documented command not covered by the docs test: {line}")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A scratch directory that looks like a clone where the pages use one (test cases, slurm templates)."""
    work = tmp_path_factory.mktemp("guide")
    (work / "tests" / "data").mkdir(parents=True)
    (work / "tests" / "data" / "cobre").symlink_to(DOCS.parent / "tests" / "data" / "cobre")
    (work / "slurm").symlink_to(DOCS.parent / "slurm")
    return work


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    """The HTML documentation, built once with warnings as errors (about 15 s)."""
    out = tmp_path_factory.mktemp("html")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_the_docs_build_without_warnings(html):
    assert (html / "index.html").exists()


def test_the_api_reference_documents_everything_caudal_exports(html):
    import caudal

    page = (html / "api.html").read_text()
    anchors = {f'id="caudal.{name}"' for name in caudal.__all__ if name != "examples"}
    anchors.add('id="module-caudal.examples"')
    missing = [anchor for anchor in sorted(anchors) if anchor not in page]
    assert not missing, f"not in docs/api.md: {missing}"


def test_the_cli_reference_shows_options_with_two_hyphens(html):
    page = (html / "cli.html").read_text()
    assert "--output" in page
    assert not DASHED_OPTION.search(page), DASHED_OPTION.search(page).group(0)


@pytest.mark.parametrize("page", [README, *sorted(DOCS.rglob("*.md"))],
                         ids=lambda p: p.relative_to(DOCS.parent).as_posix())
def test_no_page_writes_an_option_with_a_dash_character(page):
    """An option typed from the docs must work: ``–output`` (an en dash) is not ``--output``."""
    found = DASHED_OPTION.search(page.read_text())
    assert not found, f"{page.name}: {found.group(0)!r}"


def test_wide_code_blocks_scroll(html):
    css = (html / "_static" / "caudal.css").read_text()
    assert "overflow-x: auto" in css
    assert "caudal.css" in (html / "cli.html").read_text()


def with_mpi_mark(page: Path):
    """A page whose examples launch mpiexec is a multi-rank test (marker ``mpi``)."""
    return pytest.param(page, marks=pytest.mark.mpi) if "$ mpiexec" in page.read_text() else page


@pytest.mark.parametrize("page", [with_mpi_mark(p) for p in guide_pages()],
                         ids=lambda p: p.relative_to(DOCS.parent).as_posix())
def test_every_documented_example_runs(page, workdir):
    namespace: dict = {"__name__": "__docs__"}
    for language, body in FENCE.findall(page.read_text()):
        if language == "python":
            code = compile(body, f"{page.name} example", "exec")
            with _chdir(workdir):
                exec(code, namespace)
        elif language == "console":
            for line in body.splitlines():
                if not line.startswith("$ "):
                    continue
                argv = command_of(line[2:].strip())
                if argv is None:
                    continue
                done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=600,
                                      env=launch_environment())
                assert done.returncode == 0, f"{page.name}: {line}\n{done.stdout}\n{done.stderr}"


def test_every_how_to_page_is_in_the_index_and_so_runs():
    howtos = sorted((DOCS / "howto").glob("*.md"))
    assert len(howtos) >= 5
    assert set(howtos) <= set(guide_pages())


def test_readme_quick_start_is_what_ci_runs():
    text = README.read_text()
    block = text.split("<!-- quickstart:begin -->")[1].split("<!-- quickstart:end -->")[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("```")]
    assert len(commands) == 2
    assert "caudal train" in commands[0] and "pytest" in commands[1]
    ci = (DOCS.parent / ".ci" / "run").read_text()
    assert "quickstart:begin" in ci


class _chdir:
    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        import os

        self.previous = os.getcwd()
        os.chdir(self.path)

    def __exit__(self, *exc):
        import os

        os.chdir(self.previous)


SCALING = DOCS / "scaling" / "README.md"


def test_scaling_commands_write_into_the_folders_they_document():
    rows = re.findall(r"^\| \[([\w-]+)\]\([\w-]+/[\w.]+\) \| `([^`]+)`", SCALING.read_text(), re.M)
    assert len(rows) >= 6
    for folder, command in rows:
        assert f"--output docs/scaling/{folder}" in command, (folder, command)


def test_the_scaling_run_folders_are_not_ignored_by_git():
    """Run folders under docs/scaling belong to the docs; a user's own ``runs/`` stays ignored."""
    def ignored(path: str) -> bool:
        done = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=DOCS.parent)
        if done.returncode == 128:
            pytest.skip("not a git checkout")
        return done.returncode == 0

    assert not ignored("docs/scaling/brazil4-strong/runs/1x1/profile.parquet")
    assert ignored("runs/first/summary.json")


def test_the_scaling_readme_commands_work_from_a_clone(tmp_path):
    shutil.copytree(DOCS / "scaling" / "national-strong", tmp_path / "docs" / "scaling" / "national-strong")
    for line in re.search(r"```sh\n(.*?)```", SCALING.read_text(), re.S).group(1).splitlines():
        done = subprocess.run([sys.executable, "-m", "caudal", *shlex.split(line)[1:]], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, env=launch_environment())
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
    assert (tmp_path / "docs" / "scaling" / "national-strong" / "scaling.md").exists()


def test_the_scaling_readme_holds_no_internal_notes():
    text = SCALING.read_text().lower()
    for note in ("colleague", "session", "shared working tree", "uncommitted", "owners"):
        assert note not in text, note
