"""``system/hydro_production_models.json``: each plant's productivity, stage by stage.

Both formats map stage ranges to a production model; caudal models constant
productivity only, so it reads, for every plant listed, one productivity per
study stage: the range's own value (``productivity_override`` in 0.5.x, where
it defaults to the plant's ``productivity_mw_per_m3s``;
``productivity_mw_per_m3s`` in 0.18, where it is required). The ranges must
cover the study in order without gaps. 0.18's ``seasonal`` mode maps each
stage to its season's model instead. Linearized-head models are refused by name.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    seasons: Sequence[int | None] | None = None,
) -> dict[int, ProductionModel]:
    """The file's models by hydro id; ``key`` names the range's productivity, ``default`` its fallback by plant.

    ``seasons`` (each stage's season id) allows the ``seasonal`` selection mode (0.18); without it it is refused.
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
        if mode == "stage_ranges":
            models[hydro_id] = ProductionModel(record, *_stage_ranges(record, n_stages, key, fallback))
        else:
            models[hydro_id] = ProductionModel(record, *_seasonal(record, seasons, key))
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


def _stage_ranges(
    record: Record, n_stages: int, key: str, fallback: object
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
        value, source, options = _model_entry(item, key, fallback)
        fitting = fitting or options
        item.finish()
        last = n_stages - 1 if end is None else end
        if last >= n_stages:
            raise item.error("end_stage_id", f"stage {last} is past the study's last stage ({n_stages - 1})")
        values.extend([value] * (last - start + 1))
        sources.extend([source] * (last - start + 1))
    if not values:
        raise record.error("stage_ranges", "must list at least one range")
    if len(values) < n_stages:
        raise record.error("stage_ranges", f"cover stages 0..{len(values) - 1}, but the study has {n_stages}")
    return tuple(values), tuple(sources), fitting


def _model_entry(item: Record, key: str, fallback: object) -> tuple[float, str | None, FittingOptions | None]:
    """One stage range's (or season's) model: its productivity, FPHA planes' source and fitting options."""
    model = item.string("model")
    if model not in (CONSTANT_PRODUCTIVITY, FPHA):
        raise item.refuse("model", f"the {model!r} production model")
    item.refuse_if_present("reference_volume", "a reference volume for the production model")
    if model == FPHA:
        source, options = _fpha_source(item)
        if item.has(key) and key == "productivity_override":
            raise item.error(key, "is not allowed on an fpha range (the planes give the generation)")
        return item.number(key, 0.0 if fallback is MISSING else fallback, minimum=0.0), source, options
    item.refuse_if_present("fpha_config", "an fpha_config on a constant_productivity range")
    return item.number(key, fallback, positive=True), None, None


def _seasonal(
    record: Record, seasons: Sequence[int | None], key: str
) -> tuple[tuple[float, ...], tuple[str | None, ...], FittingOptions | None]:
    """0.18's ``seasonal`` mode: each stage takes the model of its season (stages.json's ``season_id``).

    A stage whose season is not listed falls to ``default_model``, which carries no productivity (Cobre
    0.18.0 then reads it from system/hydro_energy_productivity.parquet, which caudal refuses): refused.
    """
    default = record.string("default_model", choices=(CONSTANT_PRODUCTIVITY, LINEARIZED_HEAD, FPHA))
    by_season: dict[int, tuple[float, str | None, FittingOptions | None]] = {}
    for i, item in enumerate(record.records("seasons", lambda i, _: record.entity)):
        item.prefix = f"seasons[{i}]."
        season = item.integer("season_id", minimum=0)
        if season in by_season:
            raise item.error("season_id", f"season {season} is listed twice")
        by_season[season] = _model_entry(item, key, MISSING)
        item.finish()
    entries = []
    for stage, season in enumerate(seasons):
        if season not in by_season:
            raise record.refuse("default_model", f"the default model {default!r} for stage {stage} "
                                f"(season {season}, not listed in seasons)")
        entries.append(by_season[season])
    fitting = next((options for _, _, options in entries if options is not None), None)
    return tuple(e[0] for e in entries), tuple(e[1] for e in entries), fitting


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
