"""Cobre example cases shipped with caudal, for documentation and first steps."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = ("1dtoy",)


def example_case(name: str = "1dtoy") -> Path:
    """The directory of a shipped Cobre case (Cobre's 1dtoy: one bus, one hydro, two thermals).

    The case is Cobre's own example, unchanged, with its license and notice
    (Apache-2.0) beside it. caudal must be installed as files (the usual pip
    install or a source checkout), since a case is a directory.
    """
    if name not in EXAMPLES:
        raise ValueError(f"no Cobre example {name!r}; shipped: {', '.join(EXAMPLES)}")
    from importlib import resources  # here: resources brings tempfile, which reading a case never needs

    path = Path(str(resources.files("caudal.examples").joinpath("data", f"cobre_{name}")))
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: the example case is missing from this installation")
    return path
