"""The variants of a sweep: a parameter grid expanded into a numbered list.

A grid is a set of axes, each a parameter name with the values it takes. The
variants are every combination, numbered in a fixed order (the first axis
varies slowest), so that a variant's number and folder name are the same every
time the same grid is given: that is what lets ``caudal sweep --resume`` find
each variant's checkpoints again.

Axes come from the ``[grid]`` table of a TOML file (``key = [v1, v2]``) and from
``--grid key=v1,v2`` on the command line; an axis given on the command line
replaces the file's axis of the same name.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Value = bool | int | float | str
"""What a parameter may be: TOML's scalar types."""

RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)$")


class GridError(ValueError):
    """A grid that cannot be read: a bad axis, an empty one, a value of the wrong type."""


@dataclass(frozen=True)
class Variant:
    """One combination of the grid's values, with its number in the sweep."""

    index: int
    params: Mapping[str, Value]

    @property
    def label(self) -> str:
        """``demand_scale=0.9 alpha=0.1``, for logs and tables."""
        return " ".join(f"{key}={format_value(value)}" for key, value in self.params.items()) or "(base study)"

    @property
    def slug(self) -> str:
        """A folder name: the number, then the values (``003-demand_scale=0.9-alpha=0.1``)."""
        parts = [f"{self.index:03d}"] + [f"{key}={format_value(value)}" for key, value in self.params.items()]
        return re.sub(r"[^A-Za-z0-9._=+-]", "_", "-".join(parts))


def normalise_key(key: str) -> str:
    """Option-style names (``forward-passes``) and Python-style ones (``forward_passes``) are the same key."""
    return key.strip().replace("-", "_")


def format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def parse_value(text: str) -> Value:
    """A command-line value: ``true``/``false``, an integer, a number, else the text itself."""
    text = text.strip()
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_axis(text: str) -> tuple[str, list[Value]]:
    """``key=v1,v2,...`` (or ``key=a..b`` for the integers a to b) as a name and its values."""
    key, sep, values = text.partition("=")
    if not sep or not key.strip() or not values.strip():
        raise GridError(f"--grid {text!r}: expected KEY=VALUE[,VALUE...], e.g. demand_scale=0.9,1.0,1.1")
    match = RANGE.match(values.strip())
    if match:
        first, last = int(match[1]), int(match[2])
        if last < first:
            raise GridError(f"--grid {text!r}: empty range {first}..{last}")
        return normalise_key(key), list(range(first, last + 1))
    return normalise_key(key), [parse_value(item) for item in values.split(",")]


def table_axes(table: Mapping[str, object], source: str) -> dict[str, list[Value]]:
    """The axes of a TOML ``[grid]`` table: a list of values, or one value for a fixed parameter."""
    axes: dict[str, list[Value]] = {}
    for key, values in table.items():
        items = values if isinstance(values, list) else [values]
        if not items:
            raise GridError(f"{source}: grid axis {key!r} has no values")
        for item in items:
            if not isinstance(item, bool | int | float | str):
                raise GridError(f"{source}: grid axis {key!r}: {item!r} is not a number, a string or a boolean")
        axes[normalise_key(key)] = list(items)
    return axes


def merge_axes(*layers: Mapping[str, Sequence[Value]]) -> dict[str, list[Value]]:
    """Later layers replace whole axes of earlier ones (the command line over the file)."""
    merged: dict[str, list[Value]] = {}
    for layer in layers:
        for key, values in layer.items():
            merged.pop(key, None)  # a replaced axis moves to the end, where the user last put it
            merged[key] = list(values)
    return merged


def expand(axes: Mapping[str, Sequence[Value]]) -> list[Variant]:
    """Every combination of the axes' values; no axes means one variant, the base study."""
    keys = list(axes)
    combinations: Iterable[tuple[Value, ...]] = itertools.product(*(axes[key] for key in keys))
    return [Variant(index, dict(zip(keys, values, strict=True))) for index, values in enumerate(combinations)]
