"""External inflow scenarios (the ``external`` inflow scheme) and d28's weekly-then-monthly horizon.

d28 (Cobre's examples, Apache-2.0, see data/cobre/LICENSE.cobre) has five
weekly stages and a monthly one, no load file, and trains with
``scenario_source.inflow.scheme = "external"``: forward passes on
``external_inflow_scenarios.parquet``, cuts on the opening tree Cobre exported
(``noise_openings.parquet``, where the weekly stages of April share one draw).
Its known cost comes with the other deterministic cases (``KNOWN_COSTS``);
here: the forward passes really take the external inflows, and bad tables or
settings fail naming the file, entity and field.
"""

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, KNOWN_COSTS, SAME, assert_fails_naming, edit

import caudal
from caudal.cases import resolve_case
from caudal.hydro import cobre

D28 = DATA / "deterministic" / "d28-decomp-weekly-monthly"
EXTERNAL = "scenarios/external_inflow_scenarios.parquet"


@pytest.fixture
def d28(tmp_path: Path) -> Path:
    case = tmp_path / "d28"
    shutil.copytree(D28, case)
    return case


def forward_costs(study: cobre.CobreStudy, sampling: caudal.SamplingScheme | None) -> list[float]:
    result = caudal.train(study.problem, iterations=3, forward_passes=2, seed=7, sampling=sampling)
    assert result.lower_bound == pytest.approx(KNOWN_COSTS["d28-decomp-weekly-monthly"], rel=SAME)
    return [record.upper_bound_mean for record in result.history]


def write_external(case: Path, stage: list[int], scenario: list[int], hydro: list[int], value: list[float]) -> None:
    pq.write_table(pa.table({
        "stage_id": pa.array(stage, pa.int32()), "scenario_id": pa.array(scenario, pa.int32()),
        "hydro_id": pa.array(hydro, pa.int32()), "value_m3s": pa.array(value, pa.float64()),
    }), case / EXTERNAL)


def test_forward_passes_take_the_external_inflows(d28: Path) -> None:
    study = cobre.load_case(d28)
    assert [table["inflow[0]"].tolist() for table in study.forward_inflows] == [
        [45.0], [55.0], [60.0], [50.0], [65.0], [40.0, 50.0, 60.0, 70.0, 80.0]
    ]
    external = forward_costs(study, caudal.OutOfSample(study.forward_inflows))
    in_sample = forward_costs(study, None)
    assert not np.allclose(external, in_sample)
    # External scenarios equal to the openings' inflows (60 + 15 * noise) give the in-sample passes exactly:
    # both schemes turn the same uniforms into the same indices.
    stages = [s for s, noise in enumerate(study.noise) for _ in noise]
    openings = [o for noise in study.noise for o in range(len(noise))]
    values = [60.0 + 15.0 * v for noise in study.noise for v in noise[:, 0]]
    write_external(d28, stages, openings, [0] * len(stages), values)
    same = cobre.load_case(d28)
    assert forward_costs(same, caudal.OutOfSample(same.forward_inflows)) == pytest.approx(in_sample, rel=1e-12)


def test_command_line_trains_forward_passes_on_the_external_inflows() -> None:
    defaults = resolve_case(str(D28)).training_defaults()
    assert defaults.forward_realisations is not None
    assert defaults.forward_realisations[5]["inflow[0]"].tolist() == [40.0, 50.0, 60.0, 70.0, 80.0]


def test_external_scheme_without_the_table(d28: Path, capsys: pytest.CaptureFixture) -> None:
    (d28 / EXTERNAL).unlink()
    assert_fails_naming(d28, capsys, "config.json", None, "training.scenario_source.inflow.scheme", "is missing")


def test_table_without_the_external_scheme_is_refused(d28: Path, capsys: pytest.CaptureFixture) -> None:
    edit(d28, "config.json", lambda c: c["training"].pop("scenario_source"))
    assert_fails_naming(d28, capsys, "config.json", None, "training.scenario_source.inflow.scheme", EXTERNAL)


def test_unknown_hydro(d28: Path, capsys: pytest.CaptureFixture) -> None:
    write_external(d28, [0, 1, 2, 3, 4, 5], [0] * 6, [0, 0, 0, 3, 0, 0], [50.0] * 6)
    assert_fails_naming(d28, capsys, EXTERNAL, "hydro 3, stage 3, scenario 0", "hydro_id", "not a hydro")


def test_stage_without_scenarios(d28: Path, capsys: pytest.CaptureFixture) -> None:
    write_external(d28, [0, 1, 2, 4, 5], [0] * 5, [0] * 5, [50.0] * 5)
    assert_fails_naming(d28, capsys, EXTERNAL, "hydro 0, stage 3", "scenario_id", "has no scenario")


def test_scenarios_with_a_gap(d28: Path, capsys: pytest.CaptureFixture) -> None:
    write_external(d28, [0, 1, 2, 3, 4, 5, 5], [0, 0, 0, 0, 0, 0, 2], [0] * 7, [50.0] * 7)
    assert_fails_naming(d28, capsys, EXTERNAL, "hydro 0, stage 5", "scenario_id", "0, 1, ..., 1 once each")


def test_value_beyond_any_plausible_inflow(d28: Path, capsys: pytest.CaptureFixture) -> None:
    write_external(d28, [0, 1, 2, 3, 4, 5], [0] * 6, [0] * 6, [50.0, 50.0, 1e300, 50.0, 50.0, 50.0])
    assert_fails_naming(d28, capsys, EXTERNAL, None, "value_m3s", "row 2 is 1e+300")


def test_weekly_stages_of_one_season_share_caudals_own_openings(d28: Path) -> None:
    """Cobre's exported tree repeats the group's opening on its five weeks (this file's tree); caudal's own does."""
    exported = cobre.load_case(d28).noise
    assert all(np.array_equal(exported[t], exported[0]) for t in range(1, 5))
    (d28 / "scenarios" / "noise_openings.parquet").unlink()
    study = cobre.load_case(d28)
    assert all(np.array_equal(study.noise[t], study.noise[0]) for t in range(1, 5))
    bound = caudal.train(study.problem, iterations=10, forward_passes=1, seed=1).lower_bound
    assert bound == pytest.approx(caudal.deterministic_equivalent(study.problem).objective, rel=1e-9)


def test_a_noise_group_with_other_opening_counts_is_an_error(d28: Path, capsys: pytest.CaptureFixture) -> None:
    (d28 / "scenarios" / "noise_openings.parquet").unlink()
    edit(d28, "stages.json", lambda d: d["stages"][2].update(num_scenarios=3))
    assert_fails_naming(d28, capsys, "stages.json", "stage 2", "num_scenarios", "same season and year")


def test_inflow_lags_across_resolutions_refuse_a_stage_outside_its_season(
    d28: Path, capsys: pytest.CaptureFixture
) -> None:
    # d28's stage 4 (May 2 to 9) has April's season: no share of its month to accumulate (lag_accumulation.py)
    pq.write_table(pa.table({
        "hydro_id": pa.array([0], pa.int32()), "stage_id": pa.array([5], pa.int32()),  # the monthly on the weeks
        "lag": pa.array([1], pa.int32()), "coefficient": pa.array([0.5], pa.float64()),
    }), d28 / "scenarios" / "inflow_ar_coefficients.parquet")
    edit(d28, "initial_conditions.json", lambda c: c.update(
        past_inflows=[{"hydro_id": 0, "values_m3s": [50.0]}], recent_observations=[]))
    edit(d28, "stages.json", lambda c: [s["state_variables"].update(inflow_lags=True) for s in c["stages"]])
    assert_fails_naming(d28, capsys, "stages.json", "stage 4", "season_id", "outside the month of its season")


@pytest.mark.mpi
def test_two_ranks_with_two_threads_train_d28_like_one_process(tmp_path: Path) -> None:
    from mpi_helpers import train_ranks

    args = ("--forward-passes", "4", "--iterations", "3", "--seed", "5")
    one = train_ranks(1, 1, str(D28), tmp_path / "one", *args)
    four = train_ranks(2, 2, str(D28), tmp_path / "four", *args)
    assert four["policy_digest"] == one["policy_digest"]
    strip_time = [[f for i, f in enumerate(row.split(",")) if i != 5] for row in one["convergence"]]
    assert [[f for i, f in enumerate(row.split(",")) if i != 5] for row in four["convergence"]] == strip_time
    study = cobre.load_case(D28)
    direct = caudal.train(study.problem, iterations=3, forward_passes=4, seed=5,
                          sampling=caudal.OutOfSample(study.forward_inflows))
    header = one["convergence"][0].split(",")
    last = dict(zip(header, one["convergence"][-1].split(","), strict=True))
    assert float(last[header[2]]) == pytest.approx(direct.history[-1].upper_bound_mean, rel=1e-12)
