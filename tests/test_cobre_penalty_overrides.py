"""Stage-varying penalty costs: ``constraints/penalty_overrides_{bus,line,hydro,ncs}.parquet``, both formats.

The cases are built here from the copies in ``tests/data/cobre``:

* ``d04``: d04-transmission with hydro 0's minimum outflow raised to 45 m3/s,
  the line's exchange cost 5.0 in stage 0, and hydro rows (spillage 3.0 and 7.0
  in stage 1, outflow-below 20.0 in stage 0 and 900.0 in stage 1). Without the
  files the cost is 8,011,330.111 (both Cobre versions).
* ``d15``: d15-non-controllable-source with the thermal's minimum raised to
  60 MW (so 30 MW of the source's 50 are curtailed or spill as excess), and
  either the bus's excess cost 0.0001 in stage 1 (below the 0.001 curtailment
  credit, so the source runs fully) or the source's curtailment cost 2.0 in
  stage 0. Without the files the cost is 875,970.8 (both Cobre versions).

The costs are Cobre's lower bounds on the same folders (cobre-python 0.5.1 on
the 0.5.x cases, 0.18.0 on the 0.18 ones, ``cobre.run.run``). Cobre 0.5.1
checks the sources' file but does not apply it (same cost as without it);
Cobre 0.18.0 applies it. Every case also checks that SDDP's lower bound equals
the deterministic equivalent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, SAME, assert_fails_naming, assert_reaches, edit

import caudal
from caudal.hydro import cobre
from caudal.hydro.cobre.penalty_overrides import PenaltyWarning

BUS = "constraints/penalty_overrides_bus.parquet"
LINE = "constraints/penalty_overrides_line.parquet"
HYDRO = "constraints/penalty_overrides_hydro.parquet"
NCS = "constraints/penalty_overrides_ncs.parquet"
D15 = "d15-non-controllable-source"


def i32(values: list) -> pa.Array:
    return pa.array(values, pa.int32())


def f64(values: list) -> pa.Array:
    return pa.array(values, pa.float64())


def write(case: Path, name: str, columns: dict) -> None:
    (case / "constraints").mkdir(exist_ok=True)
    pq.write_table(pa.table(columns), case / name, compression="zstd")  # Cobre 0.18.0 reads Zstandard


D04_ROWS = {
    LINE: {"line_id": i32([0]), "stage_id": i32([0]), "exchange_cost": f64([5.0])},
    HYDRO: {"hydro_id": i32([0, 0, 1]), "stage_id": i32([0, 1, 1]), "spillage_cost": f64([None, 3.0, 7.0]),
            "outflow_violation_below_cost": f64([20.0, 900.0, None])},
}


def d04_variant(root: Path, version: str, rows: dict) -> Path:
    case = root / f"d04-{version}"
    source = DATA / "deterministic" if version == "0.5" else DATA / "cases-0.18" / "deterministic"
    shutil.copytree(source / "d04-transmission", case)
    edit(case, "system/hydros.json", lambda d: d["hydros"][0]["outflow"].update(min_outflow_m3s=45.0))
    for name, columns in rows.items():
        write(case, name, columns)
    return case


def d15_variant(root: Path, version: str, rows: dict) -> Path:
    case = root / f"d15-{version}"
    if version == "0.5":
        shutil.copytree(DATA / "deterministic" / D15, case)
    else:
        from test_cobre_sources import d15_in_018

        shutil.move(d15_in_018(root), case)
    edit(case, "system/thermals.json", lambda d: d["thermals"][0]["generation"].update(min_mw=60.0))
    for name, columns in rows.items():
        write(case, name, columns)
    return case


def bus_rows(version: str) -> dict:
    return {BUS: {"bus_id": i32([0]), "stage_id": i32([1]), "excess_cost": f64([0.0001])}}


def ncs_rows(version: str) -> dict:
    key = "source_id" if version == "0.5" else "ncs_id"  # each Cobre version rejects the other's name
    return {NCS: {key: i32([0]), "stage_id": i32([0]), "curtailment_cost": f64([2.0])}}


CASES = {  # name: (builder, rows for a version, {version: Cobre's cost})
    "d04-line-hydro": (d04_variant, lambda v: D04_ROWS, {"0.5": 8_065_970.611111116, "0.18": 8_065_970.611111116}),
    "d15-bus": (d15_variant, bus_rows, {"0.5": 875_951.09, "0.18": 875_951.0900000001}),
    "d15-ncs": (d15_variant, ncs_rows, {"0.5": 875_970.8, "0.18": 803_204.4}),
}


def assert_cost(case: Path, expected: float) -> None:
    assert_reaches(cobre.load_case(case), expected)


@pytest.mark.parametrize("version", ["0.5", "0.18"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_overrides_give_cobres_costs(tmp_path: Path, name: str, version: str) -> None:
    build, rows, costs = CASES[name]
    case = build(tmp_path, version, rows(version))
    if name == "d15-ncs" and version == "0.5":
        with pytest.warns(PenaltyWarning, match="Cobre 0.5.1 does not apply them"):
            assert_cost(case, costs[version])
    else:
        assert_cost(case, costs[version])


def test_overrides_change_the_cost(tmp_path: Path) -> None:
    """The files matter: without them d04's variant costs what Cobre gives without them."""
    assert_cost(d04_variant(tmp_path, "0.18", {}), 8_011_330.111111116)


def column(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy())


def test_simulated_costs_use_the_stage_overrides(tmp_path: Path) -> None:
    """The exchange and curtailment costs of the simulation tables are priced at each stage's cost."""
    for case, table, priced, prices in (
        (d04_variant(tmp_path, "0.5", D04_ROWS), "exchanges", ("direct_flow_mw", "reverse_flow_mw"),
         {0: 5.0, 1: 0.01}),
        (d15_variant(tmp_path, "0.18", {NCS: {"ncs_id": i32([0]), "stage_id": i32([1]),
                                              "curtailment_cost": f64([0.005])}}),  # still below the excess cost
         "non_controllables", ("curtailment_mw",), {0: 0.001, 1: 0.005}),
    ):
        study = cobre.load_case(case)
        result = caudal.train(study.problem, iterations=3, seed=1)
        rows = cobre.simulate(study, result.policy, scenarios=1, seed=1)[table]
        cost = column(rows, "exchange_cost" if table == "exchanges" else "curtailment_cost")
        for stage, price in prices.items():
            here = column(rows, "stage_id") == stage
            quantity = sum(column(rows, name) for name in priced)[here]
            assert quantity.sum() > 0
            assert cost[here] == pytest.approx(quantity * 730.0 * price, rel=SAME)


@pytest.mark.parametrize("version", ["0.5", "0.18"])
@pytest.mark.parametrize(
    ("file", "columns", "entity", "field", "words"),
    [
        (LINE, {"line_id": i32([7]), "stage_id": i32([0]), "exchange_cost": f64([1.0])}, "line 7, stage 0",
         "line_id", "not defined"),
        (HYDRO, {"hydro_id": i32([0]), "stage_id": i32([5]), "spillage_cost": f64([1.0])}, "hydro 0, stage 5",
         "stage_id", "not in stages.json"),
        (HYDRO, {"stage_id": i32([0]), "spillage_cost": f64([1.0])}, None, "hydro_id", "missing"),
        (BUS, {"bus_id": i32([0]), "stage_id": i32([0]), "excess_cost": f64([-1.0])}, "bus 0, stage 0",
         "excess_cost", ">= 0"),
        (HYDRO, {"hydro_id": i32([1]), "stage_id": i32([0]), "water_withdrawal_violation_cost": f64([5.0])},
         "hydro 1, stage 0", "water_withdrawal_violation_cost", "not supported"),
        (LINE, {"line_id": i32([0]), "stage_id": i32([0]), "losses_cost": f64([5.0])}, None, "losses_cost",
         "not supported"),
    ],
)
def test_bad_overrides_fail_naming_file_entity_and_field(
    tmp_path: Path, capsys, version: str, file: str, columns: dict, entity: str | None, field: str, words: str
) -> None:
    assert_fails_naming(d04_variant(tmp_path, version, {file: columns}), capsys, file, entity, field, words)


@pytest.mark.parametrize(("version", "key"), [("0.5", "ncs_id"), ("0.18", "source_id")])
def test_the_sources_file_takes_its_versions_key(tmp_path: Path, capsys, version: str, key: str) -> None:
    case = d15_variant(tmp_path, version, {NCS: {key: i32([0]), "stage_id": i32([0]),
                                                 "curtailment_cost": f64([1.0])}})
    assert_fails_naming(case, capsys, NCS, None, key, "not supported")


def test_a_dangling_source_is_named(tmp_path: Path, capsys) -> None:
    case = d15_variant(tmp_path, "0.18", {NCS: {"ncs_id": i32([3]), "stage_id": i32([0]),
                                                "curtailment_cost": f64([1.0])}})
    assert_fails_naming(case, capsys, NCS, "source 3, stage 0", "ncs_id", "not defined")


def test_penalty_files_are_listed_as_read(tmp_path: Path) -> None:
    """A case with all four files loads (none is refused as an unknown constraints file)."""
    case = d15_variant(tmp_path, "0.18", {**bus_rows("0.18"), **ncs_rows("0.18")})
    write(case, LINE, {"line_id": i32([]), "stage_id": i32([]), "exchange_cost": f64([])})
    write(case, HYDRO, {"hydro_id": i32([]), "stage_id": i32([]), "spillage_cost": f64([])})
    cobre.load_case(case)


@pytest.mark.parametrize("version", ["0.5", "0.18"])
def test_a_storage_below_override_warns_once_and_changes_nothing(tmp_path: Path, version: str) -> None:
    """The minimum storage is hard, so its violation cost prices nothing: overriding it leaves Cobre's cost
    without the files (8,011,330.111, measured with cobre-python 0.5.1 and 0.18.0 on both variants), with one
    warning naming the file and the field however many rows give it."""
    rows = {HYDRO: {"hydro_id": i32([0, 1, 0]), "stage_id": i32([0, 0, 1]),
                    "storage_violation_below_cost": f64([1e7, 5.0, None])}}
    case = d04_variant(tmp_path, version, rows)
    with pytest.warns(PenaltyWarning) as caught:
        assert_cost(case, 8_011_330.111111116)
    messages = [str(w.message) for w in caught if issubclass(w.category, PenaltyWarning)]
    assert messages == [f"{HYDRO}: storage_violation_below_cost has no effect: the minimum storage is a hard bound, "
                        "as in Cobre"]
