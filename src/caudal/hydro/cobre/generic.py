"""Generic linear constraints (0.5.x): ``constraints/generic_constraints.json`` and their bounds.

Each constraint is a linear expression over the stage's variables, a sense
and a right-hand side per stage (``generic_constraint_bounds.parquet``; a
stage without a row has no such constraint), optionally with a slack priced
per unit and hour. The expression grammar is ``term (('+' | '-') term)*`` with
``term ::= [number '*'] name '(' entity_id [',' block_id] ')'``. caudal reads
the variables whose meaning is unambiguous in its formulation (thermal
generation, hydro turbined flow, spillage and generation, line flows in each
direction); other variables are refused by name.

On a stage of several load blocks, a row without ``block_id`` binds each
block and a row with one binds its block on top of the stage's row; the slack
costs its penalty per unit and hour of the block it relaxes. This is what
Cobre 0.5.1 does, measured on nine two-block variants of d13
(``tests/test_cobre_generic_blocks_05.py``), and the same rule as 0.18's
(:mod:`caudal.hydro.cobre.format_018.generic`).
"""

from __future__ import annotations

import math
import re

from caudal.hydro.cobre.case import GenericConstraint, StageSpec, Term
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.fields import Record, entity_name
from caudal.hydro.cobre.files import FLOAT, INT, CaseFiles
from caudal.parquet_files import is_integer, is_null, type_name

FILE = "constraints/generic_constraints.json"
BOUNDS = "constraints/generic_constraint_bounds.parquet"
VARIABLES = {
    "thermal_generation": "thermal",
    "hydro_turbined": "hydro",
    "hydro_spillage": "hydro",
    "hydro_generation": "hydro",
    "line_direct": "line",
    "line_reverse": "line",
}
SENSES = ("<=", ">=", "==")
_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_]\w*)|(?P<op>[-+*(),]))"
)


def read_generic_constraints(files: CaseFiles, stages: tuple[StageSpec, ...]) -> tuple[GenericConstraint, ...]:
    if not files.exists(FILE):
        if files.exists(BOUNDS):
            raise CaseError(BOUNDS, None, None, f"gives bounds, but there is no {FILE}")
        return ()
    doc = files.json(FILE)
    parsed = []
    seen: set[int] = set()
    for record in doc.records("constraints", entity_name("constraint")):
        constraint_id = record.integer("id")
        if constraint_id in seen:
            raise record.error("id", f"constraint id {constraint_id} is used twice")
        seen.add(constraint_id)
        record.string("name")
        record.string("description", None)
        terms = parse_expression(record, record.string("expression"))
        sense = record.string("sense", choices=SENSES)
        slack = record.record("slack")
        penalty = None
        if slack.boolean("enabled"):
            penalty = slack.number("penalty", positive=True)
        else:
            slack.number("penalty", None)
        slack.finish()
        record.finish()
        parsed.append((constraint_id, terms, sense, penalty))
    doc.finish()
    bounds = _bounds(files, seen, stages)
    blocks_of = {cid: sorted({block for c, block in bounds if c == cid}, key=lambda b: -1 if b is None else b)
                 for cid in seen}
    return tuple(
        GenericConstraint(cid, terms, sense, penalty, bounds.get((cid, block), {}), block)
        for cid, terms, sense, penalty in parsed
        for block in (blocks_of[cid] or [None])
    )


def parse_expression(record: Record, text: str) -> tuple[Term, ...]:
    """The terms of ``record``'s expression ``text``; errors and refusals name the field ``expression``."""
    tokens = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise record.error("expression", f"cannot read {text[position:]!r} (at character {position})")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    terms: list[Term] = []
    i = 0

    def expect(kind: str, value: str | None = None) -> str:
        nonlocal i
        if i >= len(tokens) or tokens[i][0] != kind or (value is not None and tokens[i][1] != value):
            found = tokens[i][1] if i < len(tokens) else "the end"
            raise record.error("expression", f"expected {value or kind} in {text!r}, found {found!r}")
        i += 1
        return tokens[i - 1][1]

    while True:
        sign = 1.0
        if i < len(tokens) and tokens[i] in (("op", "+"), ("op", "-")):
            sign = -1.0 if tokens[i][1] == "-" else 1.0
            i += 1
        coefficient = 1.0
        if i < len(tokens) and tokens[i][0] == "number":
            coefficient = float(expect("number"))
            expect("op", "*")
        name = expect("name")
        if name not in VARIABLES:
            raise record.refuse("expression", f"the variable {name!r} in generic constraints")
        expect("op", "(")
        entity_text = expect("number")
        if not entity_text.isdigit():
            raise record.error("expression", f"entity ids are integers, got {entity_text!r} in {text!r}")
        entity = int(entity_text)
        if i < len(tokens) and tokens[i] == ("op", ","):
            raise record.refuse("expression", "block-specific variables in generic constraints")
        expect("op", ")")
        terms.append(Term(name, entity, sign * coefficient))
        if i == len(tokens):
            return tuple(terms)
        if tokens[i] not in (("op", "+"), ("op", "-")):
            raise record.error("expression", f"expected '+' or '-' in {text!r}, found {tokens[i][1]!r}")


def _bounds(
    files: CaseFiles, ids: set[int], stages: tuple[StageSpec, ...]
) -> dict[tuple[int, int | None], dict[int, float]]:
    """(constraint, block or None) -> {stage: right-hand side}, each row checked."""
    if not files.exists(BOUNDS):
        return {}
    table = files.table(BOUNDS, {"constraint_id": INT, "stage_id": INT, "bound": FLOAT}, read_apart=("block_id",))
    raw = files.parquet(BOUNDS)  # block_id is nullable: read it apart
    column = raw.column("block_id") if "block_id" in raw.column_names else None
    if column is not None and not (is_integer(column) or is_null(column)):
        raise CaseError(BOUNDS, None, "block_id", f"must be an integer column, got {type_name(column)}")
    blocks = column.to_pylist() if column is not None else None
    stage_of = {s.id: s for s in stages}
    out: dict[tuple[int, int | None], dict[int, float]] = {}
    for row, (cid, sid, bound) in enumerate(zip(table["constraint_id"], table["stage_id"], table["bound"],
                                                 strict=True)):
        key = (int(cid), int(sid))
        block = blocks[row] if blocks is not None else None
        where = f"constraint {key[0]}, stage {key[1]}" + ("" if block is None else f", block {block}")
        if key[0] not in ids:
            raise CaseError(BOUNDS, where, "constraint_id", f"refers to constraint {key[0]}, not in {FILE}")
        if key[1] not in stage_of:
            raise CaseError(BOUNDS, where, "stage_id", f"refers to stage {key[1]}, not in stages.json")
        if block is not None and block not in {b.id for b in stage_of[key[1]].blocks}:
            raise CaseError(BOUNDS, where, "block_id", f"refers to block {block}, not a block of stage {key[1]}")
        if key[1] in out.setdefault((key[0], block), {}):
            raise CaseError(BOUNDS, where, "stage_id", f"stage {key[1]} appears twice"
                            + ("" if block is None else f" for block {block}"))
        if not math.isfinite(bound):
            raise CaseError(BOUNDS, where, "bound", f"must be finite, got {bound}")
        out[(key[0], block)][key[1]] = float(bound)
    return out


def check_entities(constraints: tuple[GenericConstraint, ...], ids: dict[str, set[int]]) -> None:
    for constraint in constraints:
        for term in constraint.terms:
            kind = VARIABLES[term.variable]
            if term.entity not in ids[kind]:
                raise CaseError(
                    FILE, f"constraint {constraint.id}", "expression",
                    f"{term.variable}({term.entity}) refers to {kind} {term.entity}, which is not defined",
                )
