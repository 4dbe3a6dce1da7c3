"""What one variant trains: its problem and the keywords of :func:`caudal.train`.

A variant is the base study (the case and the options every variant shares)
with some parameters replaced. A parameter is one of

* a training option: ``iterations``, ``forward_passes``, ``seed``,
  ``time_limit`` (seconds per attempt; see :mod:`caudal.sweep.scheduler`);
* a risk parameter: ``alpha`` alone gives ``caudal.CVaR(alpha)``, with ``lam``
  it gives ``caudal.EAVaR(lam, alpha)``, neither the expectation;
* a case parameter: ``stages``, and any keyword of the case's builder
  (``caudal.examples.brazil4(demand_scale=..., openings=...)``, or the
  ``build_problem(...)`` of a Python case file).

Names are checked before any training starts, so a typo fails the sweep at
once; values are checked when a variant is built, so one bad value fails that
variant only.
"""

from __future__ import annotations

import inspect
import runpy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from caudal.cli import DEFAULT_FORWARD_PASSES, DEFAULT_ITERATIONS, DEFAULT_STAGES, EMBEDDED_CASES
from caudal.model.problem import Problem
from caudal.sddp.risk import CVaR, EAVaR, RiskMeasure
from caudal.sweep.grid import Value, Variant

TRAINING_KEYS = ("iterations", "forward_passes", "seed", "time_limit")
RISK_KEYS = ("alpha", "lam")


class StudyError(ValueError):
    """A sweep that cannot start: an unknown case or parameter name."""


@dataclass(frozen=True)
class Study:
    """The base study: what every variant shares unless its parameters say otherwise."""

    case: str = "brazil4"
    stages: int | None = None
    iterations: int | None = None
    forward_passes: int | None = None
    seed: int | None = None
    time_limit: float | None = None
    solver: str = "auto"
    checkpoint_every: int | None = 10
    checkpoint_seconds: float | None = 600.0
    keep: int = 3
    case_params: Mapping[str, Value] = field(default_factory=dict)  # builder keywords shared by every variant


@dataclass(frozen=True)
class VariantSettings:
    """A variant's resolved settings: the case to build and the training keywords."""

    study: Study
    risk_measure: RiskMeasure | None

    def train_keywords(self) -> dict:
        study = self.study
        iterations, forward_passes, seed = case_defaults(study.case)
        return {
            "iterations": study.iterations if study.iterations is not None else iterations,
            "forward_passes": study.forward_passes if study.forward_passes is not None else forward_passes,
            "seed": study.seed if study.seed is not None else seed,
            "time_limit": study.time_limit,
            "solver": study.solver,
            "risk_measure": self.risk_measure,
            "checkpoint_every": study.checkpoint_every,
            "checkpoint_seconds": study.checkpoint_seconds,
            "keep_checkpoints": study.keep,
        }

    def build_problem(self) -> Problem:
        return build_case(self.study.case, self.study.stages, self.study.case_params)


def settings_for(study: Study, variant: Variant) -> VariantSettings:
    """The base study with the variant's parameters put in (values are checked here)."""
    options = {key: value for key, value in variant.params.items() if key in TRAINING_KEYS or key == "stages"}
    risk = {key: value for key, value in variant.params.items() if key in RISK_KEYS}
    case_params = {key: value for key, value in variant.params.items() if key not in (*TRAINING_KEYS, *RISK_KEYS)}
    case_params.pop("stages", None)
    resolved = replace(study, **options, case_params={**study.case_params, **case_params})
    return VariantSettings(resolved, risk_measure(risk))


def risk_measure(params: Mapping[str, Value]) -> RiskMeasure | None:
    """``alpha`` gives CVaR, ``alpha`` and ``lam`` give EAVaR, neither the expectation (``None``)."""
    if "lam" in params and "alpha" not in params:
        raise StudyError("the risk parameter lam needs alpha too: EAVaR(lam, alpha)")
    if "alpha" not in params:
        return None
    if "lam" in params:
        return EAVaR(lam=float(params["lam"]), alpha=float(params["alpha"]))
    return CVaR(alpha=float(params["alpha"]))


def check_names(study: Study, names: list[str]) -> None:
    """Fail before any training if a parameter name means nothing for this case."""
    if "lam" in names and "alpha" not in names:
        raise StudyError("the risk parameter lam needs alpha too: EAVaR(lam, alpha)")
    case_keys = [name for name in names if name not in (*TRAINING_KEYS, *RISK_KEYS)]
    if not case_keys:
        return
    accepted = builder_keywords(study.case)
    if accepted is None:
        return  # the builder takes **keywords: it checks them itself
    unknown = [name for name in case_keys if name not in accepted]
    if unknown:
        raise StudyError(
            f"{', '.join(unknown)}: not a parameter of case {study.case!r}; known: "
            f"{', '.join([*TRAINING_KEYS, *RISK_KEYS, *sorted(accepted)])}"
        )


def builder_keywords(case: str) -> set[str] | None:
    """The keywords the case's builder accepts (``None``: any)."""
    if Path(case).is_dir():
        return set()  # a Cobre case directory has no builder parameters
    try:
        parameters = inspect.signature(case_builder(case)).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in parameters if p.kind in named}


def case_builder(case: str) -> Callable[..., Problem]:
    """The function that builds CASE: an embedded case's, or a Python file's ``build_problem``."""
    if case in EMBEDDED_CASES:
        from caudal import examples

        return getattr(examples, case)
    path = Path(case)
    if path.suffix == ".py" and path.is_file():
        builder = runpy.run_path(str(path)).get("build_problem")
        if builder is None:
            raise StudyError(f"{path}: defines no build_problem() function")
        return builder
    raise StudyError(
        f"{case}: no such case; expected one of {', '.join(EMBEDDED_CASES)}, a Python file defining "
        "build_problem() or a Cobre case directory"
    )


def build_case(case: str, stages: int | None, params: Mapping[str, Value]) -> Problem:
    """The variant's problem."""
    if Path(case).is_dir():
        from caudal.hydro.cobre import load_case

        if stages is not None or params:
            raise StudyError(f"{case}: a Cobre case directory takes no case parameters")
        return load_case(case).problem
    keywords = dict(params)
    if case in EMBEDDED_CASES:
        keywords["stages"] = stages or DEFAULT_STAGES
    elif stages is not None:
        keywords["stages"] = stages
    return case_builder(case)(**keywords)


def case_defaults(case: str) -> tuple[int, int, int]:
    """Iterations, forward passes and seed when the study does not say: a Cobre case's own, else caudal's."""
    if Path(case).is_dir():
        from caudal.hydro.cobre import training_defaults

        settings = training_defaults(case)
        if settings is not None:
            return settings.iterations, settings.forward_passes, settings.seed
    return DEFAULT_ITERATIONS, DEFAULT_FORWARD_PASSES, 0
