"""Water withdrawals: ``constraints/hydro_bounds.parquet``'s ``water_withdrawal_m3s`` and its penalties.

A withdrawal takes a flow (m3/s) out of a plant's reservoir over the whole
stage. The LP may withdraw less, or more, than the target, each at its
violation cost per m3/s and hour (``water_withdrawal_violation_neg_cost`` and
``_pos_cost``, both defaulting to ``water_withdrawal_violation_cost``;
``penalties.json``'s ``hydro`` section, overridden by the plant's
``penalties``), which is how Cobre prices them (checked against Cobre 0.18.0
runs). The storage, flow and generation limits of the same file are left to
hydro_limits.py (``read_apart``); its other columns (diversion, filling) are
refused by name when they hold a value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caudal.hydro.cobre.errors import CaseError, unsupported
from caudal.hydro.cobre.fields import Record
from caudal.hydro.cobre.files import FLOAT, INT, CaseFiles
from caudal.hydro.cobre.system import HYDROS, PENALTIES
from caudal.parquet_files import null_count

FILE = "constraints/hydro_bounds.parquet"
WITHDRAWAL = "water_withdrawal_m3s"
KEYS = ("hydro_id", "stage_id")
SYMMETRIC = "water_withdrawal_violation_cost"
BELOW = "water_withdrawal_violation_neg_cost"  # withdrawing less than the target
ABOVE = "water_withdrawal_violation_pos_cost"  # withdrawing more


@dataclass(frozen=True)
class Withdrawals:
    targets: dict[tuple[int, int], float]  # (hydro id, stage id) -> m3/s
    default_costs: tuple[float, float]  # (below, above) per m3/s and hour, from penalties.json
    plant_costs: dict[int, tuple[float, float]]  # hydro id -> its own, where its penalties give them

    def costs(self, hydro_id: int) -> tuple[float, float]:
        return self.plant_costs.get(hydro_id, self.default_costs)

    def costs_of_withdrawing_plants(self) -> dict[int, tuple[float, float]]:
        """The (below, above) costs of each plant with a withdrawal target: the only ones the LP prices."""
        return {hydro_id: self.costs(hydro_id) for hydro_id in sorted({hydro for hydro, _ in self.targets})}


def read_withdrawals(files: CaseFiles, stage_ids: set[int], read_apart: tuple[str, ...] = ()) -> Withdrawals:
    """The withdrawals; ``read_apart`` names hydro_bounds columns another reader reads (0.18's outflow bounds)."""
    default = _costs(Record(PENALTIES, None, _section(files.json(PENALTIES).data, "hydro"), "hydro."), None)
    costs: dict[int, tuple[float, float]] = {}
    hydros = files.json(HYDROS).data.get("hydros")
    for item in hydros if isinstance(hydros, list) else []:
        if isinstance(item, dict) and isinstance(item.get("id"), int) and isinstance(item.get("penalties"), dict):
            plant = Record(HYDROS, f"hydro {item['id']}", item["penalties"], "penalties.")
            costs[item["id"]] = _costs(plant, default)
    return Withdrawals(_targets(files, stage_ids, read_apart), default, costs)


def _section(data: object, key: str) -> object:
    return data.get(key, {}) if isinstance(data, dict) else {}


def _costs(record: Record, fallback: tuple[float, float] | None) -> tuple[float, float]:
    symmetric = record.number(SYMMETRIC, None, minimum=0.0)
    below_default = symmetric if symmetric is not None else (fallback[0] if fallback else 0.0)
    above_default = symmetric if symmetric is not None else (fallback[1] if fallback else 0.0)
    return (record.number(BELOW, below_default, minimum=0.0), record.number(ABOVE, above_default, minimum=0.0))


def _targets(files: CaseFiles, stage_ids: set[int], read_apart: tuple[str, ...]) -> dict[tuple[int, int], float]:
    if not files.exists(FILE):
        return {}
    table = files.parquet(FILE)
    names = table.column_names
    for name in names:
        if name not in (*KEYS, WITHDRAWAL, *read_apart) and null_count(table.column(name)) < table.num_rows:
            raise unsupported(FILE, None, name, f"the column {name!r} (diversion and filling bounds are not modelled)")
    if not read_apart:
        columns = files.table(FILE, {"hydro_id": INT, "stage_id": INT, WITHDRAWAL: FLOAT})
        rows = zip(columns["hydro_id"], columns["stage_id"], columns[WITHDRAWAL], [None] * table.num_rows, strict=True)
    else:  # rows of other bounds leave the withdrawal null; a withdrawal is stage-level (no block_id)
        empty = tuple(name for name in names if null_count(table.column(name)) == table.num_rows)
        columns = files.table(FILE, {"hydro_id": INT, "stage_id": INT}, read_apart=(WITHDRAWAL, *read_apart, *empty))
        flows = table.column(WITHDRAWAL).to_pylist() if WITHDRAWAL in names else [None] * table.num_rows
        blocks = table.column("block_id").to_pylist() if "block_id" in names else [None] * table.num_rows
        rows = zip(columns["hydro_id"], columns["stage_id"], flows, blocks, strict=True)
    targets: dict[tuple[int, int], float] = {}
    for hydro_id, stage_id, flow, block in rows:
        if flow is None:
            continue
        key = (int(hydro_id), int(stage_id))
        if block is not None:
            raise unsupported(FILE, f"hydro {key[0]}, stage {key[1]}", "block_id", "a per-block water withdrawal")
        where = f"hydro {key[0]}, stage {key[1]}"
        if key in targets:
            raise CaseError(FILE, where, "stage_id", f"stage {key[1]} appears twice")
        if key[1] not in stage_ids:
            raise CaseError(FILE, where, "stage_id", f"refers to stage {key[1]}, not in stages.json")
        if not np.isfinite(flow) or flow < 0:
            raise CaseError(FILE, where, WITHDRAWAL, f"must be non-negative, got {flow:g}")
        targets[key] = float(flow)
    return targets


def check_hydros(withdrawals: Withdrawals, hydro_ids: set[int]) -> None:
    for hydro_id, stage_id in withdrawals.targets:
        if hydro_id not in hydro_ids:
            raise CaseError(
                FILE, f"hydro {hydro_id}, stage {stage_id}", "hydro_id",
                f"refers to hydro {hydro_id}, which is not defined in {HYDROS}",
            )
