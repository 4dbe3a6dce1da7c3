"""Checkpoints: a training that survives walltime limits, preemption and crashes.

A checkpoint is one file, ``checkpoint-{iteration:08d}.caudal``: a fixed header
(magic, format version, payload length, blake2b checksum) and a FlatBuffer
(``schemas/checkpoint.fbs``) with everything a resume needs: fingerprints of the
case and of the policy-changing options, the run's options, the iteration, the
RNG state, the convergence history, every stage's cut pool (CSR coefficients,
intercepts, activity, origin), every stage's canonical basis, visited states and
who wrote it. A large checkpoint is a *directory* of that name instead, one
FlatBuffers file per stage (or stage part) and a manifest with their digests,
written in parallel by every rank and renamed into place whole
(:mod:`caudal.checkpoint.directory`). The format is described in
``docs/checkpoint-format.md``.

API for the training loop and the command line
----------------------------------------------
``write_checkpoint(directory, state, options, *, keep=3, layout=None, visited_states=None, ...) -> Path``
    Atomic, durable write (temporary file, fsync, rename, fsync of the
    directory), then deletion of older checkpoints beyond the last ``keep``.
    ``as_directory`` (None: by size) writes a checkpoint directory, collectively
    over ``comm``'s ranks.
``read_checkpoint(path, *, defer_stages=False) -> Checkpoint``
    Verify and decode a file or checkpoint directory; arrays are zero-copy
    views over an ``mmap`` of the file(s).
    Any problem raises :class:`CheckpointError` naming the file and the problem.
    ``defer_stages`` (a resume's) leaves a directory's stage files to be
    verified and read one at a time, straight into the pools, by ``restore_state``.
``latest_valid(directory) -> (Path | None, warnings)``
    The newest checkpoint that verifies; one warning per newer file skipped and
    why (also logged on ``caudal.checkpoint``). :func:`load_latest` returns the
    decoded :class:`Checkpoint` instead of its path.
``restore_state(checkpoint, problem, options, comm=None) -> TrainingState``
    Rebuild cut pools bit for bit, the stage cache with the saved bases (built
    by ``make_stage_cache`` when a ``comm`` is given, so call it on every rank)
    and the visited-state archives; refuse a checkpoint of another case or of
    options that change the policy. Use fresh solver workspaces afterwards.
``restore_pools(checkpoint, problem) -> list[CutPool]``
    The cuts alone, for simulating a trained policy (``caudal simulate
    --policy DIR``); only the case fingerprint must match.
``CheckpointSchedule(every_iterations=10, every_seconds=600)``
    ``due(iteration, now)`` after each iteration, ``written(iteration, now)``
    after each write.
``inspect_checkpoint(path) -> str``, ``export_cuts(path, out_file)``
    For ``caudal checkpoint inspect`` and ``caudal checkpoint export``.
``case_fingerprint(problem)``, ``options_fingerprint(options)``
    The blake2b hashes a resume compares.
"""

import importlib

_HOME = {
    **dict.fromkeys(("Checkpoint", "SavedBasis", "SavedCase", "SavedCutPool", "SavedHistory", "SavedOptions",
                     "WorkerInfo", "WriterInfo"), "contents"),
    "CheckpointError": "errors",
    **dict.fromkeys(("OPTIONS_FREE_TO_CHANGE", "case_fingerprint", "options_fingerprint"), "fingerprint"),
    **dict.fromkeys(("FORMAT_VERSION", "READS_UP_TO"), "framing"),
    **dict.fromkeys(("check_compatible", "restore_pools", "restore_state"), "restore"),
    **dict.fromkeys(("CheckpointSchedule", "DEFAULT_KEEP"), "schedule"),
    **dict.fromkeys(("latest_valid", "load_latest", "read_checkpoint", "verify_checkpoint", "write_checkpoint"),
                    "store"),
    **dict.fromkeys(("cuts_table", "export_cuts", "inspect_checkpoint"), "tools"),
}
"""The module of each name this package exports.

They are imported on first use: a training that writes no checkpoint (and
``import caudal``, which reads the schedule's defaults) does not load the
FlatBuffers runtime, the generated schema module nor OpenSSL.
"""


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(f"caudal.checkpoint.{_HOME[name]}"), name)
    raise AttributeError(f"module 'caudal.checkpoint' has no attribute {name!r}")


__all__ = [
    "DEFAULT_KEEP",
    "FORMAT_VERSION",
    "OPTIONS_FREE_TO_CHANGE",
    "READS_UP_TO",
    "Checkpoint",
    "CheckpointError",
    "CheckpointSchedule",
    "SavedBasis",
    "SavedCase",
    "SavedCutPool",
    "SavedHistory",
    "SavedOptions",
    "WorkerInfo",
    "WriterInfo",
    "case_fingerprint",
    "check_compatible",
    "cuts_table",
    "export_cuts",
    "inspect_checkpoint",
    "latest_valid",
    "load_latest",
    "options_fingerprint",
    "read_checkpoint",
    "restore_pools",
    "restore_state",
    "verify_checkpoint",
    "write_checkpoint",
]
