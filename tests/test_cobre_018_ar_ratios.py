"""Residual std ratios of PAR(p) models given as files in the 0.18 format, against Cobre 0.18.0's bounds.

Every case below is ``data/cobre/par-0.18/d26-estimated-par2`` given Cobre
0.18.0's own fit of it as files (``data/cobre/cobre-0.18.0-fits/d26-estimated-par2``:
statistics and AR coefficients, no ratio column) and changed as the test
says. Cobre 0.18.0's lower bounds (cobre-python 0.18.0, ``cobre.run.run(case,
output_dir=out, threads=1)``, equal to its upper bounds: one opening) were
measured on exactly these cases. "Dry" is every opening's noise at -1.5,
storage starting empty and the ``penalty`` inflow method, so that the inflow
noise, and with it the ratios, moves the cost. The rule the bounds pin down is
in ``format_018/ar_ratios.py``; before it caudal read a ratio of 1 and gave
the first case 1,836,589,198.92.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from cobre_cases import DATA, edit

import caudal
from caudal.hydro import cobre

D26 = DATA / "par-0.18" / "d26-estimated-par2"
FIT = DATA / "cobre-0.18.0-fits" / "d26-estimated-par2"
AR = "scenarios/inflow_ar_coefficients.parquet"
NOISE = "scenarios/noise_openings.parquet"
DEC_COEFFICIENT = 0.8914630010436574
"""December's fitted lag-1 coefficient (stages -1 and 11)."""


def _rewrite(case: Path, name: str, change: Callable[[pa.Table], pa.Table]) -> None:
    path = case / name
    pq.write_table(change(pq.read_table(path)), path)


def _set(stage: int, value: float) -> Callable[[Path], None]:
    def change(case: Path) -> None:
        def table(t: pa.Table) -> pa.Table:
            rows = t.to_pylist()
            (row,) = [r for r in rows if (r["stage_id"], r["lag"]) == (stage, 1)]
            row["coefficient"] = value
            return pa.Table.from_pylist(rows, schema=t.schema)
        _rewrite(case, AR, table)
    return change


def _drop(stage: int) -> Callable[[Path], None]:
    return lambda case: _rewrite(case, AR, lambda t: t.filter(pc.not_equal(t.column("stage_id"), stage)))


def _ratio_column(value: float) -> Callable[[Path], None]:
    return lambda case: _rewrite(case, AR, lambda t: t.append_column("residual_std_ratio",
                                                                     pa.array([value] * t.num_rows)))


def _dry(case: Path) -> None:
    _rewrite(case, NOISE, lambda t: t.set_column(3, "value", pa.array([-1.5] * t.num_rows)))
    edit(case, "initial_conditions.json", lambda c: c["storage"][0].update(value_hm3=0.0))
    edit(case, "config.json", lambda c: c["modeling"]["inflow_non_negativity"].update(method="penalty"))


def _three_months(december: float) -> Callable[[Path], None]:
    """January to March only, January PAR(2) (0.5, 0.3) on December and November, December's row changed.

    No study stage is in December, so its pre-study stage's row is the season's model.
    """
    def change(case: Path) -> None:
        edit(case, "stages.json", lambda c: c.update(stages=c["stages"][:3]))
        for name in (NOISE, "scenarios/load_seasonal_stats.parquet", "scenarios/inflow_seasonal_stats.parquet", AR):
            _rewrite(case, name, lambda t: t.filter(pc.less(t.column("stage_id"), 3)))
        _drop(0)(case)
        _rewrite(case, AR, lambda t: pa.concat_tables([t, pa.table({
            "hydro_id": pa.array([0, 0], pa.int32()), "stage_id": pa.array([0, 0], pa.int32()),
            "lag": pa.array([1, 2], pa.int32()), "coefficient": pa.array([0.5, 0.3])}, schema=t.schema)]))
        _set(-1, december)(case)
        _dry(case)
    return change


def _then(*changes: Callable[[Path], None]) -> Callable[[Path], None]:
    def change(case: Path) -> None:
        for step in changes:
            step(case)
    return change


CASES: dict[str, tuple[Callable[[Path], None], float]] = {
    "given": (lambda case: None, 50_607_484.90581009),  # the estimated case's bound
    "ratio column 0.5": (_ratio_column(0.5), 50_607_484.90581009),  # 1.0 gives it too: the column is ignored
    "dry": (_dry, 336_355_274.4213158),
    "dry, pre-study December 0.3": (_then(_set(-1, 0.3), _dry), 370_395_441.1490835),
    "dry, study December 0.3": (_then(_set(11, 0.3), _dry), 289_655_153.03717554),
    "dry, no pre-study December rows": (_then(_drop(-1), _dry), 373_525_980.6588225),
    "dry, no study December rows": (_then(_drop(11), _dry), 285_082_228.93434954),
    "three months": (_three_months(DEC_COEFFICIENT), 30_381_368.90293208),
    "three months, pre-study December 0.1": (_three_months(0.1), 33_799_377.173681706),
}
"""Each case's change and Cobre 0.18.0's lower bound on it."""


@pytest.mark.parametrize("name", sorted(CASES))
def test_given_coefficients_reach_cobre_018s_bound(tmp_path: Path, name: str) -> None:
    case = tmp_path / "d26"
    shutil.copytree(D26, case)
    for kind in ("inflow_seasonal_stats", "inflow_ar_coefficients"):
        shutil.copyfile(FIT / f"{kind}.parquet", case / "scenarios" / f"{kind}.parquet")
    change, bound = CASES[name]
    change(case)
    study = cobre.load_case(case)
    assert caudal.deterministic_equivalent(study.problem).objective == pytest.approx(bound, rel=1e-12)


def test_a_season_without_coefficients_on_its_first_stage_is_white_noise(tmp_path: Path) -> None:
    """December's study stage keeps its coefficient but takes the ratio 1 of its first stage's season."""
    case = tmp_path / "d26"
    shutil.copytree(D26, case)
    for kind in ("inflow_seasonal_stats", "inflow_ar_coefficients"):
        shutil.copyfile(FIT / f"{kind}.parquet", case / "scenarios" / f"{kind}.parquet")
    _drop(-1)(case)
    models = cobre.load_case(case).case.ar_models
    assert models[0, 11].coefficients == (pytest.approx(DEC_COEFFICIENT),)
    assert models[0, 11].residual_std_ratio == 1.0
    assert models[0, 10].residual_std_ratio == pytest.approx((1 - models[0, 10].coefficients[0] ** 2) ** 0.5)
