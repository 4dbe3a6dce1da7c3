"""The stage files of a checkpoint directory: how a state is cut into them, and each one's bytes.

One FlatBuffer holds at most 2 GiB, and a national-size policy (10,000 cuts of
200 states at each of 120 stages) is about that much by itself. So a large
checkpoint is a directory with one file per stage, or per *part* of a stage
when a stage alone would be large: a contiguous range of its cut ids and of its
visited-state rows, the basis riding in part 0. :func:`plan_shards` cuts every
stage so that no file exceeds ``shard_bytes`` (256 MiB by default), far from
the 2 GiB limit whatever the stage's size.

Each file is framed like a single-file checkpoint (the 48-byte header of
:mod:`caudal.checkpoint.framing`, its digest SHA-256 for speed) around a
FlatBuffer whose root is ``StageShard`` (file identifier ``CDSS``). Its cut
coefficients are stored dense when that is smaller than CSR (12 bytes per
stored entry against 8 per entry): a real cut touches nearly every state.

Reading gives zero-copy numpy views over the file's memory map; nothing is
built per cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import flatbuffers
import numpy as np

from caudal.checkpoint.contents import SavedCutPool
from caudal.checkpoint.decode import _array, _cut_pool, _require, _visited
from caudal.checkpoint.encode import basis_table, coefficients_csr
from caudal.checkpoint.generated import checkpoint_generated as fb
from caudal.sddp.cuts import CutPool

SHARD_BYTES = 256 << 20
"""Largest stage file aimed at: an eighth of the FlatBuffers limit, and a size file systems stream well."""
SHARD_IDENTIFIER = b"CDSS"

_DENSE_BYTES_PER_ENTRY = 8
_CSR_BYTES_PER_ENTRY = 12  # a float64 value and an int32 column index
_BYTES_PER_CUT = 8 + 8 + 8 + 8 + 4 + 1  # intercept, row offset, iteration, forward pass, target, active


@dataclass(frozen=True)
class ShardPlan:
    """One stage file: which stage, which part of it, which cuts and visited-state rows."""

    stage: int
    part: int
    first_cut: int
    n_cuts: int
    first_visited: int
    n_visited: int

    @property
    def file_name(self) -> str:
        return f"stage-{self.stage:04d}-{self.part:03d}.caudal"


def plan_shards(
    pools: list[CutPool], visited: list[np.ndarray], basis_bytes: list[int], shard_bytes: int = SHARD_BYTES
) -> list[ShardPlan]:
    """The stage files of a checkpoint, stage after stage; the same on every rank.

    A stage's size is bounded from above (CSR at its worst, 12 bytes a
    coefficient), so no file exceeds ``shard_bytes`` by more than one cut or
    one visited row, whatever form its coefficients take.
    """
    if shard_bytes < 1:
        raise ValueError(f"shard_bytes must be positive, got {shard_bytes}")
    plan = []
    for stage, (pool, states, basis) in enumerate(zip(pools, visited, basis_bytes, strict=True)):
        n_cuts, n_rows = pool.size, int(states.shape[0])
        cut_bytes = _BYTES_PER_CUT + _CSR_BYTES_PER_ENTRY * pool.n_states
        total = n_cuts * cut_bytes + n_rows * 8 * pool.n_states + basis
        parts = max(1, min(max(n_cuts, n_rows, 1), math.ceil(total / shard_bytes)))
        for part in range(parts):
            first_cut, end_cut = n_cuts * part // parts, n_cuts * (part + 1) // parts
            first_row, end_row = n_rows * part // parts, n_rows * (part + 1) // parts
            plan.append(ShardPlan(stage, part, first_cut, end_cut - first_cut, first_row, end_row - first_row))
    return plan


class BuilderCache:
    """One FlatBuffers builder reused for file after file (by one thread).

    A new builder allocates and zero-fills its whole buffer: at 16 MB a stage,
    that is a pass over memory as long as the copy of the arrays themselves.
    """

    def __init__(self) -> None:
        self._builder: flatbuffers.Builder | None = None

    def get(self, size: int) -> flatbuffers.Builder:
        """A builder with room for ``size`` bytes, cleared (every byte it emits is written anew)."""
        if self._builder is None or len(self._builder.Bytes) < size:
            self._builder = flatbuffers.Builder(size)
        else:
            self._builder.Clear()
        return self._builder


def _vector(builder: flatbuffers.Builder, array: np.ndarray, dtype: str) -> int:
    """A FlatBuffers vector of ``array``'s values, copied once, straight into the builder.

    ``Builder.CreateNumpyVector`` copies twice (``tobytes``, then into the
    buffer); at gigabytes the second copy is a measurable part of a write.
    """
    array = np.asarray(array)
    itemsize = np.dtype(dtype).itemsize
    builder.StartVector(itemsize, array.size, itemsize)
    builder.head -= array.size * itemsize
    target = np.frombuffer(builder.Bytes, dtype=dtype, count=array.size, offset=builder.head)
    np.copyto(target.reshape(array.shape), array, casting="same_kind")
    builder.vectorNumElems = array.size
    return builder.EndVector()


def encode_shard(
    shard: ShardPlan,
    pool: CutPool,
    visited: np.ndarray,
    basis: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    builders: BuilderCache | None = None,
) -> memoryview:
    """The FlatBuffer payload of one stage file (``basis``: col status, row status, cut ids; part 0).

    The payload is a view into a builder's buffer, from ``builders`` if given:
    then it is only valid until that cache's next use.
    """
    cuts = slice(shard.first_cut, shard.first_cut + shard.n_cuts)
    coefficients = np.ascontiguousarray(pool.coefficients[cuts], dtype=np.float64)
    rows = visited[shard.first_visited : shard.first_visited + shard.n_visited]
    stored = int(np.count_nonzero(coefficients.view(np.uint64)))  # CSR leaves out the +0.0 entries
    dense = stored * _CSR_BYTES_PER_ENTRY > coefficients.size * _DENSE_BYTES_PER_ENTRY
    size = 4096 + shard.n_cuts * (_BYTES_PER_CUT + 8) + rows.nbytes + 64
    size += coefficients.nbytes if dense else stored * _CSR_BYTES_PER_ENTRY
    if basis is not None:
        size += sum(a.nbytes for a in basis) + 64
    builder = (builders or BuilderCache()).get(size)
    cut_table = _cut_pool_table(builder, shard, pool, cuts, coefficients, dense)
    basis_table = _basis_table(builder, shard.stage, basis) if basis is not None else None
    values = _vector(builder, rows, "<f8")
    fb.VisitedStatesStart(builder)
    fb.VisitedStatesAddStage(builder, shard.stage)
    fb.VisitedStatesAddNStates(builder, pool.n_states)
    fb.VisitedStatesAddValues(builder, values)
    visited_table = fb.VisitedStatesEnd(builder)
    fb.StageShardStart(builder)
    fb.StageShardAddStage(builder, shard.stage)
    fb.StageShardAddPart(builder, shard.part)
    fb.StageShardAddFirstCut(builder, shard.first_cut)
    fb.StageShardAddCutPool(builder, cut_table)
    if basis_table is not None:
        fb.StageShardAddBasis(builder, basis_table)
    fb.StageShardAddFirstVisited(builder, shard.first_visited)
    fb.StageShardAddVisitedStates(builder, visited_table)
    builder.Finish(fb.StageShardEnd(builder), file_identifier=SHARD_IDENTIFIER)
    return memoryview(builder.Bytes)[builder.Head() :]


def _cut_pool_table(
    builder: flatbuffers.Builder, shard: ShardPlan, pool: CutPool, cuts: slice, coefficients: np.ndarray, dense: bool
) -> int:
    if dense:
        dense_vector = _vector(builder, coefficients, "<f8")
    else:
        offsets, columns, values = coefficients_csr(coefficients)
        offsets_vector = _vector(builder, offsets, "<i8")
        columns_vector = _vector(builder, columns, "<i4")
        values_vector = _vector(builder, values, "<f8")
    intercepts = _vector(builder, pool.intercepts[cuts], "<f8")
    iteration = _vector(builder, pool.iteration[cuts], "<i8")
    forward_pass = _vector(builder, pool.forward_pass[cuts], "<i8")
    active = _vector(builder, pool.active[cuts], "?")
    target = _vector(builder, pool.targets[cuts], "<i4") if pool.n_target_groups > 1 else None
    fb.CutPoolStart(builder)
    fb.CutPoolAddStage(builder, shard.stage)
    fb.CutPoolAddNStates(builder, pool.n_states)
    fb.CutPoolAddIntercepts(builder, intercepts)
    if dense:
        fb.CutPoolAddDenseValues(builder, dense_vector)
    else:
        fb.CutPoolAddRowOffsets(builder, offsets_vector)
        fb.CutPoolAddColumnIndices(builder, columns_vector)
        fb.CutPoolAddValues(builder, values_vector)
    fb.CutPoolAddIteration(builder, iteration)
    fb.CutPoolAddForwardPass(builder, forward_pass)
    fb.CutPoolAddActive(builder, active)
    if target is not None:
        fb.CutPoolAddTarget(builder, target)
    return fb.CutPoolEnd(builder)


def _basis_table(builder: flatbuffers.Builder, stage: int, basis: tuple[np.ndarray, np.ndarray, np.ndarray]) -> int:
    col_status, row_status, cut_ids = basis
    return basis_table(builder, stage, col_status, row_status, cut_ids, _vector)


@dataclass(frozen=True)
class DecodedShard:
    """What one stage file holds, as zero-copy views of its payload."""

    cuts: SavedCutPool
    basis: object | None  # the generated StageBasis table, decoded once the whole stage is known
    visited: np.ndarray  # float64[rows, n_states]


def decode_shard(payload: memoryview, shard: ShardPlan, n_states: int) -> DecodedShard:
    """Decode a verified stage file and check it is the one the manifest lists; raises ``_Problem``."""
    _require(flatbuffers.util.BufferHasIdentifier(payload, 0, SHARD_IDENTIFIER), "not a stage file (no 'CDSS')")
    root = fb.StageShard.GetRootAs(payload, 0)
    found = (int(root.Stage()), int(root.Part()), int(root.FirstCut()), int(root.FirstVisited()))
    listed = (shard.stage, shard.part, shard.first_cut, shard.first_visited)
    _require(found == listed, f"holds (stage, part, first cut, first visited row) {found}, the manifest {listed}")
    table = root.CutPool()
    _require(table is not None, "no cut pool")
    cuts = _dense_cut_pool(table, shard.stage, n_states) if not table.DenseValuesIsNone() else None
    if cuts is None:
        cuts = _cut_pool(table, shard.stage, n_states)
    _require(cuts.n_cuts == shard.n_cuts, f"{cuts.n_cuts} cuts, the manifest {shard.n_cuts}")
    visited_table = root.VisitedStates()
    _require(visited_table is not None, "no visited states")
    visited = _visited(visited_table, shard.stage, n_states)
    _require(visited.shape[0] == shard.n_visited, f"{visited.shape[0]} visited rows, the manifest {shard.n_visited}")
    basis = root.Basis()
    _require((basis is not None) == (shard.part == 0), "a basis in a part other than 0, or none in part 0")
    return DecodedShard(cuts, basis, visited)


def _dense_cut_pool(table: object, stage: int, n_states: int) -> SavedCutPool:
    empty_offsets = np.zeros(1, dtype="<i8")
    dense = _array(table.DenseValuesAsNumpy(), "<f8")
    intercepts = _array(table.InterceptsAsNumpy(), "<f8")
    n = int(intercepts.shape[0])
    where = f"stage {stage} cut pool"
    _require(int(table.Stage()) == stage, f"{where} is labelled stage {table.Stage()}")
    _require(int(table.NStates()) == n_states, f"{where} has {table.NStates()} states, the case {n_states}")
    _require(dense.size == n * n_states, f"{where}: {dense.size} dense values for {n} cuts of {n_states} states")
    _require(table.RowOffsetsIsNone() and table.ValuesIsNone(), f"{where}: both dense and CSR coefficients")
    target = np.zeros(n, dtype="<i4") if table.TargetIsNone() else _array(table.TargetAsNumpy(), "<i4")
    pool = SavedCutPool(
        stage=stage,
        n_states=n_states,
        intercepts=intercepts,
        row_offsets=empty_offsets,
        column_indices=np.empty(0, dtype="<i4"),
        values=np.empty(0, dtype="<f8"),
        iteration=_array(table.IterationAsNumpy(), "<i8"),
        forward_pass=_array(table.ForwardPassAsNumpy(), "<i8"),
        active=_array(table.ActiveAsNumpy(), "?"),
        target=target,
        dense=dense.reshape(n, n_states),
    )
    for name in ("iteration", "forward_pass", "active", "target"):
        _require(getattr(pool, name).shape == (n,), f"{where}: {name} is not {n} long")
    _require(n == 0 or int(target.min()) >= 0, f"{where}: a negative cut target")
    return pool


def join_parts(parts: list[SavedCutPool], stage: int, n_states: int) -> SavedCutPool:
    """One stage's cuts from its parts, in cut-id order (a copy, only when there are several)."""
    if len(parts) == 1:
        return parts[0]

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    common = {name: joined(name) for name in ("intercepts", "iteration", "forward_pass", "active", "target")}
    if any(p.dense is not None for p in parts):
        dense = np.concatenate([p.dense_coefficients() for p in parts])
        csr = (np.zeros(1, dtype="<i8"), np.empty(0, dtype="<i4"), np.empty(0, dtype="<f8"))
    else:
        dense = None
        shifts = np.cumsum([0] + [int(p.row_offsets[-1]) for p in parts[:-1]])
        offsets = np.concatenate([[0]] + [p.row_offsets[1:] + shift for p, shift in zip(parts, shifts, strict=True)])
        csr = (offsets.astype("<i8"), joined("column_indices"), joined("values"))
    return SavedCutPool(stage, n_states, common["intercepts"], *csr, common["iteration"], common["forward_pass"],
                        common["active"], common["target"], dense)

