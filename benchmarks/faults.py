"""Fault campaigns: kill -9 during training and checkpoint writes, and damaged checkpoint files.

Two campaigns on a small brazil4 run (checkpoint after every iteration), each
compared with the same run left alone:

* **kills**: a training is killed with SIGKILL, half of the time at a random
  moment of the run, half of the time *inside a checkpoint write* (at one of
  its steps: temporary file created, half of the payload written, before the
  file's fsync, before the rename, before the directory's fsync, before the
  pruning of old checkpoints). Then every file named like a checkpoint must
  verify (else a *corrupt load*), and a resume from the folder must finish the
  run (else a *resume failure*) with the same policy digest and the same
  bounds as the uninterrupted run (else a *mismatch*).
* **damaged files**: the newest checkpoint of a finished run is damaged
  (truncated, bytes flipped in the header or payload, zeroed, extended,
  replaced by another checkpoint's bytes or by nothing) in a copy of the run
  folder. Reading it must fail with a ``CheckpointError`` (else a *corrupt
  load*), and a resume must fall back to the previous checkpoint and finish
  identical to the uninterrupted run.

A helper process imports caudal once and forks one child per training, so a
trial costs a fork, not an interpreter start; it never trains itself (a fork
of a process with worker threads is unsafe).

    python benchmarks/faults.py                      # 200 kills, 123 damaged files
    python benchmarks/faults.py --kills 20 --damaged 12 --seed 1
    python benchmarks/faults.py --layout directory   # checkpoints as directories of stage files

Prints the load average (the machine is shared) and, per campaign: trials,
corrupt loads, resume failures, mismatches. All should be zero; the exit
status is 1 when one is not.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import caudal
from caudal.checkpoint import CheckpointError, read_checkpoint
from caudal.checkpoint import directory as checkpoint_directory
from caudal.checkpoint import files as checkpoint_files
from caudal.checkpoint import store as checkpoint_store
from caudal.checkpoint.files import list_checkpoints
from caudal.examples import brazil4

STAGES = 3
ITERATIONS = 8
FORWARD_PASSES = 2
SEED = 11
WRITE_STEPS = {
    "file": ("first bytes", "half payload", "file fsync", "rename", "directory fsync", "prune"),
    # a checkpoint directory: its stage files and manifest are fsynced, then the directory is renamed
    "directory": ("file fsync", "rename", "directory fsync", "prune"),
}
DAMAGES = ("truncate", "flip payload byte", "flip header byte", "zero block", "append", "other checkpoint", "empty")


def train_into(folder: Path, resume: bool) -> dict:
    """Train (or resume) into ``folder``; the figures a comparison needs."""
    result = caudal.train(
        brazil4(stages=STAGES), iterations=ITERATIONS, forward_passes=FORWARD_PASSES, seed=SEED, threads=1,
        output=folder, checkpoint_every=1, checkpoint_seconds=None, keep_checkpoints=3,
        resume=folder if resume else None, profile=False,
    )
    return {"digest": result.policy.digest(), "bounds": [r.lower_bound for r in result.history],
            "upper": [r.upper_bound_mean for r in result.history]}


def in_child(action, *args) -> dict:
    """Run ``action(*args)`` in a forked child; its result as a dict (``{"error": ...}`` if it raised)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            outcome = action(*args)
        except BaseException as error:  # noqa: BLE001 (reported to the parent)
            outcome = {"error": f"{type(error).__name__}: {error}"}
        os.write(write, json.dumps(outcome).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 1 << 16):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks) or b'{"error": "the child died"}')


def killed_training(folder: Path, step: str | None, occurrence: int, notify: int) -> None:
    """The victim: trains into ``folder``, telling the parent (``notify``) when it reaches ``step``.

    At the ``occurrence``-th checkpoint write it stops at ``step`` for a second
    after saying so, so that the parent's SIGKILL lands there.
    """
    writes = {"count": 0, "fsyncs": 0}

    def pause(where: str) -> None:
        if where == step and writes["count"] == occurrence:
            os.write(notify, b"W")
            time.sleep(1.0)

    real_os, real_write, real_prune = os, checkpoint_files.atomic_write, checkpoint_store.prune
    real_replace_entry = checkpoint_directory.replace_entry

    class Os:
        def __getattr__(self, name):
            return getattr(real_os, name)

        def fsync(self, fd):
            writes["fsyncs"] += 1
            pause("file fsync" if writes["fsyncs"] == 1 else "directory fsync")
            real_os.fsync(fd)

        def replace(self, source, target):
            pause("rename")
            real_os.replace(source, target)

    def chunks(parts):
        for index, part in enumerate(parts):
            if index == 0:
                pause("first bytes")
            view = memoryview(part)
            half = len(view) // 2
            yield view[:half]
            if index == 1:
                pause("half payload")
            yield view[half:]

    def atomic_write(path, parts):
        writes["count"] += 1
        writes["fsyncs"] = 0
        real_write(path, chunks(list(parts)))

    def prune(*args, **kwargs):
        pause("prune")
        return real_prune(*args, **kwargs)

    def write_directory(*args, **kwargs):
        writes["count"] += 1
        writes["fsyncs"] = 0
        return real_write_directory(*args, **kwargs)

    def replace_entry(source, target):
        pause("rename")
        real_replace_entry(source, target)

    real_write_directory = checkpoint_store.write_checkpoint_directory
    checkpoint_files.os = Os()
    checkpoint_directory.os = Os()
    checkpoint_store.atomic_write = atomic_write
    checkpoint_store.prune = prune
    checkpoint_store.write_checkpoint_directory = write_directory
    checkpoint_directory.replace_entry = replace_entry
    os.write(notify, b"S")
    train_into(folder, resume=False)
    os.write(notify, b"D")


def check_folder(folder: Path) -> tuple[int, str]:
    """(corrupt loads, first problem): every file named like a checkpoint must verify."""
    checkpoints = folder / "checkpoints"
    if not checkpoints.is_dir():
        return 0, ""
    bad = []
    for _, path in list_checkpoints(checkpoints):
        try:
            read_checkpoint(path)
        except CheckpointError as error:
            bad.append(str(error))
    return len(bad), (bad[0] if bad else "")


def resume_or_restart(folder: Path) -> dict:
    has_checkpoint = any(list_checkpoints(folder / "checkpoints")) if (folder / "checkpoints").is_dir() else False
    outcome = train_into(folder, resume=has_checkpoint)
    outcome["resumed"] = has_checkpoint
    return outcome


def kill_campaign(
    kills: int, rng: random.Random, reference: dict, run_seconds: float, work: Path, layout: str
) -> dict:
    counts = {"trials": 0, "in a checkpoint write": 0, "corrupt loads": 0, "resume failures": 0, "mismatches": 0,
              "restarts (killed before the first checkpoint)": 0}
    problems: list[str] = []
    for trial in range(kills):
        folder = work / f"kill-{trial}"
        in_write = trial % 2 == 0
        step = rng.choice(WRITE_STEPS[layout]) if in_write else None
        occurrence = rng.randint(1, ITERATIONS)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            try:
                killed_training(folder, step, occurrence, write)
            finally:
                os._exit(0)
        os.close(write)
        if os.read(read, 1) != b"S":
            problems.append(f"trial {trial}: the victim did not start")
        if in_write:
            signal_byte = os.read(read, 1)
            time.sleep(rng.uniform(0.0, 0.003))
            counts["in a checkpoint write"] += signal_byte == b"W"
        else:
            time.sleep(rng.uniform(0.0, run_seconds))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read)
        counts["trials"] += 1
        corrupt, first = check_folder(folder)
        counts["corrupt loads"] += corrupt
        if corrupt:
            problems.append(f"trial {trial} ({step or 'random time'}): {first}")
        outcome = in_child(resume_or_restart, folder)
        if "error" in outcome:
            counts["resume failures"] += 1
            problems.append(f"trial {trial} ({step or 'random time'}): resume failed: {outcome['error']}")
        else:
            counts["restarts (killed before the first checkpoint)"] += not outcome["resumed"]
            if {k: outcome[k] for k in reference} != reference:
                counts["mismatches"] += 1
                problems.append(f"trial {trial} ({step or 'random time'}): differs from the uninterrupted run")
        shutil.rmtree(folder, ignore_errors=True)
    return {"counts": counts, "problems": problems}


def damage(path: Path, kind: str, rng: random.Random, other: bytes) -> None:
    data = bytearray(path.read_bytes())
    if kind == "truncate":
        data = data[: rng.randrange(len(data))]
    elif kind == "flip payload byte":
        data[rng.randrange(48, len(data))] ^= 1 << rng.randrange(8)
    elif kind == "flip header byte":
        data[rng.randrange(48)] ^= 1 << rng.randrange(8)
    elif kind == "zero block":
        start = rng.randrange(len(data))
        data[start : start + 512] = bytes(len(data[start : start + 512]))
    elif kind == "append":
        data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif kind == "other checkpoint":
        data = bytearray(other)
    else:
        data = bytearray()
    path.write_bytes(bytes(data))


def damage_campaign(trials: int, rng: random.Random, reference: dict, finished: Path, work: Path) -> dict:
    counts = {"trials": 0, "corrupt loads": 0, "resume failures": 0, "mismatches": 0}
    problems: list[str] = []
    for trial in range(trials):
        kind = DAMAGES[trial % len(DAMAGES)]
        folder = work / f"damaged-{trial}"
        shutil.copytree(finished, folder)
        (folder / "summary.json").unlink()
        checkpoints = list_checkpoints(folder / "checkpoints")
        newest, older = checkpoints[0][1], checkpoints[1][1]
        target, other = newest, older
        if newest.is_dir():  # a checkpoint directory: damage one of its files (manifest or stage file)
            target = rng.choice(sorted(p for p in newest.iterdir() if p.is_file()))
            other = older / target.name if (older / target.name).is_file() else target
        damage(target, kind, rng, other.read_bytes())
        counts["trials"] += 1
        try:
            loaded = read_checkpoint(newest)
            if kind != "other checkpoint" or loaded.iteration == ITERATIONS:
                counts["corrupt loads"] += 1
                problems.append(f"trial {trial} ({kind}): the damaged file loaded")
        except CheckpointError:
            pass
        outcome = in_child(train_into, folder, True)
        if "error" in outcome:
            counts["resume failures"] += 1
            problems.append(f"trial {trial} ({kind}): resume failed: {outcome['error']}")
        elif outcome != reference:
            counts["mismatches"] += 1
            problems.append(f"trial {trial} ({kind}): differs from the uninterrupted run")
        shutil.rmtree(folder, ignore_errors=True)
    return {"counts": counts, "problems": problems}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200, help="SIGKILL trials, half inside a checkpoint write")
    parser.add_argument("--damaged", type=int, default=123, help="damaged-file trials")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layout", choices=("file", "directory"), default="file",
                        help="checkpoints as single files or as checkpoint directories (CAUDAL_CHECKPOINT_LAYOUT)")
    args = parser.parse_args()
    os.environ["CAUDAL_CHECKPOINT_LAYOUT"] = args.layout
    rng = random.Random(args.seed)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (shared machine); "
          f"brazil4, {STAGES} stages, {ITERATIONS} iterations x {FORWARD_PASSES} forward passes, "
          f"a checkpoint ({args.layout}) after every iteration, keep 3")
    failed = False
    with tempfile.TemporaryDirectory(prefix="caudal-faults-") as temporary:
        work = Path(temporary)
        started = time.perf_counter()
        reference = in_child(train_into, work / "reference", False)
        run_seconds = time.perf_counter() - started
        if "error" in reference:
            print(f"the uninterrupted run failed: {reference['error']}")
            return 1
        for name, campaign in (
            ("kill -9", lambda: kill_campaign(args.kills, rng, reference, run_seconds, work, args.layout)),
            ("damaged files", lambda: damage_campaign(args.damaged, rng, reference, work / "reference", work)),
        ):
            begun = time.perf_counter()
            outcome = campaign()
            counts = outcome["counts"]
            print(f"{name}: " + ", ".join(f"{key} {value}" for key, value in counts.items())
                  + f" ({time.perf_counter() - begun:.0f} s)")
            for problem in outcome["problems"][:10]:
                print(f"  {problem}")
            failed |= any(counts[key] for key in ("corrupt loads", "resume failures", "mismatches"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
