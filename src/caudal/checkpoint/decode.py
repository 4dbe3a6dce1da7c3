"""FlatBuffer payload to :class:`~caudal.checkpoint.contents.Checkpoint`, with consistency checks.

Arrays come out as zero-copy numpy views of the payload (the generated
``...AsNumpy()`` accessors). FlatBuffers' Python runtime has no verifier, so a
payload that passed its checksum is still checked for the shapes the rest of
caudal relies on (offsets, lengths, one entry per stage); anything odd becomes a
:class:`CheckpointError` instead of an ``IndexError`` deep in a resume.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from caudal.checkpoint.contents import (
    Checkpoint,
    SavedBasis,
    SavedCase,
    SavedCutPool,
    SavedHistory,
    SavedOptions,
    WorkerInfo,
    WriterInfo,
)
from caudal.checkpoint.errors import CheckpointError
from caudal.checkpoint.fingerprint import STAGE_DIGEST_SIZE
from caudal.checkpoint.generated import checkpoint_generated as fb

MAX_STATUS = 4
"""The largest basis status HiGHS knows (``caudal.solver.workspace.NONBASIC``).

A saved basis may hold more basic variables than rows (a refresh that drops a
nonbasic cut row leaves it so, and HiGHS repairs it), so only the statuses
themselves are checked here."""

_EMPTY = {
    "<f8": np.empty(0, dtype="<f8"),
    "<i8": np.empty(0, dtype="<i8"),
    "<i4": np.empty(0, dtype="<i4"),
    "u1": np.empty(0, dtype="u1"),
    "?": np.empty(0, dtype="?"),
}


def _array(value: Any, dtype: str) -> np.ndarray:
    """A generated ``...AsNumpy()`` result; an absent vector comes back as the int 0."""
    if isinstance(value, np.ndarray):
        return value
    return _EMPTY[dtype]


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


class _Problem(Exception):
    """An inconsistency found while decoding (turned into a CheckpointError with the path)."""


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise _Problem(problem)


def decode_checkpoint(path: str | os.PathLike | None, payload: Any, format_version: int, size_bytes: int) -> Checkpoint:
    """Decode a verified payload; raise :class:`CheckpointError` if it is inconsistent."""
    try:
        return _decode(path, payload, format_version, size_bytes)
    except CheckpointError:
        raise
    except _Problem as problem:
        raise CheckpointError(path, f"inconsistent payload: {problem}", "payload") from None
    except Exception as error:  # a FlatBuffer that verifies but does not decode
        raise CheckpointError(path, f"payload does not decode ({type(error).__name__}: {error})", "payload") from error


def _decode(path: str | os.PathLike | None, payload: Any, format_version: int, size_bytes: int) -> Checkpoint:
    _require(fb.Checkpoint.CheckpointBufferHasIdentifier(payload, 0), "missing file identifier 'CDCK'")
    root = fb.Checkpoint.GetRootAs(payload, 0)
    _require(
        root.FormatVersion() == format_version,
        f"payload says format {root.FormatVersion()}, header says {format_version}",
    )
    case_table = root.CaseSummary()
    _require(case_table is not None, "no case summary")
    case = _case(case_table)
    n_stages, n_states = case.n_stages, case.n_states
    options = _options(root.Options())
    iteration = int(root.Iteration())
    rng = root.Rng()
    _require(rng is not None, "no RNG state")
    history = _history(root.History())
    _require(len(history) == iteration, f"{len(history)} history rows for {iteration} iterations")
    _require(root.CutPoolsLength() == n_stages, f"{root.CutPoolsLength()} cut pools for {n_stages} stages")
    _require(root.BasesLength() == n_stages, f"{root.BasesLength()} bases for {n_stages} stages")
    n_visited = root.VisitedStatesLength()
    _require(n_visited in (0, n_stages), f"{n_visited} visited-state tables for {n_stages} stages")
    pools = tuple(_cut_pool(root.CutPools(t), t, n_states) for t in range(n_stages))
    bases = tuple(_basis(root.Bases(t), t, pools[t].n_cuts) for t in range(n_stages))
    visited = tuple(_visited(root.VisitedStates(t), t, n_states) for t in range(n_visited))
    if not visited:
        visited = tuple(np.empty((0, n_states)) for _ in range(n_stages))
    return Checkpoint(
        path=Path(path) if path is not None else None,
        size_bytes=size_bytes,
        format_version=format_version,
        case_fingerprint=_array(root.CaseFingerprintAsNumpy(), "u1").tobytes(),
        options_fingerprint=_array(root.OptionsFingerprintAsNumpy(), "u1").tobytes(),
        case=case,
        options=options,
        iteration=iteration,
        rng_seed=int(rng.Seed()),
        rng_next_iteration=int(rng.NextIteration()),
        history=history,
        cut_pools=pools,
        bases=bases,
        visited_states=visited,
        writer=_writer(root.Writer()),
        warm_start=_text(root.WarmStart()),
    )


def _case(table: Any) -> SavedCase:
    n_stages, n_states = int(table.NStages()), int(table.NStates())
    _require(table.StateNamesLength() == n_states, f"{table.StateNamesLength()} state names for {n_states} states")
    names = tuple(_text(table.StateNames(k)) for k in range(n_states))
    initial = _array(table.InitialStateAsNumpy(), "<f8")
    digests = _array(table.StageDigestsAsNumpy(), "u1")
    _require(n_stages >= 1 and n_states >= 1, f"case with {n_stages} stages and {n_states} states")
    _require(initial.shape == (n_states,), f"initial state of length {initial.size} for {n_states} states")
    _require(digests.size == n_stages * STAGE_DIGEST_SIZE, "stage digests do not match the stage count")
    return SavedCase(_text(table.Name()), n_stages, n_states, names, float(table.Sign()), initial, digests)


def _options(table: Any) -> SavedOptions:
    _require(table is not None, "no run options")
    extra = {}
    for k in range(table.ExtraLength()):
        entry = table.Extra(k)
        extra[_text(entry.Key())] = _text(entry.Value())
    time_limit = table.TimeLimit()
    return SavedOptions(
        iterations=int(table.Iterations()),
        forward_passes=int(table.ForwardPasses()),
        seed=int(table.Seed()),
        time_limit=None if time_limit is None else float(time_limit),
        extra=extra,
    )


def _history(table: Any) -> SavedHistory:
    _require(table is not None, "no history")
    history = SavedHistory(
        iteration=_array(table.IterationAsNumpy(), "<i8"),
        lower_bound=_array(table.LowerBoundAsNumpy(), "<f8"),
        upper_bound_mean=_array(table.UpperBoundMeanAsNumpy(), "<f8"),
        upper_bound_low=_array(table.UpperBoundLowAsNumpy(), "<f8"),
        upper_bound_high=_array(table.UpperBoundHighAsNumpy(), "<f8"),
        time_s=_array(table.TimeSAsNumpy(), "<f8"),
        lp_solves=_array(table.LpSolvesAsNumpy(), "<i8"),
    )
    n = len(history)
    for name in ("lower_bound", "upper_bound_mean", "upper_bound_low", "upper_bound_high", "time_s", "lp_solves"):
        _require(getattr(history, name).shape == (n,), f"history column {name} is not {n} long")
    return history


def _cut_pool(table: Any, stage: int, n_states: int) -> SavedCutPool:
    pool = SavedCutPool(
        stage=int(table.Stage()),
        n_states=int(table.NStates()),
        intercepts=_array(table.InterceptsAsNumpy(), "<f8"),
        row_offsets=_array(table.RowOffsetsAsNumpy(), "<i8"),
        column_indices=_array(table.ColumnIndicesAsNumpy(), "<i4"),
        values=_array(table.ValuesAsNumpy(), "<f8"),
        iteration=_array(table.IterationAsNumpy(), "<i8"),
        forward_pass=_array(table.ForwardPassAsNumpy(), "<i8"),
        active=_array(table.ActiveAsNumpy(), "?"),
        target=_array(table.TargetAsNumpy(), "<i4"),
    )
    where = f"stage {stage} cut pool"
    n = pool.n_cuts
    if table.TargetIsNone():  # single-cut, or written before multi-cut: every cut bounds theta
        pool = dataclasses.replace(pool, target=np.zeros(n, dtype="<i4"))
    _require(pool.target.shape == (n,), f"{where}: target is not {n} long")
    _require(n == 0 or int(pool.target.min()) >= 0, f"{where}: a negative cut target")
    _require(pool.stage == stage, f"{where} is labelled stage {pool.stage}")
    _require(pool.n_states == n_states, f"{where} has {pool.n_states} states, the case {n_states}")
    for name in ("iteration", "forward_pass", "active"):
        _require(getattr(pool, name).shape == (n,), f"{where}: {name} is not {n} long")
    offsets = pool.row_offsets
    _require(offsets.shape == (n + 1,), f"{where}: {offsets.size} row offsets for {n} cuts")
    _require(int(offsets[0]) == 0 and bool(np.all(np.diff(offsets) >= 0)), f"{where}: row offsets not ascending")
    nnz = int(offsets[-1])
    _require(
        pool.column_indices.shape == (nnz,) and pool.values.shape == (nnz,),
        f"{where}: {pool.column_indices.size} column indices and {pool.values.size} values for {nnz}",
    )
    columns = pool.column_indices
    _require(
        nnz == 0 or (int(columns.min()) >= 0 and int(columns.max()) < n_states),
        f"{where}: a column index is outside 0..{n_states - 1}",
    )
    return pool


def _basis(table: Any, stage: int, n_cuts: int) -> SavedBasis:
    """The basis table of a stage whose pool holds ``n_cuts`` cuts."""
    basis = SavedBasis(
        stage=int(table.Stage()),
        col_status=_array(table.ColStatusAsNumpy(), "u1"),
        row_status=_array(table.RowStatusAsNumpy(), "u1"),
        cut_ids=_array(table.CutIdsAsNumpy(), "<i8"),
    )
    where = f"stage {stage} basis"
    _require(basis.stage == stage, f"{where} is labelled stage {basis.stage}")
    ids = basis.cut_ids
    _require(basis.row_status.size >= ids.size, f"{where}: fewer rows than cut rows")
    _require(
        ids.size == 0 or (int(ids.min()) >= 0 and int(ids.max()) < n_cuts),
        f"{where}: refers to cuts the pool does not have",
    )
    for name, status in (("column", basis.col_status), ("row", basis.row_status)):
        _require(status.size == 0 or int(status.max()) <= MAX_STATUS,
                 f"{where}: {name} status {int(status.max()) if status.size else 0} is not a basis status (0..4)")
    return basis


def _visited(table: Any, stage: int, n_states: int) -> np.ndarray:
    values = _array(table.ValuesAsNumpy(), "<f8")
    _require(int(table.Stage()) == stage, f"visited states of stage {stage} labelled {table.Stage()}")
    width = int(table.NStates())
    _require(width == n_states, f"visited states of stage {stage}: {width} columns for {n_states} states")
    _require(values.size % n_states == 0, f"visited states of stage {stage}: not a whole number of rows")
    return values.reshape(-1, n_states)


def _writer(table: Any) -> WriterInfo:
    if table is None:
        return WriterInfo("unknown", "unknown", -1, float("nan"), 1, 1)
    workers = []
    for k in range(table.WorkersLength()):
        w = table.Workers(k)
        workers.append(WorkerInfo(int(w.Rank()), int(w.Thread()), _text(w.Hostname()), int(w.Cpu())))
    return WriterInfo(
        caudal_version=_text(table.CaudalVersion()),
        hostname=_text(table.Hostname()),
        pid=int(table.Pid()),
        written_at=float(table.WrittenAt()),
        ranks=int(table.Ranks()),
        threads_per_rank=int(table.ThreadsPerRank()),
        workers=tuple(workers),
    )
