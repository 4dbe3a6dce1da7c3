"""A run folder belongs to one run: a fresh training refuses a folder that holds another run's files.

A fresh ``caudal train -o R`` into a folder where an earlier run left its
checkpoints would mix the two runs: ``summary.json`` from the new one, the
policy that ``checkpoint inspect`` and ``simulate --policy`` read from the old
one (its checkpoints have higher iteration numbers). So, unless the training
resumes, a folder that holds files caudal writes is refused
(:class:`RunFolderNotEmpty`, naming them), and ``overwrite`` deletes those
files first. Only caudal's own files are deleted: the outputs named in
:data:`RUN_FILES` and :data:`RUN_FOLDERS`, and in a checkpoint directory the
checkpoints and their temporary files. Anything else (a study file, notes, a
log file) is kept and does not make a folder "taken"; nor does the run lock,
which the command line takes before training.

Rank 0 looks and deletes; the ranks agree on the outcome (a collective), so a
refusal ends every rank instead of leaving some waiting.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from caudal.checkpoint.files import CHECKPOINT_FOLDER, NAME_PATTERN, TEMP_PREFIX, TEMP_SUFFIX
from caudal.parallel.comm import Communicator

RUN_FILES = ("convergence.csv", "summary.json", "profile.parquet", "trace.json", "simulation_summary.json")
"""Files a training (and the simulation after a Cobre case's training) writes into ``--output``."""

RUN_FOLDERS = (CHECKPOINT_FOLDER, "simulation")
"""Folders caudal writes into ``--output``: the checkpoints, and the simulation's Parquet tables."""


class RunFolderNotEmpty(ValueError):
    """A fresh training was pointed at a folder holding another run's files (the message names them)."""


def caudal_entries(folder: Path, checkpoints_only: bool = False) -> list[Path]:
    """The entries of ``folder`` that caudal wrote (checkpoints and their temporary files only, when asked)."""
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir()):
        name = entry.name
        checkpoint = (NAME_PATTERN.match(name) or (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX))) and (
            entry.is_file() or entry.is_dir())  # a FIFO or device under such a name is not caudal's: kept
        if name == CHECKPOINT_FOLDER and not checkpoints_only and entry.is_dir():
            # taken when it holds checkpoints: a killed run's temporary files alone are no run
            output = any(NAME_PATTERN.match(e.name) for e in caudal_entries(entry, checkpoints_only=True))
        else:
            output = not checkpoints_only and (
                (name in RUN_FILES and entry.is_file()) or (name in RUN_FOLDERS and entry.is_dir()))
        if checkpoint or output:
            found.append(entry)
    return found


def _describe(entries: Sequence[Path]) -> str:
    shown = [f"{e.name}/" if e.is_dir() else e.name for e in entries[:6]]
    more = f" and {len(entries) - 6} more" if len(entries) > 6 else ""
    return ", ".join(shown) + more


def _clear(entries: Sequence[Path]) -> None:
    """Delete caudal's entries; inside its folders, only what caudal writes there."""
    for entry in entries:
        if entry.name == CHECKPOINT_FOLDER and entry.is_dir():
            _clear(caudal_entries(entry, checkpoints_only=True))
            _remove_if_empty(entry)
        elif entry.name == "simulation" and entry.is_dir():
            if all(p.is_dir() or p.suffix == ".parquet" for p in entry.rglob("*")):  # only caudal's tables
                _remove_tree(entry)
        elif entry.is_dir() and not entry.is_symlink():
            _remove_tree(entry)
        else:
            entry.unlink(missing_ok=True)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # holds files caudal did not write (or the run lock): kept
        pass


def check_run_folders(
    output: str | os.PathLike | None,
    checkpoint_dir: str | os.PathLike | None,
    *,
    overwrite: bool,
    comm: Communicator,
    resumed: str | os.PathLike | None = None,
) -> None:
    """Refuse (or, with ``overwrite``, clear) output and checkpoint folders holding an earlier run's files.

    A resume may write into the run it continues (``resumed``: the run folder, checkpoint folder or
    checkpoint it resumes from), so a folder that holds ``resumed`` or lies inside it is not checked;
    any other folder must be free, as for a fresh training (``--resume A -o B`` must not mix B's run
    with A's continuation). Collective. Raises :class:`RunFolderNotEmpty` on every rank when refused.
    """
    if resumed is not None:
        output = None if output is not None and _same_run(Path(output), Path(resumed)) else output
        checkpoint_dir = (None if checkpoint_dir is not None and _same_run(Path(checkpoint_dir), Path(resumed))
                          else checkpoint_dir)
    message = ""
    if comm.rank == 0:
        taken = []
        if output is not None:
            taken.append((Path(output), caudal_entries(Path(output))))
        if checkpoint_dir is not None:
            taken.append((Path(checkpoint_dir), caudal_entries(Path(checkpoint_dir), checkpoints_only=True)))
        taken = [(folder, entries) for folder, entries in taken
                 if any(not e.name.startswith(TEMP_PREFIX) for e in entries)]
        if taken and overwrite:
            for _, entries in taken:
                _clear(entries)
        elif taken:
            folder, entries = taken[0]
            message = (
                f"{folder}: holds another run ({_describe(entries)}); training into it would mix the two runs. "
                f"Continue that run with --resume {folder}, choose another folder, or pass --overwrite to delete "
                "caudal's files there first (files caudal did not write are kept)"
            )
    if comm.size > 1:
        refused = comm.allreduce_sum(np.array([bool(message)], dtype=np.int64))[0] > 0
        if refused and not message:
            message = "the run folder holds another run (see rank 0's message)"
    if message:
        raise RunFolderNotEmpty(message)


def _same_run(folder: Path, resumed: Path) -> bool:
    """Whether ``folder`` is the resumed run's folder, holds the resumed checkpoint, or lies inside the run."""
    folder, resumed = folder.resolve(), resumed.resolve()
    return folder == resumed or folder in resumed.parents or resumed in folder.parents


def _remove_tree(path: Path) -> None:
    """``shutil.rmtree``, imported here: shutil brings bz2 and lzma, which only overwriting a run folder needs."""
    import shutil

    shutil.rmtree(path)
