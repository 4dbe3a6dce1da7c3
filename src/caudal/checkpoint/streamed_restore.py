"""A resume that reads each stage file straight into its pool: one copy of the cuts, one file at a time.

Decoding a whole checkpoint and then copying it into the pools holds every cut
twice at the peak, 8 GB for a national-size policy. Here the pools and
archives of a stage are allocated first (:func:`~caudal.sddp.cuts.filled_stage`,
node-shared under MPI), then the node leader reads the stage's files one after
the other (:class:`~caudal.checkpoint.stage_files.StageFiles`: verified as they
are read, into one reused buffer) and copies each file's arrays into its rows:
the peak is the pools plus one stage file. The other ranks of the node read no
file; the leader sends them each stage's basis (a few kilobytes) and whether
the stage came back.

Failure: a stage file that does not verify stops the node's reading at that
stage (every rank of the node learns it from its leader); then the ranks agree
over the whole job, free what they allocated and all raise, so a search for
the newest usable checkpoint moves on to an older one on every rank alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from caudal.checkpoint.contents import SavedBasis, SavedCutPool
from caudal.checkpoint.decode import _basis, _Problem
from caudal.checkpoint.errors import KINDS, CheckpointError
from caudal.checkpoint.stage_files import StageFiles
from caudal.parallel.comm import Communicator, SingleProcessCommunicator
from caudal.sddp.cuts import CutPool, StateArchive, filled_stage

_MESSAGE_BYTES = 4096  # a failure's text and kind, sent by the node leader


@dataclass
class RestoredStages:
    """Every stage's pool, visited-state archive and saved basis (the basis copied out of its file)."""

    pools: list[CutPool]
    visited: list[StateArchive]
    bases: list[SavedBasis]


def restore_streamed(
    stage_files: StageFiles, shared: Communicator, comm: Communicator | None = None
) -> RestoredStages:
    """Pools and archives held over ``shared`` (see :func:`~caudal.sddp.cuts.pool_comm`), filled from the files.

    Collective over ``comm``'s ranks (every rank calls it; ``None``: one
    process). Raises :class:`CheckpointError` on every rank if any stage file
    failed anywhere, having freed what it allocated.
    """
    restored = RestoredStages([], [], [])
    failure: CheckpointError | None = None
    try:
        for stage in range(stage_files.n_stages):
            failure = _restore_stage(stage_files, stage, shared, restored)
            if failure is not None:
                break
    finally:
        stage_files.release()
    failed = (comm or SingleProcessCommunicator()).allreduce_sum(np.array([failure is not None], dtype=np.int64))
    if failed[0]:
        for pool, archive in zip(restored.pools, restored.visited, strict=True):
            pool.free()
            archive.free()
        raise failure or CheckpointError(
            stage_files.directory, "another node could not read its stage files (see that node's error)", "payload"
        )
    return restored


def _restore_stage(
    stage_files: StageFiles, stage: int, shared: Communicator, restored: RestoredStages
) -> CheckpointError | None:
    """Fill one stage's pool and archive (the leader reads, every rank of the node returns alike)."""
    n_states = stage_files.n_states
    copier = _StageCopier(stage_files, stage)
    pool, archive = filled_stage(n_states, stage_files.n_cuts(stage), stage_files.n_visited(stage), copier.fill,
                                 shared)
    restored.pools.append(pool)
    restored.visited.append(archive)
    failure = _shared_failure(copier.failure, shared)
    if failure is None:
        restored.bases.append(_shared_basis(copier.basis, stage, shared))
    return failure


class _StageCopier:
    """The node leader's work for one stage: read its files in turn, copy each into the stage's rows."""

    def __init__(self, stage_files: StageFiles, stage: int) -> None:
        self.stage_files = stage_files
        self.stage = stage
        self.basis: SavedBasis | None = None
        self.failure: CheckpointError | None = None

    def fill(self, cuts: dict[str, np.ndarray], states: np.ndarray) -> None:
        """Called by :func:`filled_stage` on the leader; a failure is kept for the others, not raised."""
        try:
            for entry in self.stage_files.parts(self.stage):
                shard = self.stage_files.read(entry)  # overwrites the previous file's buffer
                rows = slice(entry.plan.first_cut, entry.plan.first_cut + entry.plan.n_cuts)
                _copy_cuts(shard.cuts, {name: column[rows] for name, column in cuts.items()})
                states[entry.plan.first_visited : entry.plan.first_visited + entry.plan.n_visited] = shard.visited
                if entry.plan.part == 0:
                    self.basis = self._copied_basis(shard.basis, entry.plan.file_name)
        except CheckpointError as error:
            self.failure = error
        except Exception as error:  # a stage file that verifies but does not decode
            self.failure = CheckpointError(self.stage_files.directory, f"stage {self.stage} does not decode "
                                           f"({type(error).__name__}: {error})", "payload")

    def _copied_basis(self, table: object, file_name: str) -> SavedBasis:
        """The stage's basis, copied out of the read buffer (the next file overwrites it)."""
        try:
            basis = _basis(table, self.stage, self.stage_files.n_cuts(self.stage))
        except _Problem as problem:
            raise CheckpointError(self.stage_files.directory / file_name, f"inconsistent stage file: {problem}",
                                  "payload") from None
        return SavedBasis(self.stage, basis.col_status.copy(), basis.row_status.copy(), basis.cut_ids.copy())


def _copy_cuts(saved: SavedCutPool, rows: dict[str, np.ndarray]) -> None:
    """One file's cuts into their rows of the pool: dense coefficients copied, CSR ones scattered over zeros."""
    rows["intercepts"][:] = saved.intercepts
    if saved.dense is not None:
        rows["coefficients"][:] = saved.dense
    else:
        coefficients = rows["coefficients"]
        coefficients[:] = 0.0  # the entries CSR leaves out are +0.0
        cut_of_entry = np.repeat(np.arange(saved.n_cuts), np.diff(saved.row_offsets))
        coefficients[cut_of_entry, saved.column_indices] = saved.values
    rows["iteration"][:] = saved.iteration
    rows["forward_pass"][:] = saved.forward_pass
    rows["target"][:] = saved.target
    rows["active"][:] = saved.active


def _shared_failure(failure: CheckpointError | None, shared: Communicator) -> CheckpointError | None:
    """The node leader's failure (or None), on every rank of the node."""
    message = np.zeros(_MESSAGE_BYTES, dtype=np.uint8)
    if failure is not None:
        text = f"{KINDS.index(failure.kind)}\n{failure.path}\n"
        encoded = (text + failure.problem).encode()[:_MESSAGE_BYTES]
        message[: len(encoded)] = np.frombuffer(encoded, dtype=np.uint8)
    shared.node_bcast_into(message)
    if not message.any():
        return None
    if failure is not None:  # the leader keeps its own error, traceback and all
        return failure
    kind, path, problem = bytes(message).rstrip(b"\0").decode(errors="replace").split("\n", 2)
    return CheckpointError(path, problem, KINDS[int(kind)])


def _shared_basis(basis: SavedBasis | None, stage: int, shared: Communicator) -> SavedBasis:
    """The leader's copy of the stage's basis, sent to every rank of the node."""
    sizes = np.zeros(3, dtype=np.int64)
    if basis is not None:
        sizes[:] = (basis.col_status.size, basis.row_status.size, basis.cut_ids.size)
    shared.node_bcast_into(sizes)
    if basis is None:
        basis = SavedBasis(stage, np.empty(sizes[0], np.uint8), np.empty(sizes[1], np.uint8),
                           np.empty(sizes[2], np.int64))
    for array in (basis.col_status, basis.row_status, basis.cut_ids):
        if array.size:  # the same on every rank: the sizes came from the leader
            shared.node_bcast_into(array)
    return basis
