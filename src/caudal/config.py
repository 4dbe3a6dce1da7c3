"""Study files: a command's options kept in TOML, with the command line on top.

``caudal train --config study.toml`` reads the file's keys as the command's
long option names (``forward-passes`` or ``forward_passes``; ``case`` for the
positional case) and uses them as defaults; whatever the command line says
wins. So one file records a study, and a batch script or a quick experiment
changes one thing without editing it::

    case = "brazil4"
    stages = 24
    iterations = 200
    forward-passes = 4
    output = "runs/b24"

Relative paths in the file (``output``, ``resume``, ``log-file``, a case file or
directory that exists there) are relative to the file, so a study directory
can be moved or submitted from anywhere. A command may also accept tables
(``caudal sweep`` takes ``[grid]``); they come back in ``args.config_tables``.
A bad file is a usage error (exit status 2) naming the file and the key.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Sequence
from pathlib import Path

from caudal.arguments import non_negative_int, opening_chunk, positive_float, positive_int, seed

CONFIG_TABLES = "config_tables_allowed"
"""The parser default naming the tables a command accepts in its study file (none by default)."""


def add_config_option(parser: argparse.ArgumentParser, tables: Sequence[str] = ()) -> None:
    """Give a command ``--config FILE``; ``tables`` are the TOML tables it accepts besides its options."""
    parser.add_argument("--config", type=Path, default=None, metavar="FILE",
                        help="read options from a TOML study file (keys: long option names); "
                        "the command line overrides it")
    parser.set_defaults(**{CONFIG_TABLES: tuple(tables)})


def parse_with_config(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; when it names a ``--config`` file, again with the file's values as defaults."""
    args = parser.parse_args(argv)
    args.config_tables = {}
    path = getattr(args, "config", None)
    if path is None:
        return args
    command = command_parser(parser, getattr(args, "command", None))
    options, tables = read_config(path, command, getattr(args, CONFIG_TABLES, ()))
    command.set_defaults(**options)
    args = parser.parse_args(argv)
    args.config_tables = tables
    return args


def command_parser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The sub-command's parser (or ``parser`` itself when there are no sub-commands)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def read_config(
    path: Path, parser: argparse.ArgumentParser, allowed_tables: Sequence[str] = ()
) -> tuple[dict[str, object], dict[str, dict]]:
    """The file's option values (by ``dest``, converted as the command line would) and its tables."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        parser.error(f"--config {path}: {exc.strerror or exc}")
    except tomllib.TOMLDecodeError as exc:
        parser.error(f"{path}: not valid TOML: {exc}")
    except UnicodeDecodeError:
        parser.error(f"--config {path}: not a TOML file (not UTF-8 text)")
    actions = options_by_name(parser)
    options: dict[str, object] = {}
    tables: dict[str, dict] = {}
    for key, value in data.items():
        name = key.replace("_", "-")
        if isinstance(value, dict):
            if key not in allowed_tables:
                accepted = f" (accepted: {', '.join(f'[{t}]' for t in allowed_tables)})" if allowed_tables else ""
                parser.error(f"{path}: unexpected table [{key}]{accepted}")
            tables[key] = value
            continue
        action = actions.get(name)
        if action is None or name == "config":
            parser.error(f"{path}: unknown option {key!r} for '{parser.prog}' (known: {', '.join(sorted(actions))})")
        try:
            options[action.dest] = convert(action, value, path)
        except ValueError as exc:
            parser.error(f"{path}: {key}: {exc}")
    return options, tables


def options_by_name(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every option by its long name without dashes, and positionals by their ``dest``."""
    names: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction):
            continue
        if not action.option_strings:
            names[action.dest.replace("_", "-")] = action
        for option in action.option_strings:
            if option.startswith("--"):
                names[option[2:]] = action
    return names


def convert(action: argparse.Action, value: object, path: Path) -> object:
    """A TOML value as the command line would have given it (``ValueError`` if it cannot be)."""
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
        return value if isinstance(action, argparse._StoreTrueAction) else not value
    if isinstance(action, argparse._AppendAction) or action.nargs not in (None, "?"):
        raise ValueError("takes several values: give it on the command line")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"expected a single number or string, got {value!r}")
    expected = expected_toml_type(action)
    if expected is not None and not isinstance(value, expected[0]):
        raise ValueError(f"expected {expected[1]}, got {_toml_kind(value)} {value!r}")
    text = str(value)
    if action.type is Path:
        converted: object = relative_to(path, Path(text))
    elif action.dest == "case" and (path.parent / text).exists() and not Path(text).is_absolute():
        converted = str(path.parent / text)
    else:
        try:
            converted = action.type(text) if action.type is not None else text
        except (argparse.ArgumentTypeError, TypeError) as exc:
            raise ValueError(str(exc)) from exc
    if action.choices is not None and converted not in action.choices:
        raise ValueError(f"{value!r} is not one of {', '.join(map(str, action.choices))}")
    return converted


INTEGER_TYPES = (positive_int, non_negative_int, seed, int)
NUMBER_TYPES = (positive_float, float)


def expected_toml_type(action: argparse.Action) -> tuple[type | tuple[type, ...], str] | None:
    """The TOML type an option's value must have, and its name for a message (None: string or number).

    ``iterations = "5"`` is a typo for ``5`` that the command line cannot
    make (everything is text there), and ``stages = 3.0`` is not a count; a
    study file says what it means, so its types are checked.
    """
    if action.type in INTEGER_TYPES:
        return int, "an integer"
    if action.type in NUMBER_TYPES:
        return (int, float), "a number"
    if action.type is opening_chunk:
        return (int, str), 'an integer or "auto"'
    if action.type in (None, str, Path) or action.type is None:
        return str, "a string"
    return None


def _toml_kind(value: object) -> str:
    return {str: "the string", int: "the integer", float: "the float"}.get(type(value), "the value")


def relative_to(config: Path, path: Path) -> Path:
    return path if path.is_absolute() else config.parent / path
