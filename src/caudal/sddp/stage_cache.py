"""The stage LP cache and the canonical warm-start bases.

Every worker loads stage ``t`` from one immutable :class:`StageLP` (template plus
active cuts). The cache is rebuilt for a stage only when its cuts change, and
each rebuild gets a new version number so workspaces know to reload.

The canonical basis of a stage is what every work item at that stage starts
from. It is kept aligned with the stage's LP: when cuts are added their rows
enter as basic, when cuts leave their rows are dropped.

With :class:`~caudal.sddp.working_set.WorkingSets` (training gives them), a
stage LP's rows are its working cuts and the other active cuts are its reserve;
without, every active cut is a row.
"""

from __future__ import annotations

import itertools

import numpy as np

from caudal.model.problem import CompiledProblem
from caudal.model.stage_lp import ReserveCuts, StageLP, assemble_stage_lp
from caudal.sddp.cuts import CutPool
from caudal.sddp.stage_assembly import CutRowAssembler, serves
from caudal.sddp.working_set import WorkingSets
from caudal.solver.workspace import BASIC, Basis

try:
    from caudal._stage_rows import carry_row_statuses
except ImportError:  # not built: _carried_row_statuses gives the same statuses in numpy
    carry_row_statuses = None

_VERSIONS = itertools.count(1)


def next_version() -> int:
    """A version number no other stage LP of this process has had.

    Workspaces reload an LP when its version differs from the one they hold,
    so versions must never repeat, not even across caches (a resumed run
    builds a new cache).
    """
    return next(_VERSIONS)


class StageCache:
    """Current LP and canonical basis of every stage."""

    def __init__(self, problem: CompiledProblem, pools: list[CutPool], working_sets: WorkingSets | None = None):
        self.problem = problem
        self.pools = pools
        self.working_sets = working_sets
        self._version = 0
        # single-cut stages are rebuilt by an assembler that did the template's share once
        self._assemblers = [CutRowAssembler(template) if serves(template) else None for template in problem.templates]
        self.lps: list[StageLP] = []
        self.bases: list[Basis] = []
        for t in range(problem.n_stages):
            lp = self._assemble(t)
            self.lps.append(lp)
            self.bases.append(Basis.slack(lp))

    def _assemble(self, t: int) -> StageLP:
        pool = self.pools[t]
        ids, reserve = self.cut_rows(t)
        self._version = next_version()
        assembler = self._assemblers[t]
        if assembler is not None:
            return assembler.assemble(pool.intercepts[ids], pool.coefficients[ids], ids, self._version, reserve)
        return assemble_stage_lp(
            self.problem.templates[t], pool.intercepts[ids], pool.coefficients[ids], ids, self._version,
            pool.targets[ids], reserve,
        )

    def cut_rows(self, t: int) -> tuple[np.ndarray, ReserveCuts | None]:
        """The ids of the cuts that are rows of stage ``t``'s LP, and its reserve cuts (if any)."""
        pool = self.pools[t]
        if self.working_sets is None:
            return pool.active_ids(), None
        ids, reserve_ids = self.working_sets.split(t, pool)
        if reserve_ids.size == 0:
            return ids, None
        return ids, ReserveCuts(reserve_ids, pool.intercepts, pool.coefficients, pool.targets)

    def refresh(self, t: int) -> None:
        """Rebuild stage ``t``'s LP from its pool and realign its basis."""
        old_lp, old_basis = self.lps[t], self.bases[t]
        lp = self._assemble(t)
        self.lps[t] = lp
        self.bases[t] = realign_basis(old_basis, old_lp.cut_ids, lp)

    def set_basis(self, t: int, basis: Basis) -> None:
        if basis.row_status.shape[0] != self.lps[t].num_rows:
            raise ValueError(f"stage {t}: basis has {basis.row_status.shape[0]} rows, LP has {self.lps[t].num_rows}")
        self.bases[t] = basis


def realign_basis(basis: Basis, cut_ids: np.ndarray, lp: StageLP) -> Basis:
    """Carry a basis whose cut rows are ``cut_ids`` onto ``lp``'s cuts: kept cuts keep their status.

    A dropped cut whose row was nonbasic leaves the basis one short; the slack
    basis, always valid, replaces it then.
    """
    carried = carry_cut_rows(basis, cut_ids, lp)
    return Basis.slack(lp) if carried is None else carried


def carry_basis(basis: Basis, old_lp: StageLP, new_lp: StageLP) -> Basis | None:
    """``basis`` of ``old_lp`` for ``new_lp`` (new cuts basic), or ``None`` if that leaves it short."""
    if new_lp is old_lp:
        return basis
    return carry_cut_rows(basis, old_lp.cut_ids, new_lp)


def carry_cut_rows(basis: Basis, cut_ids: np.ndarray, lp: StageLP, native: bool = True) -> Basis | None:
    """A basis whose cut rows are ``cut_ids`` (ascending), on ``lp``'s rows, or ``None`` if that leaves it short.

    Kept cuts keep their status, new cuts are basic, dropped cuts leave. The
    compiled ``carry_row_statuses`` (``native/_stage_rows.pyx``) does the row
    walk in one call when it is built and ``native`` holds: it runs once per
    trial state and once per rebuild, serial, between backward stages.
    """
    n_template = lp.template.num_rows
    if native and carry_row_statuses is not None:
        row_status = np.empty(lp.num_rows, dtype=np.uint8)
        n_basic_rows = carry_row_statuses(np.ascontiguousarray(basis.row_status), n_template,
                                          np.asarray(cut_ids, dtype=np.int64), lp.cut_ids, row_status)
    else:
        row_status = _carried_row_statuses(basis.row_status, n_template, cut_ids, lp)
        n_basic_rows = int(np.count_nonzero(row_status == BASIC))
    realigned = Basis(basis.col_status.copy(), row_status)
    n_basic = int(np.count_nonzero(realigned.col_status == BASIC)) + n_basic_rows
    return realigned if n_basic == lp.num_rows else None


def _carried_row_statuses(old_rows: np.ndarray, n_template: int, cut_ids: np.ndarray, lp: StageLP) -> np.ndarray:
    """The row statuses of :func:`carry_cut_rows` in numpy: the compiled kernel's reference."""
    row_status = np.full(lp.num_rows, BASIC, dtype=np.uint8)
    row_status[:n_template] = old_rows[:n_template]
    if cut_ids.size:
        position = np.searchsorted(cut_ids, lp.cut_ids)
        position = np.minimum(position, cut_ids.size - 1)
        kept = cut_ids[position] == lp.cut_ids
        row_status[n_template:][kept] = old_rows[n_template + position[kept]]
    return row_status
