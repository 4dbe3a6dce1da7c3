"""Options are whole names, and a typo gets the nearest valid name."""

from __future__ import annotations

import argparse

import pytest

from caudal.cli import build_parser, main


def every_parser(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from every_parser(child)


def test_no_parser_accepts_abbreviations():
    parsers = list(every_parser(build_parser()))
    assert len(parsers) > 10
    assert [p.prog for p in parsers if p.allow_abbrev] == []


@pytest.mark.parametrize("argv,expected", [
    (["train", "--iteration", "5"], "unrecognized arguments: --iteration (did you mean --iterations?)"),
    (["train", "--iteratons", "5"], "(did you mean --iterations?)"),
    (["train", "--forward-pases=3"], "(did you mean --forward-passes?)"),
    (["trian"], "invalid choice: 'trian'"),
    (["trian"], "(did you mean train?)"),
    (["checkpoint", "inspekt", "R"], "(did you mean inspect?)"),
    (["simulate", "--polcy", "R", "-o", "S"], "(did you mean --policy?)"),
])
def test_a_typo_is_a_usage_error_with_a_suggestion(argv, expected, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert expected in capsys.readouterr().err


def test_a_word_like_no_option_gets_no_suggestion(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--zzzzzz"])
    assert "did you mean" not in capsys.readouterr().err
