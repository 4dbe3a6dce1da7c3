"""``config.json`` of a 0.18 case: training and simulation settings, the opening source.

0.18 moved the forward-pass count into ``training.selection`` and the
simulation size into ``simulation.selection``, and reads
``scenarios/noise_openings.parquet`` only when a phase's
``scenario_source.openings`` says ``{"source": "file"}``. Training's inflow
scheme may be ``in_sample``, ``external`` or ``out_of_sample`` as in 0.5.x. caudal honours what
defines the problem or the run, ignores pure output and solver-tuning options
(they do not change the optimum), and refuses every other option by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from caudal.hydro.cobre.case import INFLOW_METHODS, Settings, SimulationSettings, TrainingSettings
from caudal.hydro.cobre.config import (
    DEFAULT_SIMULATION_SCENARIOS,
    DEFAULT_TREE_SEED,
    EXTERNAL,
    IN_SAMPLE,
    OUT_OF_SAMPLE,
    refuse_other_schemes,
    stopping_rules,
)
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.inflow_history import estimation_settings

FILE = "config.json"
SAMPLED = "sampled"
GENERATED = "generated"
FROM_FILE = "file"
# Training's forward passes may take external inflows (format_018/external.py) or noise drawn apart from
# the tree (out_of_sample.py); the simulation samples the tree, so it refuses both when asked explicitly.
TRAINING_SCHEMES = (IN_SAMPLE, EXTERNAL, OUT_OF_SAMPLE)
ORDER_SELECTIONS = ("pacf", "pacf_annual")
"""The 0.18 schema's ``estimation.order_selection`` values."""


@dataclass(frozen=True)
class Config:
    settings: Settings
    openings_from_file: bool  # training.scenario_source.openings.source == "file"


def read_config(files: CaseFiles) -> Config:
    config = files.json(FILE)
    training, source = _training(config.record("training"))
    simulation = _simulation(config.record("simulation", None), source)
    method = _modeling(config.record("modeling", None))
    _refuse_other_sections(config)
    config.finish()
    settings = Settings(training=training, simulation=simulation, inflow_method=method, config_inflow_penalty=None)
    return Config(settings, source == FROM_FILE)


def read_training_settings(files: CaseFiles) -> TrainingSettings:
    """Only the training part (for the command line's defaults)."""
    return read_config(files).settings.training


def _training(training: Record) -> tuple[TrainingSettings, str]:
    selection = training.record("selection")
    method = selection.string("method", choices=(SAMPLED, "enumerated"))
    if method != SAMPLED:
        raise selection.refuse("method", f"the {method!r} forward selection (caudal samples forward passes)")
    forward_passes = selection.integer("forward_passes", minimum=1)
    selection.finish()
    iterations, time_limit = stopping_rules(training)
    if not training.boolean("enabled", True):
        raise training.refuse("enabled", "skipping training (training.enabled = false)")
    seed = training.integer("tree_seed", None)
    seed = DEFAULT_TREE_SEED if seed is None else abs(seed)
    selection_rows = training.record("cut_selection", None)
    if selection_rows is not None:
        for key in ("selection", "max_active_per_stage"):
            selection_rows.refuse_if_present(key, "cut selection")
        selection_rows.number("row_activity_tolerance", None, minimum=0.0)  # only used by cut selection
        selection_rows.finish()
    source, inflow_scheme = _scenario_source(training.record("scenario_source", None), GENERATED, TRAINING_SCHEMES)
    training.ignore("parallelism", "solver")  # result-preserving scheduling; solver tuning and retry budgets
    training.finish()
    settings = TrainingSettings(iterations=iterations, forward_passes=forward_passes, seed=seed, time_limit=time_limit,
                                inflow_scheme=inflow_scheme)
    return settings, source


def _scenario_source(
    source: Record | None, inherited: str, inflow_schemes: tuple[str, ...] = (IN_SAMPLE,)
) -> tuple[str, str]:
    """Where the openings come from, and the inflow scheme (one of ``inflow_schemes``; others refused)."""
    if source is None:
        return inherited, IN_SAMPLE
    scheme = refuse_other_schemes(source, inflow_schemes=inflow_schemes)
    openings = source.record("openings", None)
    origin = inherited
    if openings is not None:
        origin = openings.string("source", choices=(GENERATED, FROM_FILE))
        openings.finish()
    # caudal's out-of-sample stream is keyed by the tree seed (out_of_sample.py); historical years only
    # matter to the historical scheme, refused above.
    source.ignore("seed", "historical_years")
    source.finish()
    return origin, scheme


def _simulation(simulation: Record | None, training_source: str) -> SimulationSettings:
    if simulation is None:
        return SimulationSettings(enabled=False, scenarios=DEFAULT_SIMULATION_SCENARIOS)
    enabled = simulation.boolean("enabled", False)
    scenarios = DEFAULT_SIMULATION_SCENARIOS
    selection = simulation.record("selection", None)
    if selection is not None:
        method = selection.string("method", choices=(SAMPLED, "enumerated"))
        if method != SAMPLED:
            raise selection.refuse("method", f"the {method!r} simulation selection (caudal samples scenarios)")
        scenarios = selection.integer("num_scenarios", minimum=0)
        selection.finish()
    source, _ = _scenario_source(simulation.record("scenario_source", None), training_source)
    if source != training_source:
        raise simulation.refuse("scenario_source.openings", "simulating on other openings than training's")
    simulation.ignore("io_channel_capacity", "solver")  # output plumbing; solver tuning
    simulation.finish()
    return SimulationSettings(enabled=enabled, scenarios=scenarios)


def _modeling(modeling: Record | None) -> str:
    if modeling is None:
        return "penalty"
    scale = modeling.number("cost_scale_factor", None, positive=True)
    if scale is not None and scale != 1.0:
        raise modeling.refuse("cost_scale_factor", "a cost scale factor other than 1")
    treatment = modeling.record("inflow_non_negativity", None)
    modeling.finish()
    if treatment is None:
        return "penalty"
    method = treatment.string("method", "penalty", choices=INFLOW_METHODS)
    treatment.finish()
    return method


def _refuse_other_sections(config: Record) -> None:
    bounds = config.record("upper_bound_evaluation", None)
    if bounds is not None:
        if bounds.boolean("enabled", False):
            raise bounds.refuse("enabled", "the inner-approximation upper bound")
        bounds.ignore("initial_iteration", "interval_iterations", "lipschitz")  # only used when enabled
        bounds.finish()
    policy = config.record("policy", None)
    if policy is not None:
        mode = policy.string("mode", "fresh")
        if mode != "fresh":
            raise policy.refuse("mode", f"policy mode {mode!r}")
        policy.refuse_if_present("boundary", "a terminal boundary policy")
        checkpointing = policy.record("checkpointing", None)
        if checkpointing is not None:
            if checkpointing.boolean("enabled", False):
                raise checkpointing.refuse("enabled", "Cobre checkpointing (caudal checkpoints with --output)")
            checkpointing.ignore("compress", "initial_iteration", "interval_iterations", "store_basis")
            checkpointing.finish()
        policy.ignore("path")
        policy.finish()
    # The estimation settings are checked here and used by format_018/estimation.py when the case
    # fits its inflow model from inflow_history.parquet; exports select output only.
    estimation_settings(config.record("estimation", None), ORDER_SELECTIONS)
    config.ignore("exports")
