"""Plants split over several unit groups (0.18): each group up to its limits, injecting at its own bus.

The cases are d04 in the 0.18 format with two load blocks (``d04_variant`` of
test_cobre_bounds.py) and hydro 0's single group replaced by the groups below
(bus, max turbined m3/s, max generation MW; productivity 1). The constants are
Cobre 0.18.0's lower bounds on the same folders (d04_variant alone: 4,400,127.1).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cobre_cases import assert_fails_naming, assert_reaches, edit
from test_cobre_bounds import d04_variant

from caudal.hydro import cobre

HYDROS = "system/hydros.json"
CASES = {
    "u1": ([(0, 30.0, 30.0), (1, 20.0, 20.0)], 2_000_120.0),
    "u2": ([(0, 10.0, 10.0), (1, 20.0, 15.0)], 3_600_153.0000000005),
    "u3": ([(1, 25.0, 25.0), (1, 25.0, 25.0)], 1_400_179.0000000007),
}


def with_groups(tmp_path: Path, groups: list[tuple], change=None) -> Path:
    case = d04_variant(tmp_path, [], [], {}, None)

    def split(d: dict) -> None:
        d["hydros"][0]["unit_groups"] = [
            {"id": i, "name": f"G{i}", "bus_id": bus, "min_turbined_m3s": 0.0, "max_turbined_m3s": q,
             "min_generation_mw": 0.0, "max_generation_mw": g} for i, (bus, q, g) in enumerate(groups)]
        if change is not None:
            change(d["hydros"][0]["unit_groups"])

    edit(case, HYDROS, split)
    return case


@pytest.mark.parametrize("name", sorted(CASES))
def test_unit_groups_give_cobres_costs(tmp_path: Path, name: str) -> None:
    groups, expected = CASES[name]
    study = cobre.load_case(with_groups(tmp_path, groups))
    assert len(study.case.hydros[0].groups) == 2
    assert_reaches(study, expected)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda g: g[1].update(bus_id=7), "unit_groups[1].bus_id", "bus 7, which is not defined"),
        (lambda g: g[1].update(min_turbined_m3s=1.0), "unit_groups[1].min_turbined_m3s", "not supported"),
        (lambda g: g[1].update(max_generation_mw=40.0), "unit_groups[].max_generation_mw", "above the plant's 50"),
        (lambda g: g[1].update(id=0), "unit_groups[1].id", "used twice"),
    ],
)
def test_bad_unit_groups_fail_naming_file_entity_and_field(tmp_path: Path, capsys, change, field: str,
                                                           words: str) -> None:
    case = with_groups(tmp_path, CASES["u1"][0], change)
    assert_fails_naming(case, capsys, HYDROS, "hydro 0", field, words)
