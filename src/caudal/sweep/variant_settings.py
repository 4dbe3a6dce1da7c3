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

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from caudal.cases import DEFAULT_CASE, Case, resolve_case
from caudal.checkpoint.schedule import DEFAULT_EVERY_ITERATIONS, DEFAULT_EVERY_SECONDS, DEFAULT_KEEP
from caudal.model.problem import Problem
from caudal.sddp.risk import CVaR, EAVaR, RiskMeasure
from caudal.sweep.grid import Value, Variant

TRAINING_KEYS = ("iterations", "forward_passes", "seed", "time_limit")
RISK_KEYS = ("alpha", "lam")


class StudyError(ValueError):
    """A sweep that cannot start: a parameter name its case does not take, or lam without alpha."""


@dataclass(frozen=True)
class Study:
    """The base study: what every variant shares unless its parameters say otherwise."""

    case: str = DEFAULT_CASE
    stages: int | None = None
    iterations: int | None = None
    forward_passes: int | None = None
    seed: int | None = None
    time_limit: float | None = None
    solver: str = "auto"
    checkpoint_every: int | None = DEFAULT_EVERY_ITERATIONS
    checkpoint_seconds: float | None = DEFAULT_EVERY_SECONDS
    keep: int = DEFAULT_KEEP
    case_params: Mapping[str, Value] = field(default_factory=dict)  # builder keywords shared by every variant


@dataclass(frozen=True)
class VariantSettings:
    """A variant's resolved settings: the case to build and the training keywords."""

    study: Study
    risk_measure: RiskMeasure | None

    @cached_property
    def case(self) -> Case:
        return resolve_case(self.study.case)  # a Python case file runs once per variant, not per question

    def train_keywords(self) -> dict:
        """What the study sets, and the case's own defaults (a Cobre case's config.json) for what it does not."""
        study = self.study
        defaults = self.case.training_defaults()
        return {
            "iterations": study.iterations if study.iterations is not None else defaults.iterations,
            "forward_passes": study.forward_passes if study.forward_passes is not None else defaults.forward_passes,
            "seed": study.seed if study.seed is not None else defaults.seed,
            "time_limit": study.time_limit if study.time_limit is not None else defaults.time_limit,
            "solver": study.solver,
            "risk_measure": self.risk_measure,
            "checkpoint_every": study.checkpoint_every,
            "checkpoint_seconds": study.checkpoint_seconds,
            "keep_checkpoints": study.keep,
        }

    def build_problem(self) -> Problem:
        return self.case.build(self.study.stages, self.study.case_params)


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
    """Fail before any training if the case is no case, or a parameter name means nothing for it.

    Raises :class:`~caudal.cases.BadCase` for the case, :class:`StudyError` for a name.
    """
    case = resolve_case(study.case)
    if "lam" in names and "alpha" not in names:
        raise StudyError("the risk parameter lam needs alpha too: EAVaR(lam, alpha)")
    case_keys = [name for name in names if name not in (*TRAINING_KEYS, *RISK_KEYS)]
    if not case_keys:
        return
    accepted = case.keywords()
    if accepted is None:
        return  # the builder takes **keywords: it checks them itself
    unknown = [name for name in case_keys if name not in accepted]
    if unknown:
        raise StudyError(
            f"{', '.join(unknown)}: not a parameter of case {study.case!r}; known: "
            f"{', '.join([*TRAINING_KEYS, *RISK_KEYS, *sorted(accepted)])}"
        )
