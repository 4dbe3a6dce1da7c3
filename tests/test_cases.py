"""A CASE means the same to every command: one resolution, one error message, one set of defaults."""

from __future__ import annotations

import argparse
import inspect
import json
import shutil
import textwrap
from pathlib import Path

import pytest

import caudal
from caudal.arguments import add_checkpoint_schedule
from caudal.cases import CAUDAL_DEFAULTS, DEFAULT_STAGES, BadCase, TrainingDefaults, resolve_case
from caudal.checkpoint.schedule import DEFAULT_EVERY_ITERATIONS, DEFAULT_EVERY_SECONDS
from caudal.checkpoint.store import DEFAULT_KEEP
from caudal.cli import build_parser, main
from caudal.sweep.grid import Variant
from caudal.sweep.variant_settings import Study, settings_for

DATA = Path(__file__).parent / "data" / "cobre"


@pytest.fixture
def cobre_case(tmp_path) -> Path:
    """d02-single-hydro with a seed and a time limit in its config.json."""
    case = tmp_path / "d02"
    shutil.copytree(DATA / "deterministic" / "d02-single-hydro", case)
    config = json.loads((case / "config.json").read_text())
    config["training"]["tree_seed"] = 7
    config["training"]["stopping_rules"].append({"type": "time_limit", "seconds": 42.5})
    (case / "config.json").write_text(json.dumps(config))
    return case


@pytest.fixture
def python_case(tmp_path) -> Path:
    path = tmp_path / "mine.py"
    path.write_text(textwrap.dedent("""\
        from caudal.examples import brazil4


        def build_problem(stages=2, demand_scale=1.0):
            return brazil4(stages=stages, demand_scale=demand_scale)
        """))
    return path


def test_the_three_kinds_of_case(python_case, cobre_case):
    embedded = resolve_case("brazil4")
    assert embedded.kind == "embedded" and len(embedded.build().stages) == DEFAULT_STAGES
    assert len(embedded.build(3).stages) == 3
    assert {"stages", "demand_scale"} <= embedded.keywords()
    python = resolve_case(str(python_case))
    assert python.kind == "python" and python.keywords() == {"stages", "demand_scale"}
    assert len(python.build().stages) == 2 and len(python.build(4).stages) == 4
    assert python.training_defaults() == CAUDAL_DEFAULTS
    cobre = resolve_case(str(cobre_case))
    assert cobre.kind == "cobre" and cobre.keywords() == set()
    assert cobre.training_defaults() == TrainingDefaults(iterations=10, forward_passes=1, seed=7, time_limit=42.5)
    with pytest.raises(BadCase, match="a Cobre case directory takes no case parameters"):
        cobre.build(stages=3)


def test_a_python_case_without_a_stages_keyword_refuses_stages(tmp_path):
    path = tmp_path / "fixed.py"
    path.write_text("from caudal.examples import brazil4\n\ndef build_problem():\n    return brazil4(stages=2)\n")
    with pytest.raises(BadCase, match="build_problem\\(\\) takes no stages keyword"):
        resolve_case(str(path)).build(stages=3)
    path.write_text("x = 1\n")
    with pytest.raises(BadCase, match="defines no build_problem\\(\\) function"):
        resolve_case(str(path))


@pytest.mark.parametrize("command", [
    ["train"], ["sweep"], ["simulate", "--policy", "nowhere", "-o", "out"], ["scaling"],
])
def test_a_bad_case_gets_one_message_whichever_command_names_it(tmp_path, capsys, command):
    missing = str(tmp_path / "no_such_case")
    assert main([command[0], missing, *command[1:]]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"caudal: error: {missing}: no such case; expected one of brazil4, national, 1dtoy, a Python file "
                   "defining build_problem() or a Cobre case directory")


def test_the_sweep_takes_every_default_of_a_cobre_case_time_limit_included(cobre_case):
    keywords = settings_for(Study(case=str(cobre_case)), Variant(0, {})).train_keywords()
    assert (keywords["iterations"], keywords["forward_passes"], keywords["seed"], keywords["time_limit"]) == (
        10, 1, 7, 42.5)
    given = settings_for(Study(case=str(cobre_case), time_limit=7.0), Variant(0, {"seed": 3})).train_keywords()
    assert (given["time_limit"], given["seed"]) == (7.0, 3)


def test_checkpoint_defaults_are_the_checkpoint_layers_own():
    group = argparse.ArgumentParser().add_argument_group("checkpoints")
    add_checkpoint_schedule(group)
    defaults = {action.dest: action.default for action in group._group_actions}
    expected = {"checkpoint_every": DEFAULT_EVERY_ITERATIONS, "checkpoint_seconds": DEFAULT_EVERY_SECONDS,
                "keep": DEFAULT_KEEP}
    assert defaults == expected
    study = Study()
    assert (study.checkpoint_every, study.checkpoint_seconds, study.keep) == tuple(expected.values())
    train = build_parser().parse_args(["train"])
    assert (train.checkpoint_every, train.checkpoint_seconds, train.keep) == tuple(expected.values())
    keywords = inspect.signature(caudal.train).parameters
    assert tuple(keywords[name].default for name in ("checkpoint_every", "checkpoint_seconds", "keep_checkpoints")) \
        == tuple(expected.values())
