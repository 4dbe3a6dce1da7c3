"""Spatially correlated noise: ``scenarios/correlation.json`` (both formats).

A case may correlate the standard noise of some of its random entities (hydro
inflows, bus loads, non-controllable sources): named *profiles*, each a list
of groups of entities of one kind with their correlation matrix, and a
*schedule* giving stages a profile. A stage without a schedule entry takes the
profile named ``default``, or the only profile when there is one (Cobre 0.5.1's
rule, from its source: several profiles without a ``default`` are an error).
Cobre applies the correlation to the standard normals of its opening tree
(measured: the tree Cobre 0.5.1 exports for 4ree with a three-hydro group has
those correlations, to sampling error), so caudal does the same to its own
tree and to its out-of-sample forward noise. A tree read from
``noise_openings.parquet`` is taken as it is: it was drawn correlated.

Each group's noise ``z`` (independent standard normals, one per entity)
becomes ``S z``, ``S`` the positive semidefinite square root of the matrix
(from its eigendecomposition, Cobre's ``spectral`` method; unique, so the
same bits whatever the eigensolver's choice of eigenvector signs). Any square
root gives the same distribution; ``cholesky`` (0.5.x) is accepted and
served by the same one, since caudal's draws are not Cobre's anyway. A matrix
that is not a correlation matrix (not square and symmetric to 1e-10, a
diagonal that is not 1, entries outside [-1, 1], a negative eigenvalue) is an
error naming the group. An entity whose noise the case does not draw (a bus
whose load has no deviation in any stage) leaves the group: the others keep
the matrix's correlations among themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.files import CaseFiles

FILE = "scenarios/correlation.json"
KINDS = ("inflow", "load", "ncs")
DEFAULT_PROFILE = "default"
_SYMMETRY = 1e-10  # as the format states
_NEGATIVE_EIGENVALUE = 1e-9


@dataclass(frozen=True)
class CorrelationGroup:
    """Entities of one kind, ``(kind, id)`` in matrix order, and their correlation matrix."""

    name: str
    entities: tuple[tuple[str, int], ...]
    matrix: np.ndarray


@dataclass(frozen=True)
class Correlation:
    """The profiles of ``correlation.json`` and the profile each study stage takes."""

    profiles: dict[str, tuple[CorrelationGroup, ...]]
    profile_of_stage: dict[int, str]  # every study stage id

    def groups(self, stage_id: int) -> tuple[CorrelationGroup, ...]:
        return self.profiles[self.profile_of_stage[stage_id]]


def read_correlation(
    files: CaseFiles, stage_ids: list[int], methods: tuple[str, ...], pre_study_ids: tuple[int, ...] = ()
) -> Correlation | None:
    """The case's correlation model (``None`` without the file); ``methods``: the format's accepted ``method``.

    A schedule entry may name a pre-study stage (Cobre's own exported
    ``correlation.json`` does): no noise is drawn there, so it changes nothing.
    """
    if not files.exists(FILE):
        return None
    doc = files.json(FILE)
    doc.string("method", methods[0], choices=methods)
    profiles_raw = doc.raw("profiles")
    if not isinstance(profiles_raw, dict) or not profiles_raw:
        raise doc.error("profiles", "must be a non-empty object of named profiles")
    profiles = {}
    for name, raw in profiles_raw.items():
        if not isinstance(raw, dict):
            raise doc.error("profiles", f"profile {name!r} must be an object holding correlation_groups")
        profile = Record(FILE, f"profile {name!r}", raw, f"profiles.{name}.")
        groups = tuple(_group(group) for group in profile.records("correlation_groups", _group_name))
        profile.finish()
        _check_disjoint(name, groups)
        profiles[name] = groups
    default = DEFAULT_PROFILE if DEFAULT_PROFILE in profiles else next(iter(profiles)) if len(profiles) == 1 else None
    schedule: dict[int, str] = {}
    for i, entry in enumerate(doc.array("schedule", [])):
        record = Record(FILE, None, entry, f"schedule[{i}].")
        stage, name = record.integer("stage_id", None), record.string("profile_name", None)
        for key, value in (("stage_id", stage), ("profile_name", name)):
            if value is None:
                raise record.error(key, "is required")
        record.finish()
        if stage not in stage_ids and stage not in pre_study_ids:
            raise record.error("stage_id", f"refers to stage {stage}, not a study or pre-study stage")
        if name not in profiles:
            raise record.error("profile_name", f"refers to profile {name!r}, which is not defined")
        if stage in schedule:
            raise record.error("stage_id", f"stage {stage} is scheduled twice")
        schedule[stage] = name
    doc.finish()
    unscheduled = [s for s in stage_ids if s not in schedule]
    if unscheduled and default is None:
        raise doc.error("profiles", f"stage {unscheduled[0]} has no schedule entry and there are several profiles, "
                        f"none named {DEFAULT_PROFILE!r}")
    return Correlation(profiles, {s: schedule.get(s, default) for s in stage_ids})  # pre-study entries dropped


def _group_name(index: int, item: object) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return f"correlation group {name!r}" if isinstance(name, str) else f"correlation group #{index}"


def _group(record: Record) -> CorrelationGroup:
    # Every field present is type-checked before a missing one is reported, so an error names the bad field.
    name = record.string("name", None)
    entities = [_entity(Record(FILE, record.entity, raw, f"entities[{i}]."))
                for i, raw in enumerate(record.array("entities", None) or [])]
    rows = record.array("matrix", None)
    for key, value in (("name", name), ("entities", entities or None), ("matrix", rows)):
        if value is None:
            raise record.error(key, "is required" if key != "entities" or "entities" not in record.data else "is empty")
    if len({kind for kind, _ in entities}) > 1:
        raise record.error("entities", "mixes entity types (a group holds inflows, loads or sources, not several)")
    if len(set(entities)) < len(entities):
        raise record.error("entities", "names an entity twice")
    matrix = _matrix(record, rows, len(entities))
    record.finish()
    return CorrelationGroup(name, tuple(entities), matrix)


def _entity(record: Record) -> tuple[str, int]:
    kind, entity_id = record.string("type", None, choices=KINDS), record.integer("id", None)
    for key, value in (("type", kind), ("id", entity_id)):
        if value is None:
            raise record.error(key, "is required")
    record.finish()
    return kind, entity_id


def _matrix(record: Record, rows: list, size: int) -> np.ndarray:
    if len(rows) != size or any(not isinstance(row, list) or len(row) != size for row in rows):
        raise record.error("matrix", f"must be {size} x {size}, one row and column per entity")
    values = []
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
                raise record.error(f"matrix[{i}][{j}]", f"must be a finite number, got {value!r}")
            values.append(float(value))
    matrix = np.array(values).reshape(size, size)
    if np.any(np.diag(matrix) != 1.0):
        raise record.error("matrix", "must have 1.0 on its diagonal")
    if np.any(np.abs(matrix) > 1.0):
        raise record.error("matrix", "has an entry outside [-1, 1]")
    if np.any(np.abs(matrix - matrix.T) > _SYMMETRY):
        raise record.error("matrix", f"must be symmetric (to {_SYMMETRY:g})")
    smallest = float(np.linalg.eigvalsh((matrix + matrix.T) / 2).min())
    if smallest < -_NEGATIVE_EIGENVALUE * size:
        raise record.error("matrix", f"is not a correlation matrix: an eigenvalue is {smallest:.3g} (negative)")
    return matrix


def _check_disjoint(profile: str, groups: tuple[CorrelationGroup, ...]) -> None:
    seen: dict[tuple[str, int], str] = {}
    for group in groups:
        for entity in group.entities:
            if entity in seen:
                raise CaseError(FILE, f"profile {profile!r}", "correlation_groups",
                                f"{entity[0]} {entity[1]} is in groups {seen[entity]!r} and {group.name!r}")
            seen[entity] = group.name


def check_entities(correlation: Correlation, known: dict[str, set[int]]) -> None:
    """Refuse an entity the case does not define (``known``: kind -> ids of the case's plants, buses, sources)."""
    for name, groups in correlation.profiles.items():
        for group in groups:
            for i, (kind, entity_id) in enumerate(group.entities):
                if entity_id not in known[kind]:
                    raise CaseError(FILE, f"profile {name!r}, correlation group {group.name!r}", f"entities[{i}].id",
                                    f"refers to {kind} {entity_id}, which the case does not define")


def correlate(noise: np.ndarray, groups: tuple[CorrelationGroup, ...], columns: dict[tuple[str, int], int]) -> None:
    """Correlate ``noise`` (float64[draws, entities], independent standard normals) in place, group by group.

    ``columns`` maps ``(kind, id)`` to the noise column of each random entity;
    entities without a column leave their group (see the module docstring).
    """
    for group in groups:
        kept = [k for k, entity in enumerate(group.entities) if entity in columns]
        if len(kept) < 2:
            continue
        cols = [columns[group.entities[k]] for k in kept]
        noise[:, cols] = noise[:, cols] @ square_root(group.matrix[np.ix_(kept, kept)])


def square_root(matrix: np.ndarray) -> np.ndarray:
    """The positive semidefinite square root of a correlation matrix (symmetric, so ``z @ S`` is ``S z``)."""
    eigenvalues, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T
