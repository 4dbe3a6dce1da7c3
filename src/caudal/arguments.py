"""What the commands share about their arguments: value types, the usage error, the checkpoint options.

``caudal train``, ``sweep``, ``simulate``, ``profile`` and ``scaling`` are
defined in different modules (:mod:`caudal.cli`, :mod:`caudal.sweep.command`,
:mod:`caudal.profiling.commands`); they take their argument types and
:class:`UsageError` from here, so that no command module imports another and
an option two commands share means the same in both. The checkpoint options'
defaults are the checkpoint layer's own.
"""

from __future__ import annotations

import argparse
import difflib
import re
from collections.abc import Sequence

from caudal.cases import CAUDAL_DEFAULTS, DEFAULT_CASE, DEFAULT_STAGES, EMBEDDED_CASES, SHIPPED_COBRE_CASES
from caudal.checkpoint.schedule import DEFAULT_EVERY_ITERATIONS, DEFAULT_EVERY_SECONDS, DEFAULT_KEEP

CASE_HELP = (f"an embedded case ({', '.join(EMBEDDED_CASES)}), Cobre's example {', '.join(SHIPPED_COBRE_CASES)}, "
             "a Python file defining build_problem() -> caudal.Problem, or a Cobre case directory")
"""What CASE may be (see :mod:`caudal.cases`), for every command that takes one."""


class UsageError(Exception):
    """Bad arguments or a bad case: reported in one line, exit status 2."""


def did_you_mean(word: str, known: Sequence[str]) -> str:
    """`` (did you mean X?)`` when ``word`` is a likely typo of one of ``known``, else empty."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)")


class CommandParser(argparse.ArgumentParser):
    """``caudal``'s parser and every sub-command's: no abbreviations, and a suggestion for a typo.

    argparse accepts any unambiguous prefix of an option (``--iteration 5``):
    a prefix that works today breaks silently when a later option shares it,
    so a whole name is required (``allow_abbrev=False``). An unknown option or
    command is reported by the parser that knows the valid ones (the
    sub-command's, not the top one), with the nearest name
    (``--iteratons``: did you mean ``--iterations``?). Sub-parsers are of
    this class too (``add_subparsers`` uses the parent's class).
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        if args is not None and not self._subparsers:  # a command's own options: before "required" errors
            options = [name for action in self._actions for name in action.option_strings]
            for word in args:
                if word == "--":
                    break
                name = word.split("=", 1)[0]
                if name.startswith("--") and name not in options:
                    self.error(f"unrecognized arguments: {name}{did_you_mean(name, options)}")
        parsed, extras = super().parse_known_args(args, namespace)
        unknown = [word for word in extras if word.startswith("-") and len(word) > 1]
        if unknown:
            options = [name for action in self._actions for name in action.option_strings]
            word = unknown[0].split("=", 1)[0]
            self.error(f"unrecognized arguments: {' '.join(extras)}{did_you_mean(word, options)}")
        return parsed, extras

    def error(self, message: str):
        invalid = _INVALID_CHOICE.search(message)
        if invalid is not None:
            message += did_you_mean(invalid.group(1), re.findall(r"'([^']*)'", invalid.group(2)))
        super().error(message)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def opening_chunk(text: str) -> int | str:
    """``--opening-chunk``: a non-negative number of openings, or ``auto`` (the rule of the openings' count)."""
    return "auto" if text == "auto" else non_negative_int(text)


MAX_SEED = 2**64 - 1
"""Seeds are 64-bit unsigned integers (they key the random streams and are saved in checkpoints)."""


def seed(text: str) -> int:
    value = non_negative_int(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be at most 2**64 - 1 = {MAX_SEED}, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def positive_int_list(text: str) -> tuple[int, ...]:
    """Comma-separated positive integers, e.g. ``1,2,4``."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def add_checkpoint_schedule(group: argparse._ArgumentGroup, kept: str = "checkpoints") -> None:
    """``--checkpoint-every``, ``--checkpoint-seconds`` and ``--keep`` (the last K ``kept``), for train and sweep."""
    group.add_argument("--checkpoint-every", type=positive_int, default=DEFAULT_EVERY_ITERATIONS, metavar="N",
                       help=f"write a checkpoint every N iterations (default {DEFAULT_EVERY_ITERATIONS})")
    group.add_argument("--checkpoint-seconds", type=positive_float, default=DEFAULT_EVERY_SECONDS, metavar="S",
                       help=f"... and at least every S seconds (default {DEFAULT_EVERY_SECONDS:g})")
    group.add_argument("--keep", type=positive_int, default=DEFAULT_KEEP, metavar="K",
                       help=f"keep the last K {kept} (default {DEFAULT_KEEP})")


def add_case_argument(command: argparse.ArgumentParser, help: str = CASE_HELP) -> None:
    """The optional CASE (brazil4 when none) and ``--stages``, its horizon."""
    command.add_argument("case", nargs="?", default=DEFAULT_CASE, metavar="CASE",
                         help=f"{help} (default: {DEFAULT_CASE})")
    command.add_argument("--stages", type=positive_int, default=None,
                         help=f"horizon of an embedded case (default {DEFAULT_STAGES}), or the stages keyword of a "
                         "Python case's build_problem()")


def add_training_options(command: argparse.ArgumentParser) -> None:
    """``--iterations``, ``--forward-passes`` and ``--seed``: what a Cobre case's config.json gives defaults for."""
    command.add_argument("--iterations", "-n", type=positive_int, default=None,
                         help="iteration limit "
                         f"(default: a Cobre case's config.json, else {CAUDAL_DEFAULTS.iterations})")
    command.add_argument("--forward-passes", "-m", type=positive_int, default=None,
                         help="forward passes (trial states) per iteration "
                         f"(default: a Cobre case's config.json, else {CAUDAL_DEFAULTS.forward_passes})")
    command.add_argument("--seed", "-s", type=seed, default=None,
                         help=f"random seed (default: a Cobre case's tree_seed, else {CAUDAL_DEFAULTS.seed})")
