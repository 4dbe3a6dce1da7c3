"""The backward pass's inflow statistics under 0.18's ``external`` inflow scheme.

Cobre 0.18 changed what the external scheme means. In 0.5.x only the forward
passes take ``scenarios/external_inflow_scenarios.parquet`` and the cuts are
built on the opening tree of ``inflow_seasonal_stats.parquet``. Cobre 0.18.0
builds the tree from the external scenarios themselves: each (hydro, stage)
gets the mean and the population standard deviation (divisor N) of its
external scenarios, and the tree's noise (drawn, or read from
``noise_openings.parquet``) is scaled by them; ``inflow_seasonal_stats.parquet``
is not read at all (measured by running Cobre 0.18.0 on d28 converted to 0.18:
684.8652832950687 with the file, with other statistics in it, and without it,
and the same figure from caudal's deterministic equivalent on those inflows;
a stage of one scenario is that scenario, whatever the noise). The forward
passes take the scenarios as in 0.5.x (``external_inflows.py``).
"""

from __future__ import annotations

from caudal.hydro.cobre.case import Case, SeriesStats
from caudal.hydro.cobre.errors import CaseError
from caudal.hydro.cobre.external_inflows import (
    CONFIG,
    EXTERNAL,
    EXTERNAL_INFLOWS,
    SCHEME_FIELD,
    inflow_parameter,
    read_external_tables,
    uses_external_inflows,
)
from caudal.hydro.cobre.files import CaseFiles


def external_inflow_stats(case: Case) -> SeriesStats | None:
    """Each (hydro, stage)'s mean and population deviation of its external scenarios; ``None`` without the scheme.

    The table is checked first (every plant and stage has scenarios 0, 1, ..., a file error naming the row
    otherwise), so a hole in it is never reported as a missing seasonal statistic.
    """
    if not uses_external_inflows(case):
        return None
    if not CaseFiles(case.root).exists(EXTERNAL_INFLOWS):
        raise CaseError(CONFIG, None, SCHEME_FIELD, f"is {EXTERNAL!r} but {EXTERNAL_INFLOWS} is missing")
    means: dict[tuple[int, int], float] = {}
    stds: dict[tuple[int, int], float] = {}
    for stage, per_hydro in zip(case.stages, read_external_tables(case), strict=True):
        for hydro in case.hydros:
            values = per_hydro[inflow_parameter(hydro.id)]
            means[(hydro.id, stage.id)] = float(values.mean())
            stds[(hydro.id, stage.id)] = float(values.std())  # ddof=0: Cobre 0.18.0's divisor N
    return SeriesStats(means, stds)
