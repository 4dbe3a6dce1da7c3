"""What a CASE is: the word ``caudal train``, ``simulate``, ``sweep`` and ``scaling`` take.

A CASE is one of

* the name of an embedded case (``brazil4`` or ``national``, built by :mod:`caudal.examples`),
  or of a Cobre example case that caudal ships (``1dtoy``: its directory);
* a Python file (``*.py``) defining ``build_problem(...) -> caudal.Problem``;
* a Cobre case directory (read by :mod:`caudal.hydro.cobre`).

:func:`resolve_case` recognises the word once and returns a :class:`Case` that
builds the problem, says how to train it when the user does not (a Cobre
case's ``config.json``, else caudal's :data:`CAUDAL_DEFAULTS`) and which
keywords of its builder a sweep may vary. Every command asks it, so a bad
CASE gets one error message and a case one set of defaults, whichever command
names it.

Cobre support (and the pyarrow it reads Parquet with) is imported only when a
case is a Cobre directory: a command on brazil4 does not pay for it.
"""

from __future__ import annotations

import inspect
import runpy
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from caudal.model.problem import Problem

if TYPE_CHECKING:
    import numpy as np

EMBEDDED_CASES = ("brazil4", "national")
SHIPPED_COBRE_CASES = ("1dtoy",)
"""Cobre's own examples that caudal ships (:func:`caudal.hydro.cobre.example_case`): a CASE by name too."""
DEFAULT_CASE = "brazil4"
DEFAULT_STAGES = 12
"""The horizon of an embedded case when the user gives none."""


@dataclass(frozen=True)
class TrainingDefaults:
    """How to train a case when the user does not say: its own settings, else caudal's."""

    iterations: int = 60
    forward_passes: int = 2
    seed: int = 0
    time_limit: float | None = None  # seconds; None: no limit
    # Forward-only realisations per stage (a Cobre case's external inflow scenarios), for OutOfSample sampling.
    forward_realisations: list[dict[str, np.ndarray]] | None = None


CAUDAL_DEFAULTS = TrainingDefaults()
"""The defaults of a case that brings none (every case but a Cobre directory)."""


class BadCase(ValueError):
    """A CASE that names no case, or options it cannot take: reported in one line, exit status 2."""


@dataclass(frozen=True)
class Case:
    """A resolved CASE: its kind, and for a Python file or an embedded case the function that builds it."""

    name: str  # as the user wrote it
    kind: str  # "embedded", "python" or "cobre"
    builder: Callable[..., Problem] | None = field(default=None, compare=False)

    @property
    def path(self) -> Path:
        return Path(self.name)

    def build(self, stages: int | None = None, keywords: Mapping[str, object] | None = None) -> Problem:
        """The case's problem; ``stages`` and ``keywords`` go to its builder (an embedded case: 12 stages if none).

        Raises :class:`BadCase` for options the case cannot take, and whatever
        the builder raises for bad values (a :class:`~caudal.ProblemError`,
        a Cobre ``CaseError`` naming the file and field).
        """
        keywords = dict(keywords or {})
        if self.kind == "cobre":
            if stages is not None or keywords:
                raise BadCase(f"{self.name}: a Cobre case directory takes no case parameters (such as --stages)")
            from caudal.hydro.cobre import load_case

            return load_case(self.path).problem
        if self.kind == "embedded":
            keywords["stages"] = stages or DEFAULT_STAGES
        elif stages is not None:
            accepted = self.keywords()
            if accepted is not None and "stages" not in accepted:
                raise BadCase(f"{self.name}: build_problem() takes no stages keyword (for --stages)")
            keywords["stages"] = stages
        assert self.builder is not None
        problem = self.builder(**keywords)
        if not isinstance(problem, Problem):
            raise BadCase(f"{self.name}: build_problem() returned {type(problem).__name__}, not a caudal.Problem")
        return problem

    def takes_stages(self) -> bool:
        """Whether ``build(stages=...)`` sets the horizon: an embedded case, or a builder with a stages keyword."""
        if self.kind == "cobre":
            return False
        accepted = self.keywords()
        return self.kind == "embedded" or accepted is None or "stages" in accepted

    def keywords(self) -> set[str] | None:
        """The keywords its builder accepts, which a sweep may vary (``None``: any, the builder checks them)."""
        if self.builder is None:
            return set()  # a Cobre case directory has no builder parameters
        try:
            parameters = inspect.signature(self.builder).parameters.values()
        except (TypeError, ValueError):
            return None
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            return None
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return {p.name for p in parameters if p.kind in named}

    def training_defaults(self) -> TrainingDefaults:
        """Iterations, forward passes, seed and time limit when the user does not give them."""
        if self.kind != "cobre":
            return CAUDAL_DEFAULTS
        from caudal.hydro.cobre import training_defaults

        settings = training_defaults(self.path)
        if settings is None:
            return CAUDAL_DEFAULTS
        forward = None
        if settings.inflow_scheme != "in_sample":
            from caudal.hydro.cobre import external_forward_inflows

            forward = external_forward_inflows(self.path)
        return TrainingDefaults(settings.iterations, settings.forward_passes, settings.seed, settings.time_limit,
                                forward)


def described(exc: BaseException) -> str:
    """``KeyError: 'x' (at my_problem.py:12)``: the exception and the line of the user's file that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def case_location(name: str) -> str:
    """Where CASE ``name`` lives: a shipped Cobre example's directory for its name, else ``name`` itself.

    A directory of that name in the working directory wins over the example.
    """
    if name in SHIPPED_COBRE_CASES and not Path(name).exists():
        from caudal.hydro.cobre.examples import example_case

        return str(example_case(name))
    return name


def resolve_case(name: str) -> Case:
    """Recognise CASE: an embedded name, a Python file (run once here) or a Cobre directory; else :class:`BadCase`."""
    if name in EMBEDDED_CASES:
        from caudal import examples  # here: a Cobre or Python case does not build brazil4's data

        return Case(name, "embedded", getattr(examples, name))
    name = case_location(name)
    path = Path(name)
    if path.suffix == ".py" and path.is_file():
        try:
            namespace = runpy.run_path(str(path))
        except SyntaxError as exc:
            raise BadCase(f"{path}: line {exc.lineno}: syntax error: {exc.msg}") from None
        except Exception as exc:  # the file's own code failed: an ImportError, a typo, a missing data file
            raise BadCase(f"{path}: running it raised {described(exc)}") from None
        builder = namespace.get("build_problem")
        if builder is None:
            raise BadCase(f"{path}: defines no build_problem() function")
        if not callable(builder):
            raise BadCase(f"{path}: build_problem is not a function but {type(builder).__name__} {builder!r}")
        return Case(name, "python", builder)
    if path.is_dir():
        return Case(name, "cobre")
    raise BadCase(
        f"{name}: no such case; expected one of {', '.join(EMBEDDED_CASES + SHIPPED_COBRE_CASES)}, a Python file "
        "defining build_problem() or a Cobre case directory"
    )
