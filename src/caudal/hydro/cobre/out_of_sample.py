"""Training's ``out_of_sample`` inflow scheme: forward passes on noise the backward pass never sees.

Cobre's out-of-sample scheme runs the forward passes on inflows drawn from the
same inflow model as the opening tree but independently of it, so the trial
states are not the tree's own points. caudal draws, per stage, a second set of
standard normals of the tree's size from its own stream (keyed by the tree
seed and a purpose of its own, never the tree's stream), turns them into
inflows exactly as the tree's noise is turned (by building the stage LPs on
them with formulation.py and keeping their inflow parameters), and compiles
them as forward-only realisations (``Problem.compile(forward_realisations=...)``),
each equally likely. The draws are caudal's, not Cobre's (another generator):
bounds agree with Cobre's where the forward draws do not decide them.

Random loads would need their own forward scheme: with them the inflow scheme
``out_of_sample`` is refused by name.
"""

from __future__ import annotations

import numpy as np

from caudal.hydro.cobre.case import Case
from caudal.hydro.cobre.errors import unsupported
from caudal.hydro.cobre.external_inflows import CONFIG, SCHEME_FIELD
from caudal.hydro.cobre.formulation import TRUNCATING, build_problem
from caudal.hydro.cobre.inflows import InflowModel, check_truncation_is_exact
from caudal.hydro.cobre.openings import NoiseEntities, correlated

OUT_OF_SAMPLE = "out_of_sample"
FORWARD_NOISE = 11
"""The purpose key of the out-of-sample stream (the opening tree's is openings.OPENING_TREE)."""


def uses_out_of_sample_inflows(case: Case) -> bool:
    return case.settings.training.inflow_scheme == OUT_OF_SAMPLE


def out_of_sample_noise(case: Case, entities: NoiseEntities, seed: int) -> list[np.ndarray]:
    """Per stage, float64[openings, entities] of standard normals drawn apart from the opening tree."""
    return [
        correlated(case, stage.id, entities, np.random.default_rng(
            np.random.SeedSequence([int(seed), FORWARD_NOISE, t])).standard_normal((stage.openings, entities.size)))
        for t, stage in enumerate(case.stages)
    ]


def out_of_sample_inflows(
    case: Case, inflows: InflowModel, entities: NoiseEntities, seed: int
) -> list[dict[str, np.ndarray]] | None:
    """Per stage, each inflow parameter's out-of-sample realisations, or ``None`` without the scheme."""
    if not uses_out_of_sample_inflows(case):
        return None
    if entities.load_buses:
        raise unsupported(CONFIG, None, SCHEME_FIELD, f"the {OUT_OF_SAMPLE!r} inflow scheme with random loads")
    noise = out_of_sample_noise(case, entities, seed)
    if case.settings.inflow_method in TRUNCATING:
        check_truncation_is_exact(case, inflows, noise)  # the forward draws must not clamp lagged inflows either
    forward, _ = build_problem(case, inflows, noise, entities, name="out-of-sample")
    return [stage.uncertain for stage in forward.stages]
