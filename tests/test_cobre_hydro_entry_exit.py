"""Hydro plants entering or leaving service at a stage (``entry_stage_id``/``exit_stage_id``).

0.18 reads them: outside its window a plant neither turbines nor stores (its
reservoir keeps what it holds) and its inflow and the water from upstream pass
it unpriced. The costs are Cobre 0.18.0's lower bounds on these very folders
(cobre-python 0.18.0, ``cobre.run.run``, measured by running it): on d03 (a
two-plant cascade) they tell the candidate meanings apart: without passing
water the upstream plant's exit costs 4,707,556, with priced spillage
3,977,702, while Cobre gives 3,977,556. Cobre 0.5.1 accepts the keys (and a
bus's) and changes nothing (measured on the same cases), so 0.5.x refuses them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cobre_cases import DATA, SAME, assert_fails_naming, assert_reaches, edit

import caudal
from caudal.hydro import cobre

HYDROS = "system/hydros.json"
CASES_018 = DATA / "cases-0.18" / "deterministic"

COBRE_018 = {  # (case, hydro, key): Cobre 0.18.0's cost with the key set to 1
    ("d03-two-hydro-cascade", 0, "entry_stage_id"): 2_302_833.333333334,
    ("d03-two-hydro-cascade", 0, "exit_stage_id"): 3_977_555.555555555,
    ("d03-two-hydro-cascade", 1, "entry_stage_id"): 2_538_888.8888888885,
    ("d03-two-hydro-cascade", 1, "exit_stage_id"): 3_998_888.8888888885,
    ("d04-transmission", 0, "entry_stage_id"): 9_653_830.111111116,
    ("d04-transmission", 1, "exit_stage_id"): 21_900_219.000000004,
}


def variant(root: Path, base: Path, hydro: int, window: dict) -> Path:
    case = root / base.name
    shutil.copytree(base, case)
    edit(case, HYDROS, lambda d: d["hydros"][hydro].update(window))
    return case


@pytest.mark.parametrize("key", sorted(COBRE_018), ids=lambda k: f"{k[0][:3]}-h{k[1]}-{k[2]}")
def test_a_hydro_out_of_service_gives_cobre_018s_cost(tmp_path: Path, key: tuple) -> None:
    name, hydro, field = key
    study = cobre.load_case(variant(tmp_path, CASES_018 / name, hydro, {field: 1}))
    assert_reaches(study, COBRE_018[key])


def test_a_stochastic_case_with_a_plant_leaving_gives_cobre_018s_converged_bound(tmp_path: Path) -> None:
    """1dtoy in 0.18, its plant out from stage 2, on caudal's opening tree written for Cobre to read.

    Cobre 0.18.0 run on this folder (1,500 iterations; 128 give the same) converges to 65,105,315.01587182
    (the case without the exit: 2,603,090.5394627, caudal's equivalent to 5e-13). Its inflows exceed the
    plant's maximum outflow at times: the water passing a plant out of service is not held to its outflow
    limits, or the cost would be 66,100,572.
    """
    case = variant(tmp_path, CASES_018.parent / "1dtoy", 0, {"exit_stage_id": 2})
    cobre.write_noise_openings(case / "scenarios" / "noise_openings.parquet", cobre.load_case(case).noise)
    edit(case, "config.json", lambda d: d["training"]["scenario_source"].update(openings={"source": "file"}))
    study = cobre.load_case(case)
    equivalent = caudal.deterministic_equivalent(study.problem).objective
    assert equivalent == pytest.approx(65_105_315.01587182, rel=SAME)
    bound = caudal.train(study.problem, iterations=128, forward_passes=1, seed=study.training.seed).lower_bound
    assert bound == pytest.approx(equivalent, rel=1e-9)


def test_an_out_of_service_plant_keeps_its_storage_and_turbines_nothing(tmp_path: Path) -> None:
    case = variant(tmp_path, CASES_018 / "d03-two-hydro-cascade", 0, {"exit_stage_id": 1})
    study = cobre.load_case(case)
    policy = caudal.train(study.problem, iterations=5, seed=0).policy
    hydros = cobre.simulate(study, policy, scenarios=1)["hydros"].to_pydict()
    rows = [dict(zip(hydros, values, strict=True)) for values in zip(*hydros.values(), strict=True)]
    upstream = [r for r in rows if r["hydro_id"] == 0]
    assert any(r["turbined_m3s"] > 0 for r in upstream if r["stage_id"] == 0)  # in service in stage 0
    later = [r for r in upstream if r["stage_id"] >= 1]
    assert later and all(r["turbined_m3s"] == 0.0 and r["generation_mw"] == 0.0 for r in later)
    assert all(r["storage_final_hm3"] == pytest.approx(r["storage_initial_hm3"], abs=1e-9) for r in later)
    downstream = {(r["stage_id"], r["block_id"]): r for r in rows if r["hydro_id"] == 1}
    for r in later:  # what reaches the plant passes on to the next one (d03 has one block per stage)
        assert r["outflow_m3s"] == pytest.approx(r["inflow_m3s"], rel=1e-9, abs=1e-9)
        below = downstream[(r["stage_id"], r["block_id"])]
        assert below["inflow_m3s"] - below["incremental_inflow_m3s"] == pytest.approx(r["outflow_m3s"], abs=1e-9)


def test_a_window_in_service_throughout_changes_nothing(tmp_path: Path) -> None:
    base = cobre.load_case(CASES_018 / "d03-two-hydro-cascade")
    case = variant(tmp_path, CASES_018 / "d03-two-hydro-cascade", 0, {"entry_stage_id": 0, "exit_stage_id": 99})
    window = cobre.load_case(case)
    costs = [caudal.deterministic_equivalent(s.problem).objective for s in (base, window)]
    assert costs[1] == pytest.approx(costs[0], rel=SAME)


@pytest.mark.parametrize(
    ("window", "field", "words"),
    [
        ({"entry_stage_id": 2, "exit_stage_id": 1}, "exit_stage_id", "not after entry_stage_id"),
        ({"entry_stage_id": -1}, "entry_stage_id", "at least 0"),
        ({"exit_stage_id": "1"}, "exit_stage_id", "integer"),
    ],
)
def test_a_bad_018_window_fails_naming_file_entity_and_field(
    tmp_path: Path, capsys, window: dict, field: str, words: str
) -> None:
    case = variant(tmp_path, CASES_018 / "d03-two-hydro-cascade", 1, window)
    assert_fails_naming(case, capsys, HYDROS, "hydro 1", field, words)


@pytest.mark.parametrize(("file", "key", "entity"), [(HYDROS, "hydros", "hydro 0"),
                                                     ("system/buses.json", "buses", "bus 0")])
def test_05_windows_are_refused_as_cobre_051_ignores_them(tmp_path: Path, capsys, file: str, key: str,
                                                          entity: str) -> None:
    case = tmp_path / "d03"
    shutil.copytree(DATA / "deterministic" / "d03-two-hydro-cascade", case)
    edit(case, file, lambda d: d[key][0].update(exit_stage_id=1))
    assert_fails_naming(case, capsys, file, entity, "exit_stage_id", "ignores them")


@pytest.mark.parametrize(("window", "field"), [({"exit_stage_id": 1}, "exit_stage_id"),
                                               ({"entry_stage_id": 2}, "entry_stage_id")])
def test_a_withdrawal_while_out_of_service_is_refused(tmp_path: Path, capsys, window: dict, field: str) -> None:
    from test_cobre_hydro_bounds import row, write_rows

    case = variant(tmp_path, CASES_018 / "d03-two-hydro-cascade", 0, window)
    write_rows(case / "constraints" / "hydro_bounds.parquet", [row(0, 1, water_withdrawal_m3s=1.0)])
    assert_fails_naming(case, capsys, HYDROS, "hydro 0", field, "out of service")
