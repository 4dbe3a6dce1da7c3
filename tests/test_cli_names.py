"""A variable or constraint name no stage has is a usage error listing the valid ones, not a column of NaN."""

from __future__ import annotations

import pytest

import caudal
from caudal.cli import main
from caudal.examples.brazil4 import brazil4


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    assert main(["train", "brazil4", "--stages", "3", "-n", "1", "--quiet", "--threads", "1", "-o", str(folder)]) == 0
    return folder


@pytest.mark.parametrize("option,name,kind,valid,suggested", [
    ("--variables", "hydro_O", "variable", "hydro_0", "hydro_"),
    ("--duals", "demand", "constraint", "demand_0", "demand_"),
])
def test_simulate_refuses_an_unknown_name_and_lists_the_valid_ones(run, tmp_path, capsys, option, name, kind, valid,
                                                                   suggested):
    status = main(["simulate", "brazil4", "--stages", "3", "--policy", str(run), "-n", "2", "--threads", "1",
                   option, name, "-o", str(tmp_path / "sim")])
    error = capsys.readouterr().err
    assert status == 2
    assert f"no {kind} named '{name}'" in error and "did you mean" in error
    assert suggested in error.split("did you mean")[1].split("?")[0] and f"the {kind}s are: " in error
    assert not (tmp_path / "sim").exists()


def test_the_python_api_raises_value_error():
    result = caudal.train(brazil4(stages=3), iterations=1, threads=1)
    with pytest.raises(ValueError, match="no variable named 'hydro_O'.*the variables are: "):
        caudal.simulate(result, scenarios=2, variables=["hydro_O"], threads=1)
    simulated = caudal.simulate(result, scenarios=2, variables=["hydro_0"], threads=1)
    assert set(simulated.variables) == {"hydro_0"}
