"""``caudal train 1dtoy``: Cobre's example, which caudal ships, is a CASE by name as the README says."""

import json
import subprocess
import sys

from caudal.cases import SHIPPED_COBRE_CASES, case_location, resolve_case
from caudal.hydro.cobre import example_case


def test_the_shipped_example_resolves_to_its_directory(tmp_path, monkeypatch):
    assert "1dtoy" in SHIPPED_COBRE_CASES
    case = resolve_case("1dtoy")
    assert case.kind == "cobre" and case.path == example_case("1dtoy")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "1dtoy").mkdir()  # a directory of that name where the user works wins over the example
    assert case_location("1dtoy") == "1dtoy"


def test_train_1dtoy_by_name_trains_the_shipped_case(tmp_path):
    by_name, by_path = tmp_path / "by_name", tmp_path / "by_path"
    for case, output in (("1dtoy", by_name), (str(example_case("1dtoy")), by_path)):
        done = subprocess.run([sys.executable, "-m", "caudal", "train", case, "--iterations", "3", "-q",
                               "-o", str(output)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert (json.loads((by_name / "summary.json").read_text())["lower_bound"]
            == json.loads((by_path / "summary.json").read_text())["lower_bound"])
