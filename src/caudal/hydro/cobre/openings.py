"""The opening tree: standard noise per (stage, opening, random entity).

The entities are, in this order, the hydro plants by id, then the buses whose
load is random (a positive ``std_mw`` in some stage) by id: the order of
Cobre's ``noise_openings.parquet``. The tree comes from that file when the case
has one, so caudal and Cobre can be run on the very same sampled problem, and
otherwise from caudal's own generator, seeded by ``training.tree_seed``.
caudal's tree is not Cobre's (Cobre hashes its seeds with SipHash), so the
same seed gives different openings in the two engines; write caudal's tree
with :func:`write_noise_openings` to give both the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from caudal.hydro.cobre.case import Case
from caudal.hydro.cobre.correlation import correlate
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.scenarios import NOISE_OPENINGS, NoiseTable
from caudal.hydro.cobre.timeline import FILE as STAGES
from caudal.parquet_files import write_table

OPENING_TREE = 7
"""Purpose tag of the tree's random streams (apart from caudal's training streams)."""


@dataclass(frozen=True)
class NoiseEntities:
    hydros: tuple[int, ...]  # hydro ids, columns 0..H-1
    load_buses: tuple[int, ...]  # bus ids of random loads, columns H..
    sources: tuple[int, ...] = ()  # ids of stochastic non-controllable sources, after the loads (Cobre's order)

    @property
    def size(self) -> int:
        return len(self.hydros) + len(self.load_buses) + len(self.sources)

    def source_column(self, source_id: int) -> int | None:
        if source_id not in self.sources:
            return None
        return len(self.hydros) + len(self.load_buses) + self.sources.index(source_id)

    def columns(self) -> dict[tuple[str, int], int]:
        """``(kind, id)`` -> column, with correlation.json's kinds (``inflow``, ``load``, ``ncs``)."""
        keys = ([("inflow", h) for h in self.hydros] + [("load", b) for b in self.load_buses]
                + [("ncs", s) for s in self.sources])
        return {key: column for column, key in enumerate(keys)}

    def load_column(self, bus_id: int) -> int | None:
        if bus_id not in self.load_buses:
            return None
        return len(self.hydros) + self.load_buses.index(bus_id)


def noise_entities(case: Case) -> NoiseEntities:
    random_loads = sorted(
        bus.id for bus in case.buses if any(case.load_stats.std.get((bus.id, s.id), 0.0) > 0 for s in case.stages)
    )
    random_sources = sorted({source for source, _ in case.source_noise})
    return NoiseEntities(tuple(sorted(h.id for h in case.hydros)), tuple(random_loads), tuple(random_sources))


def generate_noise(case: Case, seed: int) -> list[np.ndarray]:
    """caudal's tree: standard normals, one stream per stage keyed by (seed, stage), correlated as the case says.

    Stages of one noise group (:func:`noise_groups`) share the first one's openings, as in Cobre's trees.
    """
    entities = noise_entities(case)
    first_of_group = noise_groups(case)
    trees: list[np.ndarray] = []
    for t, stage in enumerate(case.stages):
        first = first_of_group[t]
        if first != t:
            trees.append(trees[first].copy())
            continue
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), OPENING_TREE, t]))
        trees.append(correlated(case, stage.id, entities, rng.standard_normal((stage.openings, entities.size))))
    return trees


def noise_groups(case: Case) -> list[int]:
    """Per stage, the first stage of its noise group (itself when alone).

    Cobre gives stages of one season that start in one year one noise (its
    ``precompute_noise_groups``: weekly stages of a month under monthly
    seasons): the trees Cobre exports repeat the group's first openings on
    every stage of the group (d28's five weeks, measured), so caudal's tree
    does too. They must have as many openings.
    """
    first: dict[tuple[int, int], int] = {}
    out = []
    for t, stage in enumerate(case.stages):
        if stage.season_id is None:
            out.append(t)
            continue
        key = (stage.season_id, stage.start.year)
        leader = first.setdefault(key, t)
        if case.stages[leader].openings != stage.openings:
            raise CaseError(STAGES, f"stage {stage.id}", "num_scenarios",
                            f"is {stage.openings}, but stage {case.stages[leader].id} of the same season and year "
                            f"(one noise group: they share their openings) has {case.stages[leader].openings}")
        out.append(leader)
    return out


def correlated(case: Case, stage_id: int, entities: NoiseEntities, noise: np.ndarray) -> np.ndarray:
    """``noise`` (independent standard normals, float64[draws, entities]) with the stage's correlation applied."""
    if case.correlation is not None:
        correlate(noise, case.correlation.groups(stage_id), entities.columns())
    return noise


def noise_from_table(case: Case, table: NoiseTable) -> list[np.ndarray]:
    """The tree of ``noise_openings.parquet``, checked against the case's stages and entities."""
    dim = noise_entities(case).size
    n_stages = len(case.stages)
    bad = (table.stage < 0) | (table.stage >= n_stages)
    if bad.any():
        raise CaseError(NOISE_OPENINGS, None, "stage_id", f"stage {int(table.stage[bad][0])} is not a study stage")
    if (table.entity < 0).any() or (table.entity >= dim).any():
        raise CaseError(
            NOISE_OPENINGS, None, "entity_index",
            f"must be 0..{dim - 1} ({len(case.hydros)} hydros, then the random loads and stochastic sources)",
        )
    trees = []
    for t, stage in enumerate(case.stages):
        rows = table.stage == t
        openings, entities, values = table.opening[rows], table.entity[rows], table.value[rows]
        if (openings < 0).any() or (openings >= stage.openings).any() or rows.sum() != stage.openings * dim:
            raise CaseError(
                NOISE_OPENINGS, f"stage {stage.id}", "opening_index",
                f"needs openings 0..{stage.openings - 1} (num_scenarios in stages.json) for each of {dim} "
                f"entities, {stage.openings * dim} rows; got {int(rows.sum())}",
            )
        tree = np.full((stage.openings, dim), np.nan)
        tree[openings, entities] = values
        if np.isnan(tree).any():
            raise CaseError(NOISE_OPENINGS, f"stage {stage.id}", "opening_index", "has repeated (opening, entity) rows")
        trees.append(tree)
    return trees


def write_noise_openings(path: str | Path, noise: list[np.ndarray]) -> None:
    """Write a tree in the schema of ``noise_openings.parquet`` (which Cobre reads too)."""
    import pyarrow as pa

    stage, opening, entity, value = [], [], [], []
    for t, tree in enumerate(noise):
        n_open, dim = tree.shape
        stage.append(np.full(n_open * dim, t, dtype=np.int32))
        opening.append(np.repeat(np.arange(n_open, dtype=np.uint32), dim))
        entity.append(np.tile(np.arange(dim, dtype=np.uint32), n_open))
        value.append(tree.reshape(-1))
    schema = pa.schema(
        [
            pa.field("stage_id", pa.int32(), nullable=False),
            pa.field("opening_index", pa.uint32(), nullable=False),
            pa.field("entity_index", pa.uint32(), nullable=False),
            pa.field("value", pa.float64(), nullable=False),
        ]
    )
    columns = [np.concatenate(c) for c in (stage, opening, entity, value)]
    table = pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Zstandard, like Cobre's own files: Cobre 0.5.1 is built without Snappy, pyarrow's default codec.
    write_table(table, str(path), compression="zstd")
