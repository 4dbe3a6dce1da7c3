"""The annual component of PAR(p)-A inflow models (``scenarios/inflow_annual_component.parquet``).

PAR(p)-A adds to a season's PAR(p) model a term in the average inflow of the
twelve previous stages, ``A[t-1] = (1/12) sum_{j=1..12} a[t-j]``::

    z[t] = sum_l phi[l] z[t-l] + psi_A (A[t-1] - mu_A) / sigma_A + noise

with ``psi_A`` (``annual_coefficient``) and ``sigma_A`` (``annual_std_m3s``)
given per (hydro, stage). In original units this is a PAR(12) whose lag
``j`` coefficient is the classical one plus ``psi_hat / 12``, ``psi_hat =
psi_A * s[t] / sigma_A``; as in Cobre 0.5.1 the constant term uses the
seasonal means of the lagged stages (``mean[t] - sum_j coefficient[j] *
mean[t-j]``), so ``annual_mean_m3s`` is read and checked but does not enter the
model. A plant with an annual component therefore keeps twelve lags as state
variables; lags that ``past_inflows`` does not give start at 0 m3/s, which is
what Cobre does (its initial state is zero beyond the given values). Lagged
stages before the pre-study ones take the statistics of their season, counted
back from the first stage's season.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from caudal.hydro.cobre.case import AnnualComponent, Case
from caudal.hydro.cobre.errors import CaseError, unsupported
from caudal.hydro.cobre.files import FLOAT, INT, CaseFiles
from caudal.hydro.cobre.inflow_history import HISTORY
from caudal.hydro.cobre.inflows import InflowModel
from caudal.hydro.cobre.scenarios import AR_COEFFICIENTS, INFLOW_STATS

ANNUAL = "scenarios/inflow_annual_component.parquet"
ANNUAL_LAGS = 12
"""Stages averaged by the annual term (the model is written for monthly stages)."""


def read_annual_components(files: CaseFiles) -> dict[tuple[int, int], AnnualComponent]:
    """Rows keyed by (hydro id, stage id); empty when the file is absent."""
    if not files.exists(ANNUAL):
        return {}
    columns = ("annual_coefficient", "annual_mean_m3s", "annual_std_m3s")
    table = files.table(ANNUAL, {"hydro_id": INT, "stage_id": INT, **dict.fromkeys(columns, FLOAT)})
    rows: dict[tuple[int, int], AnnualComponent] = {}
    for h, s, coefficient, mean, std in zip(table["hydro_id"], table["stage_id"], *(table[c] for c in columns),
                                            strict=True):
        key = (int(h), int(s))
        where = f"hydro {key[0]}, stage {key[1]}"
        if key in rows:
            raise CaseError(ANNUAL, where, "stage_id", f"stage {key[1]} appears twice")
        if not std > 0:
            raise CaseError(ANNUAL, where, "annual_std_m3s", f"must be positive, got {std:g}")
        rows[key] = AnnualComponent(float(coefficient), float(mean), float(std))
    return rows


def add_annual_component(case: Case, model: InflowModel) -> InflowModel:
    """``model`` with the annual term of every (hydro, stage) that has one (unchanged when none has).

    The terms come from ``inflow_annual_component.parquet`` or, when the case
    estimates its model with ``"pacf_annual"``, from the fit (``case.annual_components``).
    """
    files = CaseFiles(case.root)
    given = read_annual_components(files)
    if given and files.exists(HISTORY) and not (files.exists(INFLOW_STATS) and files.exists(AR_COEFFICIENTS)):
        raise unsupported(ANNUAL, None, None, f"a given annual component next to a model estimated from {HISTORY}")
    annual = given or case.annual_components
    if not annual:
        return model
    known_hydros = {h.id for h in case.hydros}
    known_stages = {s.id for s in case.stages}
    annual = {key: row for key, row in annual.items() if key[1] not in case.pre_study}  # Cobre's export has them
    for hydro_id, stage_id in annual:
        if hydro_id not in known_hydros or stage_id not in known_stages:
            raise CaseError(ANNUAL, f"hydro {hydro_id}, stage {stage_id}", "hydro_id",
                            "names a hydro or stage the case does not have")
    width = max(ANNUAL_LAGS, model.psi.shape[2])
    psi = np.zeros(model.psi.shape[:2] + (width,))
    psi[:, :, : model.psi.shape[2]] = model.psi
    base = model.base.copy()
    n_lags = model.n_lags.copy()
    initial = list(model.initial_lags)
    for h, hydro in enumerate(case.hydros):
        rows = {t: annual[hydro.id, stage.id] for t, stage in enumerate(case.stages) if (hydro.id, stage.id) in annual}
        if not rows:
            continue
        n_lags[h] = max(int(n_lags[h]), ANNUAL_LAGS)
        past = case.past_inflows.get(hydro.id, ())
        initial[h] = tuple(past[: n_lags[h]]) + (0.0,) * max(0, int(n_lags[h]) - len(past))
        for t, row in rows.items():
            stage = case.stages[t]
            mean, std = _stats(case, hydro.id, stage.id)
            share = row.coefficient * std / row.std / ANNUAL_LAGS
            psi[t, h, :ANNUAL_LAGS] += share
            base[t, h] = mean - sum(psi[t, h, j] * _stats(case, hydro.id, stage.id - j - 1)[0]
                                    for j in range(int(n_lags[h])))
    return dataclasses.replace(model, n_lags=n_lags, base=base, psi=psi, initial_lags=tuple(initial))


def _stats(case: Case, hydro_id: int, stage_id: int) -> tuple[float, float]:
    """Seasonal statistics of a stage, by id, then by season (counted back from stage 0's before the study)."""
    found = case.inflow_stats.get(hydro_id, stage_id)
    if found is not None:
        return found
    season = _season(case, stage_id)
    for stage in case.stages:
        if stage.season_id == season and season is not None:
            found = case.inflow_stats.get(hydro_id, stage.id)
            if found is not None:
                return found
    raise CaseError(INFLOW_STATS, f"hydro {hydro_id}", "stage_id",
                    f"has no row for stage {stage_id} (nor its season), needed by the annual component")


def _season(case: Case, stage_id: int) -> int | None:
    if 0 <= stage_id < len(case.stages):
        return case.stages[stage_id].season_id
    if case.pre_study.get(stage_id) is not None:
        return case.pre_study[stage_id]
    seasons = [s.season_id for s in case.stages if s.season_id is not None]
    first = case.stages[0].season_id if case.stages else None
    if first is None or not seasons:
        return None
    return (first + stage_id) % (max(seasons) + 1)
