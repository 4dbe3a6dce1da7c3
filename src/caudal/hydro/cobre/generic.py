"""Generic linear constraints (0.5.x): ``constraints/generic_constraints.json`` and their bounds.

Each constraint is a linear expression over the stage's variables, a sense
and a right-hand side per stage (``generic_constraint_bounds.parquet``; a
stage without a row has no such constraint), optionally with a slack priced
per unit and hour. The expression grammar is ``term (('+' | '-') term)*`` with
``term ::= [number '*'] name '(' entity_id [',' block_id] ')'``. caudal reads
the variables whose meaning is unambiguous in its formulation (thermal
generation, hydro turbined flow, spillage and generation, line flows in each
direction) on stages of one load block; other variables, per-block bounds and
constraints on stages of several blocks are refused by name.
"""

from __future__ import annotations

import math
import re

from caudal.hydro.cobre.case import GenericConstraint, StageSpec, Term
from caudal.hydro.cobre.errors import CaseError, unsupported
from caudal.hydro.cobre.fields import Record, entity_name
from caudal.hydro.cobre.files import FLOAT, INT, CaseFiles
from caudal.parquet_files import ParquetFile

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
    return tuple(
        GenericConstraint(cid, terms, sense, penalty, bounds.get(cid, {})) for cid, terms, sense, penalty in parsed
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


def _bounds(files: CaseFiles, ids: set[int], stages: tuple[StageSpec, ...]) -> dict[int, dict[int, float]]:
    if not files.exists(BOUNDS):
        return {}
    table = files.table(BOUNDS, {"constraint_id": INT, "stage_id": INT, "bound": FLOAT}, read_apart=("block_id",))
    with ParquetFile(files.root / BOUNDS) as parquet:
        raw = parquet.read()  # block_id is nullable: read it apart
    blocks = raw.column("block_id") if "block_id" in raw.column_names else None
    stage_of = {s.id: s for s in stages}
    out: dict[int, dict[int, float]] = {}
    for row, (cid, sid, bound) in enumerate(zip(table["constraint_id"], table["stage_id"], table["bound"],
                                                 strict=True)):
        key = (int(cid), int(sid))
        where = f"constraint {key[0]}, stage {key[1]}"
        if key[0] not in ids:
            raise CaseError(BOUNDS, where, "constraint_id", f"refers to constraint {key[0]}, not in {FILE}")
        if key[1] not in stage_of:
            raise CaseError(BOUNDS, where, "stage_id", f"refers to stage {key[1]}, not in stages.json")
        if blocks is not None and blocks[row].is_valid:
            raise unsupported(BOUNDS, where, "block_id", "per-block bounds of generic constraints")
        if len(stage_of[key[1]].blocks) > 1:
            raise unsupported(BOUNDS, where, "stage_id", "generic constraints on stages of several load blocks")
        if key[1] in out.setdefault(key[0], {}):
            raise CaseError(BOUNDS, where, "stage_id", f"stage {key[1]} appears twice")
        if not math.isfinite(bound):
            raise CaseError(BOUNDS, where, "bound", f"must be finite, got {bound}")
        out[key[0]][key[1]] = float(bound)
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
