"""Study files (--config), log destinations (--quiet, --log-file), exit statuses and consistent flags."""

from __future__ import annotations

import argparse
import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from caudal.cli import EXIT_STATUSES, build_parser, main
from caudal.config import command_parser, parse_with_config

ROOT = Path(__file__).resolve().parents[1]


def parse(*argv: str) -> argparse.Namespace:
    return parse_with_config(build_parser(), list(argv))


def study(tmp_path: Path, text: str, name: str = "study.toml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def usage_error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as stopped:
        main(list(argv))
    assert stopped.value.code == 2
    return capsys.readouterr().err


@pytest.fixture(autouse=True)
def _single_process(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("PMI_", "PMIX_", "OMPI_", "SLURM_")) or name == "CAUDAL_COMM":
            monkeypatch.delenv(name)


def test_the_file_gives_defaults_and_the_command_line_wins(tmp_path):
    path = study(tmp_path, """\
        stages = 24
        iterations = 300
        forward_passes = 4
        forward-passes = 5
        seed = 3
        solver = "highspy"
        quiet = true
        """)
    args = parse("train", "--config", str(path), "--iterations", "7", "-s", "9")
    assert (args.iterations, args.seed) == (7, 9), "the command line wins"
    assert (args.stages, args.forward_passes, args.solver, args.quiet) == (24, 5, "highspy", True)
    assert args.case == "brazil4" and args.threads is None, "untouched options keep their defaults"
    assert parse("train", "--stages", "6").stages == 6 and parse("train").iterations is None


def test_paths_in_the_file_are_relative_to_it(tmp_path):
    path = study(tmp_path, """\
        output = "runs/first"
        log-file = "/var/log/caudal.log"
        resume = "runs/previous"
        """, name="studies/a.toml")
    args = parse("train", "--config", str(path))
    assert args.output == tmp_path / "studies" / "runs" / "first"
    assert args.resume == tmp_path / "studies" / "runs" / "previous"
    assert args.log_file == Path("/var/log/caudal.log")
    assert parse("train", "--config", str(path), "-o", "here").output == Path("here"), "the command line's: cwd"


def test_a_case_file_next_to_the_study(tmp_path):
    (tmp_path / "mine.py").write_text("def build_problem(): ...\n")
    path = study(tmp_path, 'case = "mine.py"\n')
    assert parse("train", "--config", str(path)).case == str(tmp_path / "mine.py")
    named = study(tmp_path, 'case = "brazil4"\n', name="named.toml")
    assert parse("train", "--config", str(named)).case == "brazil4", "an embedded case is not a path"


@pytest.mark.parametrize("text,message", [
    ("iteratons = 5", "unknown option 'iteratons' for 'caudal train'"),
    ("iterations = 0", "iterations: must be a positive integer, got 0"),
    ('iterations = "many"', "iterations: expected an integer, got the string"),
    ("iterations = 2.5", "iterations: expected an integer, got the float 2.5"),
    ("quiet = 1", "quiet: expected true or false"),
    ("stages = [1, 2]", "stages: expected a single number or string"),
    ('solver = "gurobi"', "solver: 'gurobi' is not one of auto, native, highspy"),
    ("[grid]\nseed = [1, 2]", "unexpected table [grid]"),
    ('config = "other.toml"', "unknown option 'config'"),
    ("iterations = ", "not valid TOML"),
])
def test_a_bad_file_is_a_usage_error_naming_the_file_and_the_key(tmp_path, capsys, text, message):
    path = study(tmp_path, text + "\n")
    err = usage_error(capsys, "train", "--config", str(path))
    assert str(path) in err and message in err, err


def test_a_missing_file_is_a_usage_error(tmp_path, capsys):
    assert "No such file" in usage_error(capsys, "train", "--config", str(tmp_path / "nowhere.toml"))


def test_sweep_takes_a_grid_table_and_the_command_line_adds_axes(tmp_path):
    path = study(tmp_path, """\
        iterations = 20
        ranks-per-variant = 2
        [grid]
        demand_scale = [0.9, 1.1]
        alpha = 0.5
        """)
    args = parse("sweep", "--config", str(path), "--grid", "seed=0..2", "-n", "30")
    assert (args.iterations, args.ranks_per_variant, args.grid) == (30, 2, ["seed=0..2"])
    assert args.config_tables == {"grid": {"demand_scale": [0.9, 1.1], "alpha": 0.5}}


def test_train_from_a_study_file_with_a_log_file(tmp_path, capsys):
    path = study(tmp_path, """\
        stages = 3
        iterations = 2
        threads = 1
        output = "run"
        log-file = "run/train.log"
        quiet = true
        """)
    assert main(["train", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("bound ") and "lower bound" not in out, "quiet: the summary only"
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["iterations"] == 2
    log = (tmp_path / "run" / "train.log").read_text()
    assert "lower bound" in log and "status: iteration_limit after 2 iterations" in log
    assert main(["train", "--config", str(path), "--stages", "2", "-n", "1", "-o", str(tmp_path / "other")]) == 0


def test_log_file_and_terminal_together(tmp_path, capsys):
    assert main(["train", "--stages", "3", "-n", "1", "-t", "1", "--log-file", str(tmp_path / "log")]) == 0
    terminal, log = capsys.readouterr().out, (tmp_path / "log").read_text()
    for text in ("lower bound", "status: iteration_limit after 1 iteration"):
        assert text in terminal and text in log


def test_exit_statuses_are_in_the_help_and_in_the_docs():
    help_text = build_parser().format_help()
    docs = (ROOT / "docs" / "cli.md").read_text()
    for status, meaning in EXIT_STATUSES.items():
        assert re.search(rf"^\s+{status}\s+{re.escape(meaning)}$", help_text, re.M), (status, help_text)
        assert f"| {status} | {meaning} |" in docs, f"docs/cli.md: exit status {status} is not documented as in --help"
    assert {75, 0, 1, 2, 130} <= set(EXIT_STATUSES)


def test_train_and_sweep_share_their_options_exactly():
    """An option both commands have means the same: same short flag, type, default, metavar and choices."""
    parser = build_parser()
    train, sweep = (options(command_parser(parser, name)) for name in ("train", "sweep"))
    shared = set(train) & set(sweep)
    assert {"--iterations", "--forward-passes", "--seed", "--threads", "--time-limit", "--output", "--stages",
            "--solver", "--quiet", "--log-file", "--config", "--resume", "--checkpoint-every", "--keep"} <= shared
    for name in shared:
        assert train[name] == sweep[name], name


def test_a_short_flag_means_one_option_in_every_command():
    """-n is the command's count (iterations; scenarios for simulate); every other short flag has one meaning."""
    meanings: dict[str, set[str]] = {}
    for action in all_actions(build_parser()):
        long = next((o for o in action.option_strings if o.startswith("--")), None)
        for short in (o for o in action.option_strings if not o.startswith("--") and o != "-h"):
            meanings.setdefault(short, set()).add(long)
    assert meanings.pop("-n") <= {"--iterations", "--scenarios"}
    assert all(len(longs) == 1 for longs in meanings.values()), meanings


def test_the_options_reference_is_generated_from_the_parser_for_every_command():
    docs = (ROOT / "docs" / "cli.md").read_text()
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name in commands:
        directive = f"```{{argparse}}\n:module: caudal.cli\n:func: build_parser\n:prog: caudal\n:path: {name}\n"
        assert directive in docs, f"docs/cli.md: add the reference of caudal {name}"


def options(parser: argparse.ArgumentParser) -> dict[str, tuple]:
    found = {}
    for action in parser._actions:
        long = next((o for o in action.option_strings if o.startswith("--")), None)
        if long is None or long == "--help":
            continue
        shorts = tuple(o for o in action.option_strings if not o.startswith("--"))
        found[long] = (shorts, action.type, action.metavar, action.default, action.choices, type(action).__name__)
    return found


def all_actions(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from all_actions(sub)
        else:
            yield action
