"""The embedded brazil4 case: its data ships with the package and the problem follows its README.

Expected values come from the CSV files themselves, read here with plain string
splitting (not the case's csv-module parser), and from the README's formulas.
"""

from __future__ import annotations

import fnmatch
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import caudal
import caudal.examples
from caudal import ProblemError
from caudal.examples.brazil4 import load_data
from caudal.sddp.passes import discount_factors

DATA = resources.files("caudal.examples").joinpath("data", "brazil4")
MONTHS = 12


def lines(name: str) -> list[str]:
    text = DATA.joinpath(name).read_bytes().decode("utf-8").lstrip("\ufeff")
    return [line.strip() for line in text.splitlines() if line.strip()]


def history_by_year(subsystem: int) -> dict[int, list[str]]:
    rows = [line.split(";") for line in lines(f"hist_{subsystem}.csv")[1:]]
    return {int(row[0]): row[1:] for row in rows}


def table(name: str) -> dict[str, list[float]]:
    return {row.split(",")[0]: [float(x) for x in row.split(",")[1:]] for row in lines(name)[1:]}


def complete_years() -> list[int]:
    """Years whose twelve months are numbers in all four subsystems."""
    histories = [history_by_year(i) for i in range(4)]
    return sorted(
        year
        for year in histories[0]
        if all(year in h and all(v.replace(".", "", 1).isdigit() for v in h[year]) for h in histories)
    )


def column(template, name: str) -> int:
    return template.col_names.index(name)


def row(template, name: str) -> int:
    return template.row_names.index(name)


# -- the data ------------------------------------------------------------------------


def test_data_and_license_ship_inside_the_package():
    names = {entry.name for entry in DATA.iterdir()}
    assert {"LICENSE.msppy", "README.md", "hydro.csv", "demand.csv", "deficit.csv", "exchange.csv"} <= names
    assert {f"hist_{i}.csv" for i in range(4)} | {f"thermal_{i}.csv" for i in range(4)} <= names
    assert "BSD 3-Clause" in DATA.joinpath("LICENSE.msppy").read_text(encoding="utf-8")


def test_package_data_rule_covers_every_data_file():
    """An installed wheel has the data only if pyproject's package-data glob matches each file."""
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    patterns = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]["caudal"]
    package_root = Path(caudal.__file__).parent
    files = [p.relative_to(package_root).as_posix() for p in Path(str(DATA)).iterdir() if p.is_file()]
    assert len(files) >= 30
    assert all(any(fnmatch.fnmatch(f, pattern) for pattern in patterns) for f in files)


def test_history_keeps_the_82_complete_years_in_order():
    data = load_data()
    years = complete_years()
    assert len(years) == 82 and 1983 not in years  # 1931-2013 without 1983, which has gaps
    np.testing.assert_array_equal(data.years, years)
    for i in range(4):
        history = history_by_year(i)
        expected = np.array([[float(v) for v in history[year]] for year in years])
        np.testing.assert_array_equal(data.inflow_history[:, :, i], expected)


# -- the problem -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def twelve():
    return caudal.examples.brazil4().compile()


def test_default_problem_shape(twelve):
    assert twelve.name == "brazil4"
    assert twelve.n_stages == 12
    assert twelve.state_names == ("stored_0", "stored_1", "stored_2", "stored_3")
    hydro = table("hydro.csv")
    np.testing.assert_array_equal(twelve.initial_state, [hydro[f"StoredEnergy_{i}"][1] for i in range(4)])
    assert twelve.templates[0].n_openings == 1  # the first month's inflow is known
    assert all(template.n_openings == 82 for template in twelve.templates[1:])
    assert all(template.col_lower[template.theta_col] == 0.0 for template in twelve.templates[:-1])


def test_stage_openings_are_the_historical_years_of_the_stage_month(twelve):
    years = complete_years()
    for t in (1, 5, 11):
        template = twelve.templates[t]
        for i in range(4):
            water = row(template, f"water_{i}")
            k = list(template.row_patch_index).index(water)
            history = history_by_year(i)
            expected = [float(history[year][t % MONTHS]) for year in years]
            np.testing.assert_array_equal(template.row_patch_lower[:, k], expected)
            np.testing.assert_array_equal(template.row_patch_upper[:, k], expected)


def test_first_stage_uses_the_known_inflows(twelve):
    template = twelve.templates[0]
    hydro = table("hydro.csv")
    for i in range(4):
        water = row(template, f"water_{i}")
        assert template.row_lower[water] == template.row_upper[water] == hydro[f"inflow_{i}"][1]


def test_first_inflow_overrides_the_known_inflows():
    template = caudal.examples.brazil4(stages=2, first_inflow=[39717.564, 6632.5141, 15897.183, 2525.2938])
    template = template.compile().templates[0]
    rhs = [template.row_upper[row(template, f"water_{i}")] for i in range(4)]
    assert rhs == [39717.564, 6632.5141, 15897.183, 2525.2938]


def test_openings_n_takes_the_first_n_years():
    compiled = caudal.examples.brazil4(stages=3, openings=5).compile()
    history = history_by_year(0)
    years = complete_years()[:5]
    assert years == [1931, 1932, 1933, 1934, 1935]
    for t in (1, 2):
        template = compiled.templates[t]
        assert template.n_openings == 5
        k = list(template.row_patch_index).index(row(template, "water_0"))
        np.testing.assert_array_equal(template.row_patch_upper[:, k], [float(history[y][t]) for y in years])


def test_stage_variables_follow_the_readme(twelve):
    hydro = table("hydro.csv")
    deficit = table("deficit.csv")
    demand = table("demand.csv")
    exchange = table("exchange.csv")
    exchange_cost = table("exchange_cost.csv")
    for t in (0, 7):
        template = twelve.templates[t]

        def bounds_and_cost(name, template=template):
            j = column(template, name)
            return template.col_lower[j], template.col_upper[j], template.col_cost[j]

        for i in range(4):
            assert bounds_and_cost(f"stored_{i}") == (0.0, hydro[f"StoredEnergy_{i}"][0], 0.0)
            assert bounds_and_cost(f"spill_{i}") == (0.0, np.inf, 0.001)
            assert bounds_and_cost(f"hydro_{i}") == (0.0, hydro[f"hydro_{i}"][0], 0.0)
            for k, (lower, upper, cost) in table(f"thermal_{i}.csv").items():
                assert bounds_and_cost(f"thermal_{i}_{k}") == (lower, upper, cost)
            for j, (cost, depth) in deficit.items():
                expected_upper = depth * demand[str(t % MONTHS)][i]
                assert bounds_and_cost(f"deficit_{i}_{j}") == pytest.approx((0.0, expected_upper, cost))
        arcs = [(a, b) for a in range(5) for b in range(5) if exchange[str(a)][b] > 0]
        assert (3, 4) in arcs and (4, 0) in arcs and (2, 4) in arcs  # the transshipment node is connected
        for a, b in arcs:
            assert bounds_and_cost(f"exchange_{a}_{b}") == (0.0, exchange[str(a)][b], exchange_cost[str(a)][b])
        # arcs with a zero limit are fixed at zero, so the case leaves them out
        exchange_columns = {name for name in template.col_names if name.startswith("exchange")}
        assert exchange_columns == {f"exchange_{a}_{b}" for a, b in arcs}


def test_balances_follow_the_readme(twelve):
    demand = table("demand.csv")
    template = twelve.templates[3]
    matrix = template.dense_matrix()
    names = template.col_names
    for i in range(4):
        r = row(template, f"demand_{i}")
        assert template.row_lower[r] == template.row_upper[r] == demand["3"][i]
        for j, name in enumerate(names):
            parts = name.split("_")
            if parts[0] in ("thermal", "deficit", "hydro") and parts[1] == str(i):
                expected = 1.0
            elif parts[0] == "exchange" and parts[1] == str(i):
                expected = -1.0  # exported
            elif parts[0] == "exchange" and parts[2] == str(i):
                expected = 1.0  # imported
            else:
                expected = 0.0
            assert matrix[r, j] == expected, (i, name)
        w = row(template, f"water_{i}")
        expected_water = {f"stored_{i}": 1.0, f"spill_{i}": 1.0, f"hydro_{i}": 1.0, f"stored_{i}_in": -1.0}
        assert {names[j]: matrix[w, j] for j in np.flatnonzero(matrix[w])} == expected_water
    r = row(template, "transshipment")
    assert template.row_lower[r] == template.row_upper[r] == 0.0
    flows = {names[j]: matrix[r, j] for j in np.flatnonzero(matrix[r])}
    assert flows == {name: (1.0 if name.endswith("_4") else -1.0) for name in flows}
    assert "exchange_4_0" in flows and "exchange_3_4" in flows


def test_stage_t_costs_are_weighted_by_discount_to_the_t():
    compiled = caudal.examples.brazil4(stages=4, openings=2, discount=0.9).compile()
    np.testing.assert_allclose(discount_factors(compiled), [1.0, 0.9, 0.81, 0.729], rtol=1e-15)
    undiscounted = caudal.deterministic_equivalent(caudal.examples.brazil4(stages=2, openings=3, discount=1.0))
    discounted = caudal.deterministic_equivalent(caudal.examples.brazil4(stages=2, openings=3, discount=0.5))
    assert discounted.objective < undiscounted.objective


def test_long_horizons_cycle_through_the_months():
    compiled = caudal.examples.brazil4(stages=120, openings=3).compile()
    assert compiled.n_stages == 120
    demand = table("demand.csv")
    for t in (12, 59, 119):
        template = compiled.templates[t]
        r = row(template, "demand_2")
        assert template.row_upper[r] == demand[str(t % MONTHS)][2]


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"stages": 0}, "stages must be a positive integer"),
        ({"stages": 2.5}, "stages must be a positive integer"),
        ({"openings": 0}, r"openings must be an integer in 1..82"),
        ({"openings": 83}, r"openings must be an integer in 1..82"),
        ({"first_inflow": [1.0, 2.0]}, "first_inflow must be 4 finite numbers"),
        ({"first_inflow": [1.0, 2.0, 3.0, float("nan")]}, "first_inflow must be 4 finite numbers"),
        ({"discount": 0.0}, "discount must be a positive number"),
    ],
)
def test_bad_arguments_are_refused_clearly(arguments, message):
    with pytest.raises(ProblemError, match=message):
        caudal.examples.brazil4(**arguments)


def test_short_case_trains():
    result = caudal.train(caudal.examples.brazil4(stages=3, openings=4), iterations=3, forward_passes=2)
    assert result.iterations == 3 and result.lower_bound > 0.0
    assert result.history[0].lower_bound <= result.lower_bound
