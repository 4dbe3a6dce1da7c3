"""A study file's values have the types their options take: a wrong one is one line naming file, key and type."""

from __future__ import annotations

import pytest

from caudal.cli import main


@pytest.mark.parametrize("line,expected", [
    ('iterations = "5"', 'iterations: expected an integer, got the string \'5\''),
    ("stages = 3.0", "stages: expected an integer, got the float 3.0"),
    ("forward-passes = 2.5", "forward-passes: expected an integer"),
    ('time-limit = "60"', "time-limit: expected a number, got the string '60'"),
    ("output = 3", "output: expected a string, got the integer 3"),
    ("seed = true", "seed: expected a single number or string"),
])
def test_a_wrong_type_is_a_usage_error_naming_file_key_and_type(tmp_path, capsys, line, expected):
    study = tmp_path / "study.toml"
    study.write_text(line + "\n")
    with pytest.raises(SystemExit) as exited:
        main(["train", "--config", str(study)])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    last = error.strip().splitlines()[-1]
    assert f"{study}: {expected}" in last


def test_right_types_are_accepted(tmp_path, capsys):
    study = tmp_path / "study.toml"
    study.write_text('case = "brazil4"\nstages = 2\niterations = 1\ntime-limit = 60\nopening-chunk = "auto"\n'
                     "threads = 1\nquiet = true\n")
    assert main(["train", "--config", str(study)]) == 0
    assert "after 1 iteration" in capsys.readouterr().out
