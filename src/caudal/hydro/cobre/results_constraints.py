"""Simulation tables of the operational constraints: sources, generic-constraint slacks, withdrawals.

Companions of :mod:`caudal.hydro.cobre.results`, with Cobre's names and
meanings (its output format's ``non_controllables`` and
``violations/generic`` tables, and the hydro table's withdrawal columns):

* ``non_controllables``: per (scenario, stage, block, source) the generation,
  what was available and what was curtailed (MW and MWh), and the curtailment
  priced at the source's cost.
* ``generic_violations``: per (scenario, stage, block, constraint) with a slack
  in that block, the slack's value (both sides added) and its cost, in the
  stage's money. Zero means the constraint held.
* withdrawal columns for the ``hydros`` table: what was withdrawn and how far
  below and above the target, per stage (repeated over its blocks).

The columns are found by the names the formulation gives them (``source[id,k]``,
``generic_slack[id,block]±``, ``withdrawal_below[id]``, ``withdrawal_above[id]``),
once per stage, so no per-scenario Python work is done.
"""

from __future__ import annotations

import re

import numpy as np

from caudal.hydro.cobre.sources import opening_availability
from caudal.hydro.cobre.study import CobreStudy

Table = dict[str, np.ndarray]
_GENERIC_SLACK = re.compile(r"generic_slack\[(-?\d+),(-?\d+)\][+-]$")


def non_controllables(study: CobreStudy, names: tuple[str, ...], x: np.ndarray, t: int,
                      openings: np.ndarray | None = None) -> Table:
    """The sources' table of stage ``t`` (``names``: the stage's column names, ``x``: values [S, columns]).

    ``openings`` (int[S]) says which opening each scenario took, for the availability of stochastic sources.
    """
    case, spec = study.case, study.case.stages[t]
    sources, blocks = case.sources, spec.blocks
    n = x.shape[0]
    column = {name: j for j, name in enumerate(names) if name.startswith("source[")}
    cols = np.array([[column[f"source[{s.id},{k}]"] for s in sources] for k in range(len(blocks))], dtype=np.int64)
    shape = (n, len(blocks), len(sources))
    generation = x[:, cols.reshape(-1)].reshape(shape) if sources else np.zeros(shape)
    available = np.zeros((n, 1, len(sources)))
    for j, source in enumerate(sources):
        column = study.entities.source_column(source.id)
        noise = None if column is None or openings is None else study.noise[t][openings, column]
        available[:, 0, j] = opening_availability(case, source, spec.id, noise)
    hours = np.array([b.hours for b in blocks])[None, :, None]
    cost = np.array([case.bound("source.curtailment_cost", s.id, spec.id, None, s.curtailment_cost)
                     for s in sources])[None, None, :]  # stage penalty overrides
    curtailed = np.maximum(available - generation, 0.0)
    return {
        **_keys(n, spec.id, [b.id for b in blocks], [s.id for s in sources], "non_controllable_id"),
        "generation_mw": _flat(generation),
        "generation_mwh": _flat(generation * hours),
        "available_mw": _flat(np.broadcast_to(available, generation.shape)),
        "curtailment_mw": _flat(curtailed),
        "curtailment_mwh": _flat(curtailed * hours),
        "curtailment_cost": _flat(curtailed * hours * cost),
    }


def generic_violations(study: CobreStudy, names: tuple[str, ...], col_cost: np.ndarray, x: np.ndarray,
                       t: int) -> Table:
    """The generic-constraint slacks of stage ``t``: one row per scenario and (constraint, block) with a slack."""
    spec = study.case.stages[t]
    groups: dict[tuple[int, int], list[int]] = {}
    for j, name in enumerate(names):
        match = _GENERIC_SLACK.match(name)
        if match is not None:
            groups.setdefault((int(match.group(1)), int(match.group(2))), []).append(j)
    keys = sorted(groups, key=lambda key: (key[1], key[0]))  # block, then constraint
    n = x.shape[0]
    value = np.zeros((n, len(keys)))
    cost = np.zeros((n, len(keys)))
    for i, key in enumerate(keys):
        cols = np.array(groups[key], dtype=np.int64)
        value[:, i] = x[:, cols].sum(axis=1)
        cost[:, i] = x[:, cols] @ col_cost[cols]
    return {
        "scenario_id": np.repeat(np.arange(n, dtype=np.int32), len(keys)),
        "stage_id": np.full(n * len(keys), spec.id, np.int32),
        "block_id": np.tile(np.array([k[1] for k in keys], dtype=np.int32), n),
        "constraint_id": np.tile(np.array([k[0] for k in keys], dtype=np.int32), n),
        "slack_value": value.reshape(-1),
        "slack_cost": cost.reshape(-1),
    }


def withdrawal_columns(study: CobreStudy, names: tuple[str, ...], x: np.ndarray, t: int) -> Table:
    """Columns for the hydros table of stage ``t`` (rows: scenario, block, hydro)."""
    case, spec = study.case, study.case.stages[t]
    n, n_blocks = x.shape[0], len(spec.blocks)
    column = {name: j for j, name in enumerate(names) if name.startswith("withdrawal_")}
    below, above = (np.zeros((n, len(case.hydros))) for _ in range(2))
    target = np.array([case.withdrawals.get((h.id, spec.id), 0.0) for h in case.hydros])
    for h, hydro in enumerate(case.hydros):
        if f"withdrawal_below[{hydro.id}]" in column:
            below[:, h] = x[:, column[f"withdrawal_below[{hydro.id}]"]]
            above[:, h] = x[:, column[f"withdrawal_above[{hydro.id}]"]]

    def per_block(values: np.ndarray) -> np.ndarray:
        return _flat(np.repeat(values[:, None, :], n_blocks, axis=1))

    return {
        "water_withdrawal_m3s": per_block(target[None, :] - below + above),
        "water_withdrawal_violation_neg_m3s": per_block(below),
        "water_withdrawal_violation_pos_m3s": per_block(above),
    }


def _keys(n: int, stage_id: int, blocks: list[int], ids: list[int], entity: str) -> Table:
    """Key columns of a (scenario, block, entity) table, scenario-major."""
    return {
        "scenario_id": np.repeat(np.arange(n, dtype=np.int32), len(blocks) * len(ids)),
        "stage_id": np.full(n * len(blocks) * len(ids), stage_id, np.int32),
        "block_id": np.tile(np.repeat(np.array(blocks, dtype=np.int32), len(ids)), n),
        entity: np.tile(np.array(ids, dtype=np.int32), n * len(blocks)),
    }


def _flat(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values).reshape(-1)
