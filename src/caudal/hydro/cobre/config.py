"""``config.json``: training and simulation settings, and the inflow non-negativity method.

caudal honours the settings that define the problem or the training run
(forward passes, iteration and time limits, the tree seed, simulation size,
the non-negativity treatment) and ignores only pure output options (what to
export, where, compression). Anything else that would change what Cobre does
(other stopping rules, cut selection, warm starts, other sampling schemes,
inner-approximation bounds) is refused rather than silently dropped.
"""

from __future__ import annotations

from caudal.hydro.cobre.case import INFLOW_METHODS, Settings, SimulationSettings, TrainingSettings
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.files import CaseFiles

DEFAULT_TREE_SEED = 42
"""Cobre's seed when ``training.tree_seed`` is absent or null."""

DEFAULT_SIMULATION_SCENARIOS = 2000
IN_SAMPLE = "in_sample"
EXTERNAL = "external"
OUT_OF_SAMPLE = "out_of_sample"


def read_settings(files: CaseFiles) -> Settings:
    config = files.json("config.json")
    training = _training(config.record("training"))
    simulation = _simulation(config.record("simulation", None))
    method, penalty = _modeling(config.record("modeling", None))
    _refuse_other_sections(config)
    config.finish()
    return Settings(training=training, simulation=simulation, inflow_method=method, config_inflow_penalty=penalty)


def read_training_settings(files: CaseFiles) -> TrainingSettings:
    """Only the training part (for the command line's defaults)."""
    return read_settings(files).training


def _training(training: Record) -> TrainingSettings:
    forward_passes = training.integer("forward_passes", minimum=1)
    iterations, time_limit = stopping_rules(training)
    if not training.boolean("enabled", True):
        raise training.refuse("enabled", "skipping training (training.enabled = false)")
    seed = training.integer("tree_seed", None)
    seed = DEFAULT_TREE_SEED if seed is None else abs(seed)
    formulation = training.string("cut_formulation", "single")
    if formulation != "single":
        raise training.refuse("cut_formulation", f"the {formulation!r} cut formulation")
    selection = training.record("cut_selection", None)
    if selection is not None:
        if selection.boolean("enabled", False):
            raise selection.refuse("enabled", "cut selection")
        selection.ignore(*selection.data)
    inflow_scheme = forward_inflow_scheme(training.record("scenario_source", None))
    forward_pass = training.record("forward_pass", None)
    if forward_pass is not None:
        kind = forward_pass.string("type")
        if kind != "default":
            raise forward_pass.refuse("type", f"the {kind!r} forward pass")
        forward_pass.finish()
    solver = training.record("solver", None)  # retry budgets: caudal has its own retry ladder
    if solver is not None:
        solver.ignore(*solver.data)
    training.finish()
    return TrainingSettings(iterations=iterations, forward_passes=forward_passes, seed=seed, time_limit=time_limit,
                            inflow_scheme=inflow_scheme)


def stopping_rules(training: Record) -> tuple[int, float | None]:
    rules = training.records("stopping_rules", lambda i, _: f"stopping rule #{i}")
    iterations = None
    time_limit = None
    for rule in rules:
        kind = rule.string("type")
        if kind == "iteration_limit":
            limit = rule.integer("limit", minimum=1)
            iterations = limit if iterations is None else min(iterations, limit)
        elif kind == "time_limit":
            seconds = rule.number("seconds", positive=True)
            time_limit = seconds if time_limit is None else min(time_limit, seconds)
        else:
            raise rule.refuse("type", f"the {kind!r} stopping rule (caudal honours iteration_limit and time_limit)")
        rule.finish()
    if iterations is None:
        raise training.error("stopping_rules", "must include an iteration_limit rule")
    mode = training.string("stopping_mode", "any", choices=("any", "all"))
    if mode == "all" and time_limit is not None:
        raise training.refuse("stopping_mode", "stopping_mode 'all' with a time limit")
    return iterations, time_limit


def _in_sample_only(source: Record | None) -> None:
    """Refuse forward sampling other than from the opening tree (Cobre's default)."""
    if source is None:
        return
    refuse_other_schemes(source)
    # The forward seed and historical years only matter to the other schemes.
    source.ignore("seed", "historical_years")
    source.finish()


def forward_inflow_scheme(source: Record | None) -> str:
    """Training's inflow scheme: in-sample, ``external`` (forward passes on external_inflow_scenarios.parquet)
    or ``out_of_sample`` (forward passes on noise drawn apart from the opening tree, out_of_sample.py)."""
    if source is None:
        return IN_SAMPLE
    scheme = refuse_other_schemes(source, inflow_schemes=(IN_SAMPLE, EXTERNAL, OUT_OF_SAMPLE))
    source.ignore("seed", "historical_years")
    source.finish()
    return scheme


def refuse_other_schemes(source: Record, inflow_schemes: tuple[str, ...] = (IN_SAMPLE,)) -> str:
    """Refuse a sampling scheme other than in-sample (or ``inflow_schemes`` for inflows) in a ``scenario_source``.

    Returns the inflow scheme.
    """
    inflow = IN_SAMPLE
    for kind in ("inflow", "load", "ncs"):
        entry = source.record(kind, None)
        if entry is None:
            continue
        scheme = entry.string("scheme", IN_SAMPLE)
        if kind == "inflow" and scheme in inflow_schemes:
            inflow = scheme
        elif scheme != IN_SAMPLE:
            raise entry.refuse("scheme", f"the {scheme!r} sampling scheme")
        entry.finish()
    return inflow


def _simulation(simulation: Record | None) -> SimulationSettings:
    if simulation is None:
        return SimulationSettings(enabled=False, scenarios=DEFAULT_SIMULATION_SCENARIOS)
    enabled = simulation.boolean("enabled", False)
    scenarios = simulation.integer("num_scenarios", DEFAULT_SIMULATION_SCENARIOS, minimum=0)
    policy = simulation.string("policy_type", "outer")
    if policy != "outer":
        raise simulation.refuse("policy_type", f"the {policy!r} simulation policy")
    _in_sample_only(simulation.record("scenario_source", None))
    simulation.ignore("output_path", "output_mode", "io_channel_capacity")
    simulation.finish()
    return SimulationSettings(enabled=enabled, scenarios=scenarios)


def _modeling(modeling: Record | None) -> tuple[str, float | None]:
    """The non-negativity method and the ``penalty_cost`` config.json gives (``None`` if absent)."""
    if modeling is None:
        return "penalty", None
    treatment = modeling.record("inflow_non_negativity", None)
    modeling.finish()
    if treatment is None:
        return "penalty", None
    method = treatment.string("method", "penalty", choices=INFLOW_METHODS)
    penalty = treatment.number("penalty_cost", None, minimum=0.0)
    treatment.finish()
    return method, penalty


def _refuse_other_sections(config: Record) -> None:
    bounds = config.record("upper_bound_evaluation", None)
    if bounds is not None:
        if bounds.boolean("enabled", False):
            raise bounds.refuse("enabled", "the inner-approximation upper bound")
        bounds.ignore(*bounds.data)
    policy = config.record("policy", None)
    if policy is not None:
        mode = policy.string("mode", "fresh")
        if mode != "fresh":
            raise policy.refuse("mode", f"policy mode {mode!r}")
        policy.refuse_if_present("boundary", "a terminal boundary policy")
        checkpointing = policy.record("checkpointing", None)
        if checkpointing is not None:
            if checkpointing.boolean("enabled", False):
                raise checkpointing.refuse("enabled", "Cobre checkpointing")
            checkpointing.ignore(*checkpointing.data)
        policy.ignore("path", "validate_compatibility")
        policy.finish()
    # Output selection; estimation settings are read by inflow_history.py when a history is fitted.
    config.ignore("exports", "estimation")
