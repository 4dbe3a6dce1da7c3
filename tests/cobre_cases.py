"""Where the Cobre test cases live, and their reference values (see data/cobre/README.md)."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

import caudal
from caudal.cli import main
from caudal.hydro import cobre
from caudal.hydro.cobre import CaseError

DATA = Path(__file__).parent / "data" / "cobre"
SAME = 1e-9  # relative tolerance for "reaches the known cost"

KNOWN_COSTS = {
    # Cobre's examples/README table (also asserted in Cobre's own test suite).
    "d01-thermal-dispatch": 182_500.0,
    "d02-single-hydro": 23_635_000 / 9,
    "d03-two-hydro-cascade": 4_171_000 / 3,
    "d04-transmission": 5_263_443_883 / 657,
    "d09-multi-deficit": 80_738_000.0,
    "d10-inflow-nonnegativity": 28_562_500 / 9,
    "d14-block-factors": 176_900.0,
    "d16-par1-lag-shift": 7_756_250.0,
    "d19-multi-hydro-par": 1_332_571.7968919526,
    "d25-discount-rate": 2_611_454.584787283,
    "d24-productivity-override": 23_945_000 / 9,
    "d15-non-controllable-source": 437_927.0,
    "d11-water-withdrawal": 3_930_320_000 / 657,
    "d13-generic-constraint": 15_330_000.0,
    "d26-estimated-par2": 50_607_484.90581006,  # PAR(2) fitted from its history, on its exported opening tree
    "d05-fpha-constant-head": 23_635_000 / 9,
    "d08-evaporation": 94_644_561_875 / 36_009,
    "d07-fpha-computed": 3_519_535.457877054,  # Cobre 0.5.1 run (../shared/cases/cobre/README.md)
    "d28-decomp-weekly-monthly": 780.6803366831955,  # weekly then monthly stages, on its exported opening tree
}

# Measured by running Cobre 0.5.1 on the folder (commands in data/cobre/README.md).
COBRE_VARIANTS = {
    "mixed-features": 12_677_523.791947173,
    "negative-inflows-penalty": 99_664_002.91124351,
    "negative-inflows-truncation": 95_086_897.17420205,
    "negative-inflows-plant-penalty": 727_799.8287576174,
}


def deterministic_case(name: str) -> Path:
    """The case to reproduce ``name``'s known cost with.

    d19's inflows have a standard deviation of 0.001 m3/s, so its cost depends
    on the noise of its single opening (by 1.7e-4 relative): it is run on the
    tree Cobre itself drew, exported next to it.
    """
    if name == "d19-multi-hydro-par":
        return DATA / "deterministic-cobre-openings" / name
    return DATA / "deterministic" / name


def assert_known_cost(study: cobre.CobreStudy, name: str) -> None:
    """Both the deterministic equivalent and SDDP's lower bound reach ``name``'s known cost (to ``SAME``)."""
    assert_reaches(study, KNOWN_COSTS[name])


def assert_reaches(study: cobre.CobreStudy, expected: float, *, forward_passes: int | None = None,
                   sampling: caudal.SamplingScheme | None = None) -> None:
    """The deterministic equivalent and SDDP's lower bound (the case's own training settings) equal each other
    and ``expected`` (to ``SAME``): a Cobre cost is matched by the LP and by the training alike.

    ``forward_passes`` replaces the case's own; ``sampling`` is the forward passes' scheme (e.g.
    ``caudal.OutOfSample(study.forward_inflows)`` for an external or out-of-sample inflow scheme).
    """
    equivalent = assert_equivalent_reaches(study, expected)
    settings = study.training
    bound = caudal.train(
        study.problem, iterations=settings.iterations, seed=settings.seed, sampling=sampling,
        forward_passes=settings.forward_passes if forward_passes is None else forward_passes,
    ).lower_bound
    assert bound == pytest.approx(expected, rel=SAME)
    assert bound == pytest.approx(equivalent, rel=SAME)


def assert_equivalent_reaches(study: cobre.CobreStudy, expected: float) -> float:
    """The deterministic equivalent's cost equals ``expected`` (to ``SAME``); returns it."""
    equivalent = caudal.deterministic_equivalent(study.problem).objective
    assert equivalent == pytest.approx(expected, rel=SAME)
    return equivalent


def assert_fails_naming(case: Path, capsys: pytest.CaptureFixture, file: str, entity: str | None, field: str,
                        words: str) -> None:
    """Loading ``case`` fails naming the file, entity and field, and ``caudal train`` exits 2 with one line."""
    with pytest.raises(CaseError) as info:
        cobre.load_case(case)
    exc = info.value
    assert (exc.file, exc.entity, exc.field) == (file, entity, field), str(exc)
    assert words in str(exc)
    assert main(["train", str(case), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and file in err and field in err


def edit(case: Path, file: str, change: Callable[[dict], None]) -> None:
    """Apply ``change`` to the parsed JSON of ``case/file`` and write it back."""
    path = case / file
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
