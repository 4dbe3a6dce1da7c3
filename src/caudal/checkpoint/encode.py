"""Training state to FlatBuffer payload (the inverse of :mod:`caudal.checkpoint.decode`).

Arrays go into the buffer as raw little-endian bytes, so every float keeps its
exact bits. Cut coefficients are stored in CSR form: only entries whose bits are
all zero (+0.0) are left out, so a -0.0 survives the round trip too.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flatbuffers
import numpy as np

from caudal._version import __version__
from caudal.checkpoint.errors import CheckpointError
from caudal.checkpoint.fingerprint import (
    OPTIONS_FREE_TO_CHANGE,
    canonical_text,
    case_fingerprint,
    options_fingerprint,
    policy_options,
    stage_digests,
)
from caudal.checkpoint.framing import FORMAT_VERSION
from caudal.checkpoint.generated import checkpoint_generated as fb
from caudal.sddp.cuts import CutPool
from caudal.sddp.records import HISTORY_COLUMNS
from caudal.sddp.training import TrainingOptions, TrainingState

_TYPED_OPTIONS = ("iterations", "forward_passes", "seed", "time_limit")


def cut_pool_csr(pool: CutPool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row_offsets int64, column_indices int32, values float64) of a pool's coefficients."""
    return coefficients_csr(np.ascontiguousarray(pool.coefficients, dtype=np.float64))


def coefficients_csr(coefficients: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row_offsets, column_indices, values) of contiguous float64 rows, leaving out +0.0 only."""
    rows, columns = np.nonzero(coefficients.view(np.uint64))
    offsets = np.zeros(coefficients.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=coefficients.shape[0]), out=offsets[1:])
    return offsets, columns.astype(np.int32), coefficients[rows, columns]


def _vector(builder: flatbuffers.Builder, array: np.ndarray, dtype: str) -> int:
    return builder.CreateNumpyVector(np.ascontiguousarray(array, dtype=dtype).reshape(-1))


def _strings(builder: flatbuffers.Builder, texts: Sequence[str], start_vector: Any) -> int:
    offsets = [builder.CreateString(text) for text in texts]
    start_vector(builder, len(offsets))
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _tables(builder: flatbuffers.Builder, offsets: Sequence[int], start_vector: Any) -> int:
    start_vector(builder, len(offsets))
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _estimate_size(state: TrainingState, visited: Sequence[np.ndarray]) -> int:
    """Bytes the builder will need, so it does not grow (and copy) repeatedly."""
    total = 1 << 16
    for pool in state.pools:
        total += pool.size * (8 + 8 + 8 + 8 + 1 + 4 + pool.n_states * 12) + 256
    for basis in state.cache.bases:
        total += basis.col_status.nbytes + basis.row_status.nbytes * 9 + 256
    total += sum(np.asarray(v).nbytes for v in visited) + 64 * len(visited)
    total += len(state.history) * 64
    return min(total, flatbuffers.Builder.MAX_BUFFER_SIZE)


def encode_checkpoint(
    state: TrainingState,
    options: TrainingOptions,
    layout: Mapping[str, Any] | None = None,
    visited_states: Sequence[np.ndarray] | None = None,
) -> memoryview:
    """The FlatBuffer payload of a checkpoint of ``state`` (a view into the builder's buffer).

    Visited states come from ``visited_states`` if given, else from the state's
    own archives (``state.visited``), which cut selection needs on resume.
    """
    problem = state.problem
    if visited_states is None:
        visited_states = [archive.states for archive in state.visited]
    visited = _visited(problem.n_stages, problem.n_states, visited_states)
    builder = flatbuffers.Builder(_estimate_size(state, visited))
    try:
        root = _checkpoint(builder, state, options, layout or {}, visited)
        builder.Finish(root, file_identifier=b"CDCK")
    except flatbuffers.builder.BuilderSizeError as error:
        raise CheckpointError(None, "the checkpoint would exceed the 2 GiB limit of one FlatBuffer", "size") from error
    return memoryview(builder.Bytes)[builder.Head() :]


def _visited(n_stages: int, n_states: int, visited: Sequence[np.ndarray] | None) -> list[np.ndarray]:
    if visited is None:
        return [np.empty((0, n_states)) for _ in range(n_stages)]
    if len(visited) != n_stages:
        raise ValueError(f"visited_states has {len(visited)} entries for {n_stages} stages")
    arrays = [np.asarray(v, dtype=np.float64).reshape(-1, n_states) for v in visited]
    return arrays


def _checkpoint(
    builder: flatbuffers.Builder,
    state: TrainingState,
    options: TrainingOptions,
    layout: Mapping[str, Any],
    visited: list[np.ndarray],
) -> int:
    problem = state.problem
    header = checkpoint_header(builder, state, options)
    pools = _tables(
        builder, [_cut_pool(builder, t, p) for t, p in enumerate(state.pools)], fb.CheckpointStartCutPoolsVector
    )
    bases = _tables(
        builder, [_basis(builder, t, state) for t in range(problem.n_stages)], fb.CheckpointStartBasesVector
    )
    visits = _tables(
        builder, [_visited_table(builder, t, v) for t, v in enumerate(visited)], fb.CheckpointStartVisitedStatesVector
    )
    return finish_checkpoint(builder, header, state, options, layout, (pools, bases, visits))


@dataclasses.dataclass(frozen=True)
class CheckpointHeader:
    """Offsets of the tables every checkpoint payload (single file or manifest) starts with."""

    case_fingerprint: int
    options_fingerprint: int
    case_summary: int
    run_options: int
    history: int


def checkpoint_header(
    builder: flatbuffers.Builder, state: TrainingState, options: TrainingOptions
) -> CheckpointHeader:
    """Write the fingerprints, case summary, options and history of ``state``'s checkpoint."""
    problem = state.problem
    digests = stage_digests(problem)
    case_fp = _vector(builder, np.frombuffer(case_fingerprint(problem, digests), np.uint8), "u1")
    options_fp = _vector(builder, np.frombuffer(options_fingerprint(options, problem.n_stages), np.uint8), "u1")
    case = _case_summary(builder, state, digests)
    run_options = _run_options(builder, options, problem.n_stages)
    history = _history(builder, state)
    return CheckpointHeader(case_fp, options_fp, case, run_options, history)


def finish_checkpoint(
    builder: flatbuffers.Builder,
    header: CheckpointHeader,
    state: TrainingState,
    options: TrainingOptions,
    layout: Mapping[str, Any],
    stage_tables: tuple[int, int, int],
    shards: int | None = None,
) -> int:
    """Write the writer, rng and warm start, then the Checkpoint table itself.

    ``stage_tables`` are the cut-pool, basis and visited-state vectors (empty in
    a manifest, whose stages live in the ``shards`` files it lists).
    """
    pools, bases, visits = stage_tables
    writer = _writer(builder, layout)
    rng = _rng(builder, options, state)
    warm_start = builder.CreateString(state.warm_start) if state.warm_start else None
    fb.CheckpointStart(builder)
    fb.CheckpointAddFormatVersion(builder, FORMAT_VERSION)
    fb.CheckpointAddCaseFingerprint(builder, header.case_fingerprint)
    fb.CheckpointAddOptionsFingerprint(builder, header.options_fingerprint)
    fb.CheckpointAddCaseSummary(builder, header.case_summary)
    fb.CheckpointAddOptions(builder, header.run_options)
    fb.CheckpointAddIteration(builder, state.iteration)
    fb.CheckpointAddRng(builder, rng)
    fb.CheckpointAddHistory(builder, header.history)
    fb.CheckpointAddCutPools(builder, pools)
    fb.CheckpointAddBases(builder, bases)
    fb.CheckpointAddVisitedStates(builder, visits)
    fb.CheckpointAddWriter(builder, writer)
    if shards is not None:
        fb.CheckpointAddShards(builder, shards)
    if warm_start is not None:
        fb.CheckpointAddWarmStart(builder, warm_start)
    return fb.CheckpointEnd(builder)


def _case_summary(builder: flatbuffers.Builder, state: TrainingState, digests: np.ndarray) -> int:
    problem = state.problem
    name = builder.CreateString(problem.name)
    names = _strings(builder, problem.state_names, fb.CaseSummaryStartStateNamesVector)
    initial = _vector(builder, problem.initial_state, "<f8")
    digest_vector = _vector(builder, digests, "u1")
    fb.CaseSummaryStart(builder)
    fb.CaseSummaryAddName(builder, name)
    fb.CaseSummaryAddNStages(builder, problem.n_stages)
    fb.CaseSummaryAddNStates(builder, problem.n_states)
    fb.CaseSummaryAddStateNames(builder, names)
    fb.CaseSummaryAddSign(builder, float(problem.sign))
    fb.CaseSummaryAddInitialState(builder, initial)
    fb.CaseSummaryAddStageDigests(builder, digest_vector)
    return fb.CaseSummaryEnd(builder)


def _run_options(builder: flatbuffers.Builder, options: TrainingOptions, n_stages: int) -> int:
    extra = {name: text for name, text in policy_options(options, n_stages).items() if name not in _TYPED_OPTIONS}
    for f in dataclasses.fields(options):  # free-to-change options beyond the typed ones
        if f.name in OPTIONS_FREE_TO_CHANGE and f.name not in _TYPED_OPTIONS:
            extra[f.name] = canonical_text(getattr(options, f.name), n_stages)
    entries = []
    for key in sorted(extra):
        key_offset, value_offset = builder.CreateString(key), builder.CreateString(extra[key])
        fb.OptionEntryStart(builder)
        fb.OptionEntryAddKey(builder, key_offset)
        fb.OptionEntryAddValue(builder, value_offset)
        entries.append(fb.OptionEntryEnd(builder))
    extra_vector = _tables(builder, entries, fb.RunOptionsStartExtraVector)
    fb.RunOptionsStart(builder)
    fb.RunOptionsAddIterations(builder, int(options.iterations))
    fb.RunOptionsAddForwardPasses(builder, int(options.forward_passes))
    fb.RunOptionsAddSeed(builder, int(options.seed))
    if options.time_limit is not None:
        fb.RunOptionsAddTimeLimit(builder, float(options.time_limit))
    fb.RunOptionsAddExtra(builder, extra_vector)
    return fb.RunOptionsEnd(builder)


def _rng(builder: flatbuffers.Builder, options: TrainingOptions, state: TrainingState) -> int:
    fb.RngStateStart(builder)
    fb.RngStateAddSeed(builder, int(options.seed))
    fb.RngStateAddNextIteration(builder, int(state.iteration))
    return fb.RngStateEnd(builder)


def _history(builder: flatbuffers.Builder, state: TrainingState) -> int:
    records = state.history
    columns = {
        name: [getattr(r, name) for r in records]
        for name in HISTORY_COLUMNS
    }
    iteration = _vector(builder, np.array(columns["iteration"], dtype=np.int64), "<i8")
    lower = _vector(builder, np.array(columns["lower_bound"], dtype=np.float64), "<f8")
    mean = _vector(builder, np.array(columns["upper_bound_mean"], dtype=np.float64), "<f8")
    low = _vector(builder, np.array(columns["upper_bound_low"], dtype=np.float64), "<f8")
    high = _vector(builder, np.array(columns["upper_bound_high"], dtype=np.float64), "<f8")
    time_s = _vector(builder, np.array(columns["time_s"], dtype=np.float64), "<f8")
    solves = _vector(builder, np.array(columns["lp_solves"], dtype=np.int64), "<i8")
    fb.HistoryStart(builder)
    fb.HistoryAddIteration(builder, iteration)
    fb.HistoryAddLowerBound(builder, lower)
    fb.HistoryAddUpperBoundMean(builder, mean)
    fb.HistoryAddUpperBoundLow(builder, low)
    fb.HistoryAddUpperBoundHigh(builder, high)
    fb.HistoryAddTimeS(builder, time_s)
    fb.HistoryAddLpSolves(builder, solves)
    return fb.HistoryEnd(builder)


def _cut_pool(builder: flatbuffers.Builder, stage: int, pool: CutPool) -> int:
    offsets, columns, values = cut_pool_csr(pool)
    intercepts = _vector(builder, pool.intercepts, "<f8")
    offsets_vector = _vector(builder, offsets, "<i8")
    columns_vector = _vector(builder, columns, "<i4")
    values_vector = _vector(builder, values, "<f8")
    iteration = _vector(builder, pool.iteration, "<i8")
    forward_pass = _vector(builder, pool.forward_pass, "<i8")
    active = _vector(builder, pool.active, "?")
    # single-cut pools leave the targets out: absent means every cut bounds theta
    target = _vector(builder, pool.targets, "<i4") if pool.n_target_groups > 1 else None
    fb.CutPoolStart(builder)
    fb.CutPoolAddStage(builder, stage)
    fb.CutPoolAddNStates(builder, pool.n_states)
    fb.CutPoolAddIntercepts(builder, intercepts)
    fb.CutPoolAddRowOffsets(builder, offsets_vector)
    fb.CutPoolAddColumnIndices(builder, columns_vector)
    fb.CutPoolAddValues(builder, values_vector)
    fb.CutPoolAddIteration(builder, iteration)
    fb.CutPoolAddForwardPass(builder, forward_pass)
    fb.CutPoolAddActive(builder, active)
    if target is not None:
        fb.CutPoolAddTarget(builder, target)
    return fb.CutPoolEnd(builder)


def _basis(builder: flatbuffers.Builder, stage: int, state: TrainingState) -> int:
    basis, lp = state.cache.bases[stage], state.cache.lps[stage]
    if basis.row_status.shape[0] != lp.num_rows or basis.col_status.shape[0] != lp.num_cols:
        raise ValueError(
            f"stage {stage}: the cached basis ({basis.col_status.shape[0]} cols, "
            f"{basis.row_status.shape[0]} rows) does not fit its LP ({lp.num_cols} x {lp.num_rows})"
        )
    return basis_table(builder, stage, basis.col_status, basis.row_status, lp.cut_ids, _vector)


def basis_table(
    builder: flatbuffers.Builder,
    stage: int,
    col_status: np.ndarray,
    row_status: np.ndarray,
    cut_ids: np.ndarray,
    vector: Callable[[flatbuffers.Builder, np.ndarray, str], int],
) -> int:
    """A StageBasis table; ``vector`` writes each array (single files and stage files copy differently)."""
    cols = vector(builder, col_status, "u1")
    rows = vector(builder, row_status, "u1")
    ids = vector(builder, cut_ids, "<i8")
    fb.StageBasisStart(builder)
    fb.StageBasisAddStage(builder, stage)
    fb.StageBasisAddColStatus(builder, cols)
    fb.StageBasisAddRowStatus(builder, rows)
    fb.StageBasisAddCutIds(builder, ids)
    return fb.StageBasisEnd(builder)


def _visited_table(builder: flatbuffers.Builder, stage: int, states: np.ndarray) -> int:
    values = _vector(builder, states, "<f8")
    fb.VisitedStatesStart(builder)
    fb.VisitedStatesAddStage(builder, stage)
    fb.VisitedStatesAddNStates(builder, int(states.shape[1]))
    fb.VisitedStatesAddValues(builder, values)
    return fb.VisitedStatesEnd(builder)


def _writer(builder: flatbuffers.Builder, layout: Mapping[str, Any]) -> int:
    hostname = platform.node()
    workers = []
    for worker in layout.get("workers", ()):
        host = builder.CreateString(str(worker.get("hostname", hostname)))
        fb.WorkerInfoStart(builder)
        fb.WorkerInfoAddRank(builder, int(worker.get("rank", 0)))
        fb.WorkerInfoAddThread(builder, int(worker.get("thread", 0)))
        fb.WorkerInfoAddHostname(builder, host)
        fb.WorkerInfoAddCpu(builder, int(worker.get("cpu", -1)))
        workers.append(fb.WorkerInfoEnd(builder))
    workers_vector = _tables(builder, workers, fb.WriterInfoStartWorkersVector)
    version = builder.CreateString(__version__)
    host = builder.CreateString(str(layout.get("hostname", hostname)))
    fb.WriterInfoStart(builder)
    fb.WriterInfoAddCaudalVersion(builder, version)
    fb.WriterInfoAddHostname(builder, host)
    fb.WriterInfoAddPid(builder, os.getpid())
    fb.WriterInfoAddWrittenAt(builder, time.time())
    fb.WriterInfoAddRanks(builder, int(layout.get("ranks", 1)))
    fb.WriterInfoAddThreadsPerRank(builder, int(layout.get("threads", 1)))
    fb.WriterInfoAddWorkers(builder, workers_vector)
    return fb.WriterInfoEnd(builder)
