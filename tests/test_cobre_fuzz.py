"""Fuzzing the Cobre reader: any mutation of a shipped case trains, or fails in one line naming a file.

Hypothesis copies one of the shipped cases, changes one thing (a JSON value
replaced by another of any type or an absurd magnitude, a key deleted, added or
written twice, a Parquet value or column changed, added or dropped) and runs
``caudal train`` on it for one iteration. What it asserts, for every mutation:

* exit status 0 (the mutated case is still a valid case), or exit status 2
  with one line on standard error that names a file of the case;
* never a traceback, never another status, never a hang (an alarm fails the
  example after 20 s).

One exception: a mutation can leave a valid case whose stage LP has no
feasible point (a negative inflow with ``inflow_non_negativity`` ``none`` and
an empty reservoir, as Cobre would meet it too); that is a modelling result,
reported in one line naming the stage and opening with exit status 1.

400 examples, under a minute on CI (``CAUDAL_FUZZ_EXAMPLES`` for more); ``HYPOTHESIS_PROFILE=ci`` makes
it reproducible.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from cobre_cases import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caudal.cli import main

CASES = (
    "deterministic/d01-thermal-dispatch",
    "deterministic/d03-two-hydro-cascade",
    "deterministic/d04-transmission",
    "deterministic/d14-block-factors",
    "deterministic/d16-par1-lag-shift",
    "deterministic/d19-multi-hydro-par",
    "1dtoy",
    "variants/mixed-features",
)
EXAMPLES = int(os.environ.get("CAUDAL_FUZZ_EXAMPLES", "400"))
ALARM_SECONDS = 20

ABSURD_NUMBERS = st.sampled_from([
    0, -1, -1.0, 1e300, -1e300, 1e13, 1e-300, 10**400, -(10**30), 2**64, float("nan"), float("inf"), 0.5, 3,
])
ANY_VALUE = st.one_of(
    ABSURD_NUMBERS,
    st.integers(-1000, 1000),  # not larger: 15,000 openings are a valid case that takes minutes, not a fault
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.booleans(),
    st.none(),
    st.just([]),
    st.just({}),
    st.just([1, "x", None]),
    st.just({"unknown": 1}),
)


def leaves(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths to every value and every key of a JSON document (keys as paths to their object)."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += leaves(value, (*path, index))
    return found


def replace(document: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return document


def mutate_json(data: st.DataObject, file: Path) -> str:
    """Change one thing of a JSON file; returns what, for the failure report."""
    document = json.loads(file.read_text())
    path = data.draw(st.sampled_from(leaves(document)), label="path")
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    action = data.draw(st.sampled_from(["value", "value", "value", "delete", "add key", "duplicate key", "nest"]))
    if action in ("delete", "duplicate key") and path and isinstance(parent, dict):
        key = path[-1]
        if action == "delete":
            del parent[key]
            file.write_text(json.dumps(document))
        else:  # JSON text with the key twice: json.dumps cannot write it
            pairs = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in parent.items()]
            pairs.append(f"{json.dumps(key)}: {json.dumps(parent[key])}")
            twice = "{" + ", ".join(pairs) + "}"
            marker = "__caudal_fuzz_marker__"
            text = json.dumps(replace(document, path[:-1], marker))
            file.write_text(text.replace(json.dumps(marker), twice))
        return f"{action} {path}"
    node = document
    for step in path:
        node = node[step]
    if action == "add key" and isinstance(node, dict):
        node["fuzz_extra"] = data.draw(ANY_VALUE)
        file.write_text(json.dumps(document, allow_nan=True))
        return f"add key under {path}"
    if action == "nest":
        file.write_text(json.dumps(replace(document, path, [])).replace("[]", "[" * 100000 + "]" * 100000, 1))
        return f"nest deeply at {path}"
    value = data.draw(ANY_VALUE, label="value")
    file.write_text(json.dumps(replace(document, path, value), allow_nan=True))
    return f"set {path} to {value!r}"


def mutate_parquet(data: st.DataObject, file: Path) -> str:
    table = pq.read_table(file)
    column = data.draw(st.sampled_from(table.column_names), label="column")
    action = data.draw(st.sampled_from(["value", "value", "drop column", "add column", "as text", "null"]))
    if action == "drop column":
        table = table.drop_columns([column])
    elif action == "add column":
        table = table.append_column("fuzz_extra", pa.array(np.zeros(table.num_rows)))
    elif action == "as text":
        table = table.set_column(table.column_names.index(column), column, table.column(column).cast(pa.string()))
    elif action == "null" and table.num_rows:
        values = table.column(column).to_pylist()
        values[0] = None
        table = table.set_column(table.column_names.index(column), column, pa.array(values, table.column(column).type))
    elif table.num_rows:
        row = data.draw(st.integers(0, table.num_rows - 1), label="row")
        values = table.column(column).to_numpy().copy()
        if values.dtype.kind == "f":
            values[row] = data.draw(st.sampled_from([1e300, -1e300, -1.0, 0.0, 1e13, np.nan, np.inf, 7.5]))
        else:
            limits = np.iinfo(values.dtype)
            values[row] = data.draw(st.sampled_from([-1, 0, limits.max, 999, limits.min]))
        table = table.set_column(table.column_names.index(column), column, pa.array(values))
    pq.write_table(table, file)
    return f"{action} on {column}"


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"no answer within {ALARM_SECONDS} s")


@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_a_mutated_case_trains_or_fails_in_one_named_line(data):
    name = data.draw(st.sampled_from(CASES), label="case")
    with tempfile.TemporaryDirectory() as temporary:
        case = Path(temporary) / Path(name).name
        shutil.copytree(DATA / name, case)
        files = sorted(str(p.relative_to(case)) for p in case.rglob("*") if p.suffix in (".json", ".parquet"))
        chosen = data.draw(st.sampled_from(files), label="file")
        change = (mutate_json if chosen.endswith(".json") else mutate_parquet)(data, case / chosen)
        stderr, stdout = io.StringIO(), io.StringIO()
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(ALARM_SECONDS)
        try:
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                status = main(["train", str(case), "--iterations", "1", "--forward-passes", "1", "--threads", "1",
                               "--quiet", "--checkpoint-every", "1000"])
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        message = stderr.getvalue()
        context = f"{name}: {chosen}: {change}: status {status}, stderr {message!r}"
        if status == 1:  # a valid case whose stage LP has no feasible point: a modelling result, named
            assert "(model status: Infeasible)" in message and message.count("\n") == 1, context
            return
        assert status in (0, 2), context
        if status == 2:
            lines = message.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("caudal: error: "), context
            assert any(file in lines[0] for file in files) or str(case) in lines[0], context
