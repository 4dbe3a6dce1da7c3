"""Every property of Cobre 0.18's JSON schemas, and what caudal does with it.

``READ``: the 0.18 reader reads the property and it shapes the problem or the
run (some values may still be refused by name, e.g. a ``block_mode`` other
than ``parallel``). ``IGNORED``: read and checked to change nothing caudal
computes (names, output options, solver tuning, costs of refused features).
``REFUSED``: a case that sets it fails with an error naming the file and the
field. An ``IGNORED`` or ``REFUSED`` entry covers the whole subtree below it;
a ``READ`` object lists its children. ``tests/test_cobre_format_018.py`` walks
the schemas in ``../shared/cases/cobre/format-0.18`` and fails when a schema
has a property this table does not classify, so a new Cobre release cannot
add a field that caudal silently ignores.

Paths are those of the schema: ``a.b`` a property of an object, ``a[]`` the
items of an array, ``a{}`` the values of a map.
"""

from __future__ import annotations

READ = "read"
IGNORED = "ignored"
REFUSED = "refused"

SCHEMA_FILES: dict[str, str] = {
    "buses.schema.json": "system/buses.json",
    "config.schema.json": "config.json",
    "correlation.schema.json": "scenarios/correlation.json",
    "energy_contracts.schema.json": "system/energy_contracts.json",
    "generic_constraints.schema.json": "constraints/generic_constraints.json",
    "generic_parameters.schema.json": "constraints/generic_parameters.json",
    "hydros.schema.json": "system/hydros.json",
    "initial_conditions.schema.json": "initial_conditions.json",
    "lines.schema.json": "system/lines.json",
    "load_factors.schema.json": "scenarios/load_factors.json",
    "non_controllable_factors.schema.json": "scenarios/non_controllable_factors.json",
    "non_controllable_sources.schema.json": "system/non_controllable_sources.json",
    "penalties.schema.json": "penalties.json",
    "post_study_stages.schema.json": "post_study_stages.json",
    "production_models.schema.json": "system/hydro_production_models.json",
    "pumping_stations.schema.json": "system/pumping_stations.json",
    "stages.schema.json": "stages.json",
    "thermals.schema.json": "system/thermals.json",
}

_SCHEMA_URI = {"$schema": IGNORED}
_DEFICIT = {"deficit_segments": READ, "deficit_segments[].cost": READ, "deficit_segments[].depth_mw": READ}

PROPERTIES: dict[str, dict[str, str]] = {
    "buses.schema.json": {
        **_SCHEMA_URI,
        "buses": READ,
        **{f"buses[].{key}": status for key, status in _DEFICIT.items()},
        "buses[].id": READ,
        "buses[].name": IGNORED,
        "buses[].operational_start_date": READ,  # later than the first stage: refused
    },
    "config.schema.json": {
        **_SCHEMA_URI,
        "estimation": READ,  # read when the case fits its inflow model from history (format_018/estimation.py)
        "estimation.max_coefficient_magnitude": READ,
        "estimation.max_order": READ,
        "estimation.min_observations_per_season": READ,  # a season with fewer values: error
        "estimation.order_selection": READ,
        "exports": IGNORED,
        "modeling": READ,
        "modeling.cost_scale_factor": READ,  # other than 1: refused
        "modeling.inflow_non_negativity": READ,
        "modeling.inflow_non_negativity.method": READ,
        "policy": READ,
        "policy.boundary": REFUSED,
        "policy.checkpointing": READ,
        "policy.checkpointing.enabled": READ,  # true: refused (caudal checkpoints with --output)
        "policy.checkpointing.compress": IGNORED,
        "policy.checkpointing.initial_iteration": IGNORED,
        "policy.checkpointing.interval_iterations": IGNORED,
        "policy.checkpointing.store_basis": IGNORED,
        "policy.mode": READ,  # other than fresh: refused
        "policy.path": IGNORED,
        "simulation": READ,
        "simulation.enabled": READ,
        "simulation.io_channel_capacity": IGNORED,
        "simulation.scenario_source": READ,
        "simulation.scenario_source.historical_years": IGNORED,  # only for the refused schemes
        "simulation.scenario_source.inflow": READ,
        "simulation.scenario_source.inflow.scheme": READ,  # other than in_sample: refused
        "simulation.scenario_source.load": READ,
        "simulation.scenario_source.load.scheme": READ,
        "simulation.scenario_source.ncs": READ,
        "simulation.scenario_source.ncs.scheme": READ,
        "simulation.scenario_source.openings": READ,
        "simulation.scenario_source.openings.source": READ,  # other than training's: refused
        "simulation.scenario_source.seed": IGNORED,
        "simulation.selection": READ,
        "simulation.selection.method": READ,  # enumerated: refused
        "simulation.selection.num_scenarios": READ,
        "simulation.solver": IGNORED,  # solver tuning does not change the optimum
        "training": READ,
        "training.cut_selection": READ,
        "training.cut_selection.max_active_per_stage": REFUSED,
        "training.cut_selection.row_activity_tolerance": IGNORED,  # only used by cut selection
        "training.cut_selection.selection": REFUSED,
        "training.enabled": READ,  # false: refused
        "training.parallelism": IGNORED,  # result-preserving scheduling
        "training.scenario_source": READ,
        "training.scenario_source.historical_years": IGNORED,
        "training.scenario_source.inflow": READ,
        "training.scenario_source.inflow.scheme": READ,  # external, out_of_sample too; historical: refused
        "training.scenario_source.load": READ,
        "training.scenario_source.load.scheme": READ,
        "training.scenario_source.ncs": READ,
        "training.scenario_source.ncs.scheme": READ,
        "training.scenario_source.openings": READ,
        "training.scenario_source.openings.source": READ,
        "training.scenario_source.seed": IGNORED,  # caudal's out-of-sample stream is keyed by the tree seed
        "training.selection": READ,
        "training.selection.forward_passes": READ,
        "training.selection.method": READ,  # enumerated: refused
        "training.solver": IGNORED,
        "training.stopping_mode": READ,
        "training.stopping_rules": READ,
        "training.stopping_rules[].type": READ,  # other than iteration_limit and time_limit: refused
        "training.stopping_rules[].limit": READ,
        "training.stopping_rules[].seconds": READ,
        "training.stopping_rules[].iterations": REFUSED,  # bound_stalling
        "training.stopping_rules[].tolerance": REFUSED,  # bound_stalling, gap
        "training.stopping_rules[].relative_tolerance": REFUSED,  # gap
        "training.tree_seed": READ,
        "upper_bound_evaluation": READ,
        "upper_bound_evaluation.enabled": READ,  # true: refused
        "upper_bound_evaluation.initial_iteration": IGNORED,  # only used when enabled
        "upper_bound_evaluation.interval_iterations": IGNORED,
        "upper_bound_evaluation.lipschitz": IGNORED,
    },
    "correlation.schema.json": {  # correlation.py
        **_SCHEMA_URI,
        "method": READ,
        "profiles": READ,
        "profiles{}.correlation_groups": READ,
        "profiles{}.correlation_groups[].name": READ,
        "profiles{}.correlation_groups[].entities": READ,
        "profiles{}.correlation_groups[].entities[].type": READ,
        "profiles{}.correlation_groups[].entities[].id": READ,
        "profiles{}.correlation_groups[].matrix": READ,
        "schedule": READ,
        "schedule[].stage_id": READ,
        "schedule[].profile_name": READ,
    },
    "energy_contracts.schema.json": {**_SCHEMA_URI, "contracts": REFUSED},
    "generic_constraints.schema.json": {
        **_SCHEMA_URI,
        "constraints": READ,
        "constraints[].id": READ,
        "constraints[].name": IGNORED,
        "constraints[].description": IGNORED,
        "constraints[].expression": READ,  # inline relations, @parameters and bus= selectors: refused
        "constraints[].slack": READ,
        "constraints[].slack.enabled": READ,
        "constraints[].slack.penalty": READ,
        "expressions": REFUSED,  # an empty list is accepted
    },
    "generic_parameters.schema.json": {**_SCHEMA_URI, "scalar_parameters": REFUSED},
    "hydros.schema.json": {
        **_SCHEMA_URI,
        "hydros": READ,
        "hydros[].id": READ,
        "hydros[].name": IGNORED,
        "hydros[].downstream_id": READ,
        "hydros[].operational_start_date": READ,
        "hydros[].entry_stage_id": READ,  # out of service: no turbining, storage held, water passes (bounds.py)
        "hydros[].exit_stage_id": READ,
        "hydros[].reservoir": READ,
        "hydros[].reservoir.min_storage_hm3": READ,
        "hydros[].reservoir.max_storage_hm3": READ,
        "hydros[].outflow": READ,
        "hydros[].outflow.min_outflow_m3s": READ,
        "hydros[].outflow.max_outflow_m3s": READ,
        "hydros[].generation": READ,
        "hydros[].generation.model": READ,  # linearized_head: constant productivity, as in Cobre 0.18.0
        "hydros[].generation.min_turbined_m3s": READ,
        "hydros[].generation.max_turbined_m3s": READ,
        "hydros[].generation.min_generation_mw": READ,
        "hydros[].generation.max_generation_mw": READ,
        "hydros[].unit_groups": READ,  # several groups: split the turbined flow over their buses
        "hydros[].unit_groups[].id": READ,
        "hydros[].unit_groups[].name": IGNORED,
        "hydros[].unit_groups[].bus_id": READ,
        "hydros[].unit_groups[].min_turbined_m3s": READ,  # one group: the plant's; several: 0, else refused
        "hydros[].unit_groups[].max_turbined_m3s": READ,
        "hydros[].unit_groups[].min_generation_mw": READ,
        "hydros[].unit_groups[].max_generation_mw": READ,
        "hydros[].penalties": READ,
        "hydros[].penalties.spillage_cost": READ,
        "hydros[].penalties.storage_violation_below_cost": READ,
        "hydros[].penalties.turbined_violation_below_cost": READ,
        "hydros[].penalties.outflow_violation_below_cost": READ,
        "hydros[].penalties.outflow_violation_above_cost": READ,
        "hydros[].penalties.generation_violation_below_cost": READ,
        "hydros[].penalties.inflow_nonnegativity_cost": READ,
        "hydros[].penalties.turbined_cost": READ,  # other than 0: refused
        "hydros[].penalties.diversion_cost": IGNORED,  # prices refused features
        "hydros[].penalties.evaporation_violation_cost": READ,
        "hydros[].penalties.filling_target_violation_cost": IGNORED,
        "hydros[].penalties.water_withdrawal_violation_cost": READ,
        "hydros[].diversion": REFUSED,
        "hydros[].efficiency": READ,  # shapes computed FPHA planes only (fpha_fitting.py)
        "hydros[].efficiency.type": READ,
        "hydros[].efficiency.value": READ,
        "hydros[].evaporation": READ,  # needs the plant's curve in system/hydro_geometry.parquet
        "hydros[].evaporation.coefficients_mm": READ,
        "hydros[].evaporation.reference_volumes_hm3": READ,
        "hydros[].filling": REFUSED,
        "hydros[].hydraulic_losses": READ,  # shapes computed FPHA planes only
        "hydros[].hydraulic_losses.type": READ,
        "hydros[].hydraulic_losses.value": READ,
        "hydros[].hydraulic_losses.value_m": READ,
        "hydros[].specific_productivity_mw_per_m3s_per_m": READ,  # checked, set aside: energy reports only
        "hydros[].tailrace": READ,  # shapes computed FPHA planes only
        "hydros[].tailrace.type": READ,
        "hydros[].tailrace.coefficients": READ,
        "hydros[].tailrace.points": READ,
        "hydros[].tailrace.points[].outflow_m3s": READ,
        "hydros[].tailrace.points[].height_m": READ,
        "hydros[].travel_time_hours": REFUSED,  # 0 (instantaneous) is accepted
    },
    "initial_conditions.schema.json": {
        **_SCHEMA_URI,
        "storage": READ,
        "storage[].hydro_id": READ,
        "storage[].value_hm3": READ,
        "filling_storage": REFUSED,  # an empty list is accepted
        "past_anticipated_commitments": REFUSED,
        "past_defluences": REFUSED,
        "recent_observations": READ,  # without an inflow model with lags: checked, then changes nothing
        "recent_observations[].hydro_id": READ,
        "recent_observations[].start_date": READ,
        "recent_observations[].end_date": READ,
        "recent_observations[].value_m3s": READ,
    },
    "lines.schema.json": {
        **_SCHEMA_URI,
        "lines": READ,
        "lines[].id": READ,
        "lines[].name": IGNORED,
        "lines[].source_bus_id": READ,
        "lines[].target_bus_id": READ,
        "lines[].capacity": READ,
        "lines[].capacity.direct_mw": READ,
        "lines[].capacity.reverse_mw": READ,
        "lines[].exchange_cost": READ,
        "lines[].operational_start_date": READ,
        "lines[].entry_stage_id": READ,
        "lines[].exit_stage_id": READ,
        "lines[].losses_percent": REFUSED,  # 0 is accepted
    },
    "load_factors.schema.json": {
        **_SCHEMA_URI,
        "load_factors": READ,
        "load_factors[].bus_id": READ,
        "load_factors[].stage_id": READ,
        "load_factors[].block_factors": READ,
        "load_factors[].block_factors[].block_id": READ,
        "load_factors[].block_factors[].factor": READ,
    },
    "non_controllable_factors.schema.json": {**_SCHEMA_URI, "non_controllable_factors": REFUSED},
    "non_controllable_sources.schema.json": {
        **_SCHEMA_URI,
        "non_controllable_sources": READ,
        "non_controllable_sources[].id": READ,
        "non_controllable_sources[].name": IGNORED,
        "non_controllable_sources[].bus_id": READ,
        "non_controllable_sources[].max_generation_mw": READ,
        "non_controllable_sources[].curtailment_cost": READ,
        "non_controllable_sources[].allow_curtailment": READ,  # false: refused
        "non_controllable_sources[].operational_start_date": READ,
        "non_controllable_sources[].entry_stage_id": READ,
        "non_controllable_sources[].exit_stage_id": READ,
    },
    "penalties.schema.json": {
        **_SCHEMA_URI,
        "bus": READ,
        **{f"bus.{key}": status for key, status in _DEFICIT.items()},
        "bus.excess_cost": READ,
        "line": READ,
        "line.exchange_cost": READ,
        "hydro": READ,
        "hydro.spillage_cost": READ,
        "hydro.storage_violation_below_cost": READ,
        "hydro.turbined_violation_below_cost": READ,
        "hydro.outflow_violation_below_cost": READ,
        "hydro.outflow_violation_above_cost": READ,
        "hydro.generation_violation_below_cost": READ,
        "hydro.inflow_nonnegativity_cost": READ,
        "hydro.turbined_cost": READ,  # other than 0: refused
        "hydro.diversion_cost": IGNORED,  # these price refused features
        "hydro.evaporation_violation_cost": READ,
        "hydro.evaporation_violation_neg_cost": READ,
        "hydro.evaporation_violation_pos_cost": READ,
        "hydro.filling_target_violation_cost": IGNORED,
        "hydro.water_withdrawal_violation_cost": READ,
        "hydro.water_withdrawal_violation_neg_cost": READ,
        "hydro.water_withdrawal_violation_pos_cost": READ,
        "non_controllable_source": READ,
        "non_controllable_source.curtailment_cost": READ,
    },
    "post_study_stages.schema.json": {**_SCHEMA_URI, "stages": REFUSED, "thermal_bounds": REFUSED},
    "production_models.schema.json": {
        **_SCHEMA_URI,
        "fpha_plane_reduction": REFUSED,
        "production_models": READ,
        "production_models[].hydro_id": READ,
        "production_models[].selection_mode": READ,
        "production_models[].default_model": READ,  # unlisted season: hydro_energy_productivity.parquet (fpha refused)
        "production_models[].seasons": READ,
        "production_models[].seasons[].season_id": READ,
        "production_models[].seasons[].model": READ,  # linearized_head: constant productivity
        "production_models[].seasons[].productivity_mw_per_m3s": READ,  # absent: hydro_energy_productivity.parquet
        "production_models[].seasons[].fpha_config": READ,
        "production_models[].seasons[].fpha_config.source": READ,
        "production_models[].seasons[].fpha_config.fitting_window": READ,
        "production_models[].seasons[].fpha_config.fitting_window.volume_min_hm3": READ,
        "production_models[].seasons[].fpha_config.fitting_window.volume_max_hm3": READ,
        "production_models[].seasons[].fpha_config.fitting_window.volume_min_percentile": READ,
        "production_models[].seasons[].fpha_config.fitting_window.volume_max_percentile": READ,
        "production_models[].seasons[].fpha_config.max_planes_per_hydro": READ,
        "production_models[].seasons[].fpha_config.spillage_discretization_points": READ,
        "production_models[].seasons[].fpha_config.turbine_discretization_points": READ,
        "production_models[].seasons[].fpha_config.volume_discretization_points": READ,
        "production_models[].seasons[].reference_volume": REFUSED,
        "production_models[].stage_ranges": READ,  # must cover the study; productivity may change by range
        "production_models[].stage_ranges[].start_stage_id": READ,
        "production_models[].stage_ranges[].end_stage_id": READ,
        "production_models[].stage_ranges[].model": READ,  # linearized_head: constant productivity
        "production_models[].stage_ranges[].productivity_mw_per_m3s": READ,  # absent: the Parquet file
        "production_models[].stage_ranges[].fpha_config": READ,  # planes from system/fpha_hyperplanes.parquet
        "production_models[].stage_ranges[].fpha_config.source": READ,  # computed: fitted from the geometry
        # How computed planes are fitted (fpha_fitting.py); precomputed planes do not use them.
        "production_models[].stage_ranges[].fpha_config.fitting_window": READ,
        "production_models[].stage_ranges[].fpha_config.fitting_window.volume_min_hm3": READ,
        "production_models[].stage_ranges[].fpha_config.fitting_window.volume_max_hm3": READ,
        "production_models[].stage_ranges[].fpha_config.fitting_window.volume_min_percentile": READ,
        "production_models[].stage_ranges[].fpha_config.fitting_window.volume_max_percentile": READ,
        "production_models[].stage_ranges[].fpha_config.max_planes_per_hydro": READ,
        "production_models[].stage_ranges[].fpha_config.spillage_discretization_points": READ,
        "production_models[].stage_ranges[].fpha_config.turbine_discretization_points": READ,
        "production_models[].stage_ranges[].fpha_config.volume_discretization_points": READ,
        "production_models[].stage_ranges[].reference_volume": REFUSED,
    },
    "pumping_stations.schema.json": {**_SCHEMA_URI, "pumping_stations": REFUSED},
    "stages.schema.json": {
        **_SCHEMA_URI,
        "policy_graph": READ,
        "policy_graph.type": READ,  # other than finite_horizon: refused
        "policy_graph.annual_discount_rate": READ,
        "policy_graph.nodes": REFUSED,
        "policy_graph.transitions": READ,  # other than stages in sequence: refused
        "policy_graph.transitions[].source_id": READ,
        "policy_graph.transitions[].target_id": READ,
        "policy_graph.transitions[].probability": READ,
        "policy_graph.transitions[].annual_discount_rate_override": READ,
        "pre_study_stages": READ,
        "pre_study_stages[].id": READ,
        "pre_study_stages[].start_date": READ,
        "pre_study_stages[].end_date": READ,
        "pre_study_stages[].season_id": READ,
        "season_definitions": READ,
        "season_definitions.cycle_type": READ,
        "season_definitions.seasons": READ,
        "season_definitions.seasons[].id": READ,
        "season_definitions.seasons[].label": IGNORED,
        "season_definitions.seasons[].month_start": READ,
        "season_definitions.seasons[].day_start": IGNORED,  # seasons only label stages
        "season_definitions.seasons[].month_end": IGNORED,
        "season_definitions.seasons[].day_end": IGNORED,
        "stages": READ,
        "stages[].id": READ,
        "stages[].start_date": READ,
        "stages[].end_date": READ,
        "stages[].blocks": READ,
        "stages[].blocks[].id": READ,
        "stages[].blocks[].name": IGNORED,
        "stages[].blocks[].hours": READ,
        "stages[].block_mode": READ,  # chronological: refused
        "stages[].num_openings": READ,
        "stages[].risk_measure": READ,  # other than expectation: refused
        "stages[].risk_measure.cvar": REFUSED,
        "stages[].sampling_method": READ,  # other than saa: refused
        "stages[].season_id": READ,
        "stages[].annual_discount_rate_override": READ,  # other than the graph's rate: refused
        "stages[].state_variables": READ,
        "stages[].state_variables.storage": READ,
        "stages[].state_variables.inflow_lags": READ,
    },
    "thermals.schema.json": {
        **_SCHEMA_URI,
        "thermals": READ,
        "thermals[].id": READ,
        "thermals[].name": IGNORED,
        "thermals[].bus_id": READ,
        "thermals[].cost_per_mwh": READ,
        "thermals[].generation": READ,
        "thermals[].generation.min_mw": READ,
        "thermals[].generation.max_mw": READ,
        "thermals[].operational_start_date": READ,
        "thermals[].entry_stage_id": READ,
        "thermals[].exit_stage_id": READ,
        "thermals[].anticipated_config": REFUSED,
    },
}


def classify(schema: str, path: str) -> str | None:
    """The status of ``path`` in ``schema``: its own entry, or the IGNORED/REFUSED ancestor covering it."""
    table = PROPERTIES.get(schema, {})
    if path in table:
        return table[path]
    for end in range(len(path) - 1, 0, -1):
        if path[end] in ".[{" and path[:end] in table and table[path[:end]] != READ:
            return table[path[:end]]
    return None
