"""``system/hydro_production_models.json``: each plant's productivity, stage by stage.

Both formats map stage ranges to a production model; caudal models constant
productivity only, so it reads, for every plant listed, one productivity per
study stage: the range's own value (``productivity_override`` in 0.5.x, where
it defaults to the plant's ``productivity_mw_per_m3s``;
``productivity_mw_per_m3s`` in 0.18, where a range without it takes each
stage's value from ``system/hydro_energy_productivity.parquet``, read by
``format_018/energy_productivity.py``, and giving it in both is an error, as in
Cobre 0.18.0). The ranges must cover the study in order without gaps. 0.18's
``seasonal`` mode maps each stage to its season's model instead.

``linearized_head`` is read in 0.18 as constant productivity: Cobre 0.18.0
resolves it to the same LP (d02 with d07's geometry, tailrace, losses and
efficiency costs the same under either model, for a productivity of 0.9 from
the JSON and of 0.9 then 1.1 from the Parquet file), so its head adds no term.
Cobre 0.5.1 refuses the model ("not yet implemented"), and so does caudal's
0.5.x reader.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.fields import MISSING, Record, entity_name
from caudal.hydro.cobre.files import CaseFiles
from caudal.hydro.cobre.fpha_fitting import FittingOptions, read_fitting_options

FILE = "system/hydro_production_models.json"
CONSTANT_PRODUCTIVITY = "constant_productivity"
FPHA = "fpha"
LINEARIZED_HEAD = "linearized_head"
FPHA_SOURCES = ("precomputed", "computed")
ENERGY_PRODUCTIVITY_FILE = "system/hydro_energy_productivity.parquet"

# 0.18: a stage's productivity from hydro_energy_productivity.parquet, by (hydro id, stage index); None if none.
Supplied = Callable[[int, int], float | None]


@dataclass(frozen=True)
class ProductionModel:
    record: Record  # for errors about the plant's entry
    productivity: tuple[float, ...]  # per study stage, MW per m3/s (the fallback on FPHA stages)
    fpha: tuple[str | None, ...] = ()  # per study stage: the FPHA planes' source, None for constant productivity
    fitting: FittingOptions | None = None  # of the plant's first range with computed planes

    def fpha_source(self, stage: int) -> str | None:
        return self.fpha[stage] if self.fpha else None


def read_production_models(
    files: CaseFiles, n_stages: int, key: str, default: dict[int, float] | None = None,
    seasons: Sequence[int | None] | None = None, supplied: Supplied | None = None,
) -> dict[int, ProductionModel]:
    """The file's models by hydro id; ``key`` names the range's productivity, ``default`` its fallback by plant.

    ``seasons`` (each stage's season id) allows the ``seasonal`` selection mode (0.18); without it it is refused.
    ``supplied`` (0.18) gives the productivity of a stage whose range or season leaves it out, and allows
    ``linearized_head``; without it that model is refused.
    """
    doc = files.json(FILE)
    doc.refuse_if_present("fpha_plane_reduction", "FPHA production functions")
    models: dict[int, ProductionModel] = {}
    for record in doc.records("production_models", entity_name("hydro")):
        hydro_id = record.integer("hydro_id", minimum=0)
        record.entity = f"hydro {hydro_id}"
        if hydro_id in models:
            raise record.error("hydro_id", f"hydro {hydro_id} has two production models")
        mode = record.string("selection_mode", choices=("stage_ranges", "seasonal"))
        if mode != "stage_ranges" and seasons is None:
            raise record.refuse("selection_mode", "seasonal production models")
        fallback = MISSING if default is None else default.get(hydro_id, MISSING)
        source = _Source(hydro_id, key, fallback, supplied)
        if mode == "stage_ranges":
            models[hydro_id] = ProductionModel(record, *_stage_ranges(record, n_stages, source))
        else:
            models[hydro_id] = ProductionModel(record, *_seasonal(record, seasons, source))
        record.finish()
    doc.finish()
    return models


def check_plants(models: dict[int, ProductionModel], hydro_ids: set[int], hydros_file: str) -> None:
    for hydro_id, model in models.items():
        if hydro_id not in hydro_ids:
            raise model.record.error("hydro_id", f"refers to hydro {hydro_id}, which is not defined in {hydros_file}")


def overrides(models: dict[int, ProductionModel], base: dict[int, float]) -> dict[tuple[int, int], float]:
    """(hydro id, stage id) -> productivity, where a model's differs from the plant's ``base``."""
    return {
        (hydro_id, stage): value
        for hydro_id, model in models.items()
        for stage, value in enumerate(model.productivity)
        if value != base[hydro_id]
    }


@dataclass(frozen=True)
class _Source:
    """Where a plant's range (or season) finds its productivity: its ``key``, else ``fallback`` or ``supplied``."""

    hydro_id: int
    key: str
    fallback: object  # 0.5.x: the plant's own productivity (MISSING: none)
    supplied: Supplied | None  # 0.18: hydro_energy_productivity.parquet

    def productivity(self, item: Record, model: str, stages: Sequence[int]) -> list[float]:
        """The productivity of each of ``stages`` (indices) under a constant-productivity (or linearized-head) entry."""
        if self.supplied is None:
            return [item.number(self.key, self.fallback, positive=True)] * len(stages)
        given = item.number(self.key, None, minimum=0.0)  # 0: out of service (energy_productivity.py)
        values = []
        for stage in stages:
            from_file = self.supplied(self.hydro_id, stage)
            if given is not None and from_file is not None:
                raise item.error(self.key, f"is given for stage {stage} and so is its productivity in "
                                 f"{ENERGY_PRODUCTIVITY_FILE} ({from_file:g}): supply it in one of the two")
            if given is None and from_file is None:
                raise item.error(self.key, f"is required for stage {stage} (the {model} model), unless "
                                 f"{ENERGY_PRODUCTIVITY_FILE} gives the plant's productivity there")
            values.append(given if given is not None else from_file)
        return values


def _stage_ranges(
    record: Record, n_stages: int, source: _Source
) -> tuple[tuple[float, ...], tuple[str | None, ...], FittingOptions | None]:
    values: list[float] = []
    sources: list[str | None] = []
    fitting: FittingOptions | None = None
    for i, item in enumerate(record.records("stage_ranges", lambda i, _: record.entity)):
        item.prefix = f"stage_ranges[{i}]."
        start = item.integer("start_stage_id", minimum=0)
        end = item.integer("end_stage_id", None, minimum=start)
        if start != len(values):
            raise item.error(
                "start_stage_id", f"ranges must cover the stages in order without gaps; expected {len(values)}"
            )
        last = n_stages - 1 if end is None else end
        if last >= n_stages:
            raise item.error("end_stage_id", f"stage {last} is past the study's last stage ({n_stages - 1})")
        stages = range(start, last + 1)
        productivity, planes, options = _model_entry(item, source, stages)
        fitting = fitting or options
        item.finish()
        values.extend(productivity)
        sources.extend([planes] * len(stages))
    if not values:
        raise record.error("stage_ranges", "must list at least one range")
    if len(values) < n_stages:
        raise record.error("stage_ranges", f"cover stages 0..{len(values) - 1}, but the study has {n_stages}")
    return tuple(values), tuple(sources), fitting


def _model_entry(
    item: Record, source: _Source, stages: Sequence[int]
) -> tuple[list[float], str | None, FittingOptions | None]:
    """One stage range's (or season's) model over ``stages``: their productivity, FPHA planes' source and fitting
    options."""
    model = item.string("model")
    if model not in _models(source):
        raise item.refuse("model", f"the {model!r} production model")
    item.refuse_if_present("reference_volume", "a reference volume for the production model")
    key, fallback = source.key, source.fallback
    if model == FPHA:
        planes, options = _fpha_source(item)
        if item.has(key) and key == "productivity_override":
            raise item.error(key, "is not allowed on an fpha range (the planes give the generation)")
        value = item.number(key, 0.0 if fallback is MISSING else fallback, minimum=0.0)
        return [value] * len(stages), planes, options
    item.refuse_if_present("fpha_config", f"an fpha_config on a {model} range")
    return source.productivity(item, model, stages), None, None


def _models(source: _Source) -> tuple[str, ...]:
    """The models a range may name: linearized head only in 0.18 (where it is constant productivity)."""
    return (CONSTANT_PRODUCTIVITY, FPHA) if source.supplied is None else (CONSTANT_PRODUCTIVITY, LINEARIZED_HEAD, FPHA)


def _seasonal(
    record: Record, seasons: Sequence[int | None], source: _Source
) -> tuple[tuple[float, ...], tuple[str | None, ...], FittingOptions | None]:
    """0.18's ``seasonal`` mode: each stage takes the model of its season (stages.json's ``season_id``).

    A stage whose season is not listed falls to ``default_model``, which carries no productivity: Cobre 0.18.0
    reads it from system/hydro_energy_productivity.parquet, and so does caudal. A default ``fpha`` model has no
    fpha_config to say where its planes come from: refused.
    """
    default = record.string("default_model", choices=(CONSTANT_PRODUCTIVITY, LINEARIZED_HEAD, FPHA))
    items: dict[int, Record] = {}
    for i, item in enumerate(record.records("seasons", lambda i, _: record.entity)):
        item.prefix = f"seasons[{i}]."
        season = item.integer("season_id", minimum=0)
        if season in items:
            raise item.error("season_id", f"season {season} is listed twice")
        items[season] = item
    by_season = {
        season: _model_entry(item, source, [t for t, s in enumerate(seasons) if s == season])
        for season, item in items.items()
    }
    for item in items.values():
        item.finish()
    productivity: list[float] = []
    planes: list[str | None] = []
    taken = {season: 0 for season in by_season}
    for stage, season in enumerate(seasons):
        if season in by_season:
            values, plane_source, _ = by_season[season]
            productivity.append(values[taken[season]])
            taken[season] += 1
            planes.append(plane_source)
            continue
        if default == FPHA or source.supplied is None:
            raise record.refuse("default_model", f"the default model {default!r} for stage {stage} "
                                f"(season {season}, not listed in seasons)")
        value = source.supplied(source.hydro_id, stage)
        if value is None:
            raise record.error("default_model", f"is {default!r} for stage {stage} (season {season}, not listed in "
                               f"seasons), whose productivity {ENERGY_PRODUCTIVITY_FILE} does not give")
        productivity.append(value)
        planes.append(None)
    fitting = next((options for _, _, options in by_season.values() if options is not None), None)
    return tuple(productivity), tuple(planes), fitting


def _fpha_source(item: Record) -> tuple[str, FittingOptions | None]:
    """Where a range's FPHA planes come from, and how to compute them (options that precomputed planes ignore)."""
    config = item.record("fpha_config")
    source = config.string("source", choices=FPHA_SOURCES)
    options = read_fitting_options(config)
    config.finish()
    return source, options if source == "computed" else None


def missing_model(hydro_id: int) -> CaseError:
    return CaseError(
        FILE, f"hydro {hydro_id}", "production_models",
        "has no production model (the constant_productivity plant needs its productivity_mw_per_m3s)",
    )
