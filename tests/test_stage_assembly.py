"""The cut-row assembler builds the very arrays of the general stage LP builder, faster."""

from __future__ import annotations

import numpy as np
import pytest
from hydro_problems import random_hydro

from caudal.model.objective_scale import solver_form
from caudal.model.stage_lp import ReserveCuts, assemble_stage_lp
from caudal.sddp.stage_assembly import CutRowAssembler, serves

FIELDS = ("num_rows", "col_start", "row_index", "values", "row_lower", "row_upper", "cut_ids", "version")


@pytest.mark.parametrize("n_cuts", [0, 1, 7, 40])
def test_the_assembler_builds_the_general_builders_arrays(n_cuts: int) -> None:
    rng = np.random.default_rng(n_cuts)
    problem = random_hydro(3, 4, 5, seed=3).compile()
    for template in problem.templates:
        assert serves(template)
        assembler = CutRowAssembler(template)
        intercepts = rng.normal(size=n_cuts) * 1e6
        coefficients = rng.normal(size=(n_cuts, template.n_states))
        ids = np.sort(rng.choice(3 * n_cuts + 1, size=n_cuts, replace=False))
        reserve = ReserveCuts(np.array([0]), intercepts, coefficients, np.zeros(n_cuts, dtype=np.int32))
        fast = assembler.assemble(intercepts, coefficients, ids, 17, reserve)
        general = assemble_stage_lp(template, intercepts, coefficients, ids, 17, None, reserve)
        for field in FIELDS:
            mine, theirs = getattr(fast, field), getattr(general, field)
            assert np.array_equal(mine, theirs), field
            assert np.asarray(mine).dtype == np.asarray(theirs).dtype, field
        assert fast.template is template and fast.reserve is reserve
        # the solver form (objective scaled) the assembler hands over is the one the LP would compute
        given, computed = fast.solver_form, solver_form(general)
        assert given.scale == computed.scale and (n_cuts == 0 or computed.scale != 1.0)
        for field in ("col_cost", "col_lower", "col_upper", "values", "row_lower", "row_upper", "value_cols",
                      "row_dual_factor"):
            assert np.array_equal(getattr(given, field), getattr(computed, field)), field
            assert getattr(given, field).dtype == getattr(computed, field).dtype, field


def test_multi_cut_stages_are_left_to_the_general_builder() -> None:
    problem = random_hydro(2, 3, 3, seed=1).compile().with_multi_cut()
    assert not serves(problem.templates[0])
    with pytest.raises(ValueError, match="single-cut"):
        CutRowAssembler(problem.templates[0])
