"""A Cobre case made ready to train: the case, its opening tree and its caudal problem."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caudal.hydro.cobre.case import Case, TrainingSettings
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.external_inflows import read_external_inflows
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.first_stage_fill import check_first_stage_can_fill
from caudal.hydro.cobre.formats import read_case, read_training_settings
from caudal.hydro.cobre.formulation import TRUNCATING, StageLayout, build_problem
from caudal.hydro.cobre.inflows import InflowModel, check_truncation_is_exact, resolve_inflows
from caudal.hydro.cobre.openings import NoiseEntities, generate_noise, noise_entities
from caudal.hydro.cobre.out_of_sample import out_of_sample_inflows, uses_out_of_sample_inflows
from caudal.hydro.cobre.par_a import add_annual_component
from caudal.hydro.cobre.resolutions import check_resolutions
from caudal.hydro.cobre.timeline import FILE as STAGES
from caudal.model.problem import Problem
from caudal.model.size import stage_bytes, too_large


@dataclass
class CobreStudy:
    """Everything caudal derives from a case directory.

    ``problem`` is what :func:`caudal.train` takes; ``training`` holds the
    case's own iteration limit, forward passes, seed and time limit;
    ``layouts`` say where each plant, line and bus sits in every stage LP (for
    simulation results); ``noise`` is the opening tree, per stage
    float64[openings, entities], from the case's ``noise_openings.parquet`` or
    caudal's generator.
    """

    case: Case
    inflows: InflowModel
    entities: NoiseEntities
    noise: list[np.ndarray]
    noise_source: str  # "file" or "generated"
    problem: Problem
    layouts: list[StageLayout]
    # The external or out-of-sample inflow scheme's forward-only realisations per stage
    # (external_inflows.py, out_of_sample.py), else None:
    # train with sampling=caudal.OutOfSample(study.forward_inflows).
    forward_inflows: list[dict[str, np.ndarray]] | None = None

    @property
    def training(self) -> TrainingSettings:
        return self.case.settings.training


def load_case(path: str | Path, *, seed: int | None = None) -> CobreStudy:
    """Read, validate and formulate a Cobre case directory (format 0.5.x or 0.18, detected).

    ``seed`` overrides ``training.tree_seed`` for caudal's opening generator
    (it has no effect when the case supplies ``noise_openings.parquet``).
    Raises :class:`~caudal.hydro.cobre.errors.CaseError` for a bad or
    unsupported case.
    """
    case = read_case(path)
    _check_openings_fit(case)
    inflows = add_annual_component(case, resolve_inflows(case))
    entities = noise_entities(case)
    if case.noise_openings is not None:
        noise, source = case.noise_openings, "file"
    else:
        noise, source = generate_noise(case, case.settings.training.seed if seed is None else seed), "generated"
    lag_transitions = check_resolutions(case, inflows)
    if case.settings.inflow_method in TRUNCATING:
        check_truncation_is_exact(case, inflows, noise)
    check_first_stage_can_fill(case, inflows, noise)
    tree_seed = case.settings.training.seed if seed is None else seed
    forward_inflows = read_external_inflows(case, inflows)
    if forward_inflows is None:
        forward_inflows = out_of_sample_inflows(case, inflows, entities, tree_seed)
    problem, layouts = build_problem(case, inflows, noise, entities, name=Path(path).name or str(path),
                                     lag_transitions=lag_transitions)
    return CobreStudy(case, inflows, entities, noise, source, problem, layouts, forward_inflows)


def _check_openings_fit(case: Case) -> None:
    """Refuse opening counts (stages.json's num_scenarios) whose noise and LPs would not fit in memory."""
    entities = len(case.hydros) + len(case.buses)
    needed = sum(stage_bytes(1, 1, 0, stage.openings, entities) for stage in case.stages)
    largest = max((stage.openings for stage in case.stages), default=0)
    problem = too_large(f"{len(case.stages)} stages of up to {largest} openings", needed)
    if problem is not None:
        raise CaseError(STAGES, None, "stages[].num_scenarios", problem)


def training_defaults(path: str | Path) -> TrainingSettings | None:
    """The case's training settings if ``path`` is a case directory, else ``None`` (for the CLI)."""
    if not Path(path).is_dir():
        return None
    return read_training_settings(CaseFiles(path))


def external_forward_inflows(path: str | Path) -> list[dict[str, np.ndarray]] | None:
    """The case's external or out-of-sample inflows as forward-only realisations (``None`` for in-sample).

    For the command line, which trains ``load_case(path).problem`` with ``OutOfSample`` of these.
    """
    case = read_case(path)
    if uses_out_of_sample_inflows(case):
        return load_case(path).forward_inflows
    return read_external_inflows(case, resolve_inflows(case))
