"""What a checkpoint holds, decoded: plain dataclasses of numpy arrays.

The arrays of a :class:`Checkpoint` read from disk are zero-copy views into the
file (read-only, over ``mmap`` or bytes); :func:`caudal.checkpoint.restore_state`
copies them into fresh cut pools, so the views may be dropped after a resume.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from caudal.sddp.training import IterationRecord


@dataclass(frozen=True)
class SavedOptions:
    """The options of the run that wrote the checkpoint."""

    iterations: int
    forward_passes: int
    seed: int
    time_limit: float | None
    extra: dict[str, str] = field(default_factory=dict)  # other options, as canonical text


@dataclass(frozen=True)
class SavedCase:
    """The case summary used to say what differs when fingerprints do not match."""

    name: str
    n_stages: int
    n_states: int
    state_names: tuple[str, ...]
    sign: float
    initial_state: np.ndarray  # float64[n_states]
    stage_digests: np.ndarray  # uint8[n_stages * 16]


@dataclass(frozen=True)
class SavedHistory:
    """The convergence history as columns (one entry per completed iteration)."""

    iteration: np.ndarray  # int64
    lower_bound: np.ndarray  # float64
    upper_bound_mean: np.ndarray
    upper_bound_low: np.ndarray
    upper_bound_high: np.ndarray
    time_s: np.ndarray
    lp_solves: np.ndarray  # int64

    def __len__(self) -> int:
        return int(self.iteration.shape[0])

    def records(self) -> list[IterationRecord]:
        """The history as the training loop keeps it."""
        return [
            IterationRecord(
                iteration=int(self.iteration[k]),
                lower_bound=float(self.lower_bound[k]),
                upper_bound_mean=float(self.upper_bound_mean[k]),
                upper_bound_low=float(self.upper_bound_low[k]),
                upper_bound_high=float(self.upper_bound_high[k]),
                time_s=float(self.time_s[k]),
                lp_solves=int(self.lp_solves[k]),
            )
            for k in range(len(self))
        ]


@dataclass(frozen=True)
class SavedCutPool:
    """The cuts of one stage; coefficients in CSR form (cut rows, state columns), or dense.

    A stage file of a checkpoint directory may hold the coefficients as a dense
    matrix instead (``dense``, when that is the smaller form); the CSR arrays
    are then empty. Read them through :meth:`dense_coefficients`.
    """

    stage: int
    n_states: int
    intercepts: np.ndarray  # float64[n_cuts]
    row_offsets: np.ndarray  # int64[n_cuts + 1]
    column_indices: np.ndarray  # int32[nnz]
    values: np.ndarray  # float64[nnz]
    iteration: np.ndarray  # int64[n_cuts]
    forward_pass: np.ndarray  # int64[n_cuts]
    active: np.ndarray  # bool[n_cuts]
    target: np.ndarray  # int32[n_cuts]: the value-function column each cut bounds (0: theta)
    dense: np.ndarray | None = None  # float64[n_cuts, n_states], instead of the CSR arrays

    @property
    def n_cuts(self) -> int:
        return int(self.intercepts.shape[0])

    @property
    def n_active(self) -> int:
        return int(np.count_nonzero(self.active))

    def dense_coefficients(self) -> np.ndarray:
        """float64[n_cuts, n_states]: the coefficients with the omitted entries as +0.0.

        A pool saved dense gives its (read-only, zero-copy) matrix itself.
        """
        if self.dense is not None:
            return self.dense
        dense = np.zeros((self.n_cuts, self.n_states))
        rows = np.repeat(np.arange(self.n_cuts), np.diff(self.row_offsets))
        dense[rows, self.column_indices] = self.values
        return dense


@dataclass(frozen=True)
class SavedBasis:
    """The canonical basis of one stage; its rows are the template's, then the cuts in ``cut_ids``."""

    stage: int
    col_status: np.ndarray  # uint8[num_cols]
    row_status: np.ndarray  # uint8[template rows + len(cut_ids)]
    cut_ids: np.ndarray  # int64[n_cut_rows]


@dataclass(frozen=True)
class WorkerInfo:
    """One worker (rank, thread) of the run that wrote the checkpoint."""

    rank: int
    thread: int
    hostname: str
    cpu: int = -1


@dataclass(frozen=True)
class WriterInfo:
    """Who wrote the checkpoint, where and when (informative only)."""

    caudal_version: str
    hostname: str
    pid: int
    written_at: float  # seconds since the Unix epoch
    ranks: int
    threads_per_rank: int
    workers: tuple[WorkerInfo, ...] = ()


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint, decoded."""

    path: Path | None
    size_bytes: int
    format_version: int
    case_fingerprint: bytes
    options_fingerprint: bytes
    case: SavedCase
    options: SavedOptions
    iteration: int  # iterations completed
    rng_seed: int
    rng_next_iteration: int
    history: SavedHistory
    cut_pools: tuple[SavedCutPool, ...]
    bases: tuple[SavedBasis, ...]
    visited_states: tuple[np.ndarray, ...]  # float64[rows, n_states] per stage; rows may be 0
    writer: WriterInfo
    files: int = 1  # files read: 1, or a checkpoint directory's manifest and stage files
    warm_start: str = ""  # where the run's first cuts came from ("": it started with none)

    @property
    def lower_bound(self) -> float | None:
        """The last bound, in the problem's own sense (None before the first iteration)."""
        return float(self.history.lower_bound[-1]) if len(self.history) else None

    @property
    def n_cuts(self) -> int:
        return sum(pool.n_cuts for pool in self.cut_pools)
