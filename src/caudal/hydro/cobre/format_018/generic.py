"""Generic linear constraints in the 0.18 format.

0.18 keeps ``constraints/generic_constraints.json`` but drops the ``sense``:
each row of ``constraints/generic_constraint_bounds.parquet`` gives an
interval ``[bound_lower, bound_upper]`` (either end may be null, not both)
for one stage, and for one load block when ``block_id`` is set. A row without
a block binds each block of the stage, and a block row binds its block on top
of the stage's row: both were checked against Cobre 0.18.0 runs on two-block
cases (``tests/test_cobre_generic.py``). The slack costs its penalty per unit
and hour of the block it relaxes.

The expression grammar and variables are those of 0.5.x
(:mod:`caudal.hydro.cobre.generic`). What 0.18 added to it is refused by
name: an inline relational operator, ``@name`` parameters and named
``expressions``, the ``bus=`` selector of plants split over several buses.

Each interval becomes caudal's one-sided constraints, grouped by sense and
block (an interval whose ends are equal becomes an equality): with the slack
priced per side, the optimum is the interval's.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from typing import Any

from caudal.hydro.cobre.case import GenericConstraint, StageSpec, Term
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.fields import Record, entity_name
from caudal.hydro.cobre.files import INT, CaseFiles, nullable_numbers
from caudal.hydro.cobre.generic import BOUNDS, FILE, parse_expression

ENDS = ("bound_lower", "bound_upper")
_INLINE = ("<", ">", "=")  # <=, >=, == and their typos
_BUS_SELECTOR = re.compile(r",\s*bus\s*=")


def read_generic_constraints(files: CaseFiles, stages: tuple[StageSpec, ...]) -> tuple[GenericConstraint, ...]:
    """The case's generic constraints as one-sided constraints; raises ``CaseError`` naming file and field."""
    if not files.exists(FILE):
        if files.exists(BOUNDS):
            raise CaseError(BOUNDS, None, None, f"gives bounds, but there is no {FILE}")
        return ()
    doc = files.json(FILE)
    if doc.raw("expressions", None) not in (None, []):
        raise doc.refuse("expressions", "named expressions in generic constraints")
    declared: dict[int, tuple[tuple[Term, ...], float | None]] = {}
    for record in doc.records("constraints", entity_name("constraint")):
        constraint_id = record.integer("id")
        if constraint_id in declared:
            raise record.error("id", f"constraint id {constraint_id} is used twice")
        record.string("name")
        record.string("description", None)
        declared[constraint_id] = (_terms(record), _slack_penalty(record.record("slack")))
        record.finish()
    doc.finish()
    rows = _bound_rows(files, set(declared), stages)
    grouped: dict[tuple[int, str, int | None], dict[int, float]] = defaultdict(dict)
    for (constraint_id, stage_id, block_id), (lower, upper) in sorted(rows.items(), key=_row_order):
        if lower is not None and lower == upper:
            grouped[(constraint_id, "==", block_id)][stage_id] = lower
            continue
        if lower is not None:
            grouped[(constraint_id, ">=", block_id)][stage_id] = lower
        if upper is not None:
            grouped[(constraint_id, "<=", block_id)][stage_id] = upper
    return tuple(
        GenericConstraint(constraint_id, declared[constraint_id][0], sense, declared[constraint_id][1], bounds, block)
        for (constraint_id, sense, block), bounds in sorted(grouped.items(), key=_group_order)
    )


def _terms(record: Record) -> tuple[Term, ...]:
    text = record.string("expression")
    if _BUS_SELECTOR.search(text):
        raise record.refuse("expression", "the bus= selector in generic constraints")
    if any(op in text for op in _INLINE):
        raise record.refuse("expression", f"an inline relational operator in {text!r} (give the bounds in {BOUNDS})")
    if "@" in text:
        raise record.refuse("expression", "parameters (@name) in generic constraints")
    return parse_expression(record, text)


def _slack_penalty(slack: Record) -> float | None:
    penalty = None
    if slack.boolean("enabled"):
        penalty = slack.number("penalty", positive=True)
    else:
        slack.number("penalty", None)
    slack.finish()
    return penalty


def _bound_rows(
    files: CaseFiles, ids: set[int], stages: tuple[StageSpec, ...]
) -> dict[tuple[int, int, int | None], tuple[float | None, float | None]]:
    """(constraint, stage, block or None) -> (lower, upper), each row checked."""
    if not files.exists(BOUNDS):
        return {}
    keys = files.table(BOUNDS, {"constraint_id": INT, "stage_id": INT}, read_apart=("block_id", *ENDS))
    raw = files.parquet(BOUNDS)  # block_id and the two ends are nullable: read them apart
    nullable = {name: _nullable(raw, name) for name in ("block_id", *ENDS)}
    blocks_of = {s.id: {b.id for b in s.blocks} for s in stages}
    out: dict[tuple[int, int, int | None], tuple[float | None, float | None]] = {}
    for row, (cid, sid) in enumerate(zip(keys["constraint_id"], keys["stage_id"], strict=True)):
        block = nullable["block_id"][row]
        where = f"constraint {int(cid)}, stage {int(sid)}" + ("" if block is None else f", block {block:g}")
        if int(cid) not in ids:
            raise CaseError(BOUNDS, where, "constraint_id", f"refers to constraint {int(cid)}, not in {FILE}")
        if int(sid) not in blocks_of:
            raise CaseError(BOUNDS, where, "stage_id", f"refers to stage {int(sid)}, not in stages.json")
        if block is not None and (block != int(block) or int(block) not in blocks_of[int(sid)]):
            raise CaseError(BOUNDS, where, "block_id", f"refers to block {block}, not a block of stage {int(sid)}")
        lower, upper = nullable["bound_lower"][row], nullable["bound_upper"][row]
        if lower is None and upper is None:
            raise CaseError(BOUNDS, where, "bound_lower", "and bound_upper are both null: give at least one")
        for name, value in zip(ENDS, (lower, upper), strict=True):
            if value is not None and not math.isfinite(value):
                raise CaseError(BOUNDS, where, name, f"must be finite, got {value}")
        if lower is not None and upper is not None and upper < lower:
            raise CaseError(BOUNDS, where, "bound_upper", f"is {upper}, below bound_lower {lower}")
        key = (int(cid), int(sid), None if block is None else int(block))
        if key in out:
            raise CaseError(BOUNDS, where, "stage_id", "this constraint, stage and block appear twice")
        out[key] = (lower, upper)
    return out


def _nullable(table: Any, name: str) -> list[float | None]:
    """A nullable column of the bounds table as a list, None for null (``block_id`` an integer column)."""
    if name not in table.column_names:
        raise CaseError(BOUNDS, None, name, f"column is missing (columns: {', '.join(table.column_names)})")
    return nullable_numbers(BOUNDS, table, name, integer=name == "block_id")


def _row_order(item: tuple[tuple[int, int, int | None], object]) -> tuple[int, int, int]:
    constraint_id, stage_id, block = item[0]
    return constraint_id, stage_id, -1 if block is None else block


def _group_order(item: tuple[tuple[int, str, int | None], object]) -> tuple[int, int, str]:
    constraint_id, sense, block = item[0]
    return constraint_id, -1 if block is None else block, sense
