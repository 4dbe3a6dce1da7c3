"""Naming a rank that vanished: a guard process per rank that outlives it.

A rank that raises says so itself (``caudal: rank 1 of 2: error: ...``) and
aborts the job. A rank that dies *without* an exception (SIGKILL, the OOM
killer, a segmentation fault, ``os._exit``) says nothing, and MPICH's banner
gives a PID, not a rank. The other ranks cannot be relied on to say it: the
launcher kills them within milliseconds of noticing the death.

So under a launcher, ``caudal`` forks before MPI is started: the child goes on
as the rank; the parent, which the launcher sees as the rank, only waits. The
child tells it over a pipe which phase it enters (loading the case, training,
finishing) and, before it exits on its own, that it has said whatever needed
saying. When the child ends any other way, the guard prints its rank, host,
PID, how it ended and its last phase, and exits with the child's status: only
then does the launcher see the rank end and tear the job down.

The guard forwards the signals a launcher or batch system sends (SIGINT,
SIGTERM, SIGUSR1, ...) to the child, which runs in a process group of its own
so that each signal reaches it once. The child dies with its guard
(``PR_SET_PDEATHSIG``), so a launcher that kills the guard kills the rank.
The guard is a fork of a process that has only imported modules: it shares
their memory with the rank and allocates nothing of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys

from caudal._libc import libc

GUARD_FD = "CAUDAL_RANK_GUARD_FD"
"""Environment variable naming the pipe to the guard, in the rank it guards."""

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP, signal.SIGQUIT)

_PR_SET_PDEATHSIG = 1


def launcher_rank_and_size() -> tuple[int, int]:
    """This process's rank and the job's size as the launcher's environment says (before MPI starts)."""
    for rank, size in (("PMI_RANK", "PMI_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
                       ("MV2_COMM_WORLD_RANK", "MV2_COMM_WORLD_SIZE"), ("PMIX_RANK", "SLURM_STEP_NUM_TASKS"),
                       ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS")):
        with contextlib.suppress(KeyError, ValueError):
            return int(os.environ[rank]), int(os.environ[size])
    return 0, 1


def needs_guard() -> bool:
    """Whether this process is a rank of a multi-rank job that no guard watches yet."""
    return GUARD_FD not in os.environ and launcher_rank_and_size()[1] > 1


def run_guarded(rank: int, size: int) -> int | None:
    """Fork: ``None`` in the child, which goes on as the rank; the child's exit status in the guard."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.environ[GUARD_FD] = str(write)
        _die_with_parent()
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        return None
    os.close(write)
    for signum in FORWARDED:
        signal.signal(signum, lambda received, frame: _forward(pid, received))
    last_phase, explained = _listen(read)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0 and not explained:
        how = (f"was killed by {signal.Signals(-code).name}" if code < 0
               else f"exited with status {code} without an error message")
        print(f"caudal: rank {rank} of {size} (pid {pid} on {socket.gethostname()}) {how} while {last_phase}",
              file=sys.stderr, flush=True)
    return 128 - code if code < 0 else code


def _listen(read: int) -> tuple[str, bool]:
    """Read the child's messages until it closes the pipe (when it ends); its last phase and whether it explained."""
    last_phase, explained, pending = "starting", False, b""
    with os.fdopen(read, "rb", buffering=0) as stream:
        while chunk := stream.read(4096):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                kind, _, text = line.decode(errors="replace").partition(" ")
                if kind == "phase":
                    last_phase = text
                elif kind == "explained":
                    explained = True
    return last_phase, explained


def _forward(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its guard dies (elsewhere: nothing to do)."""
    prctl = getattr(libc(), "prctl", None)
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _tell(line: str) -> None:
    fd = os.environ.get(GUARD_FD)
    if fd is None:
        return
    with contextlib.suppress(OSError, ValueError):
        os.write(int(fd), (line.replace("\n", " ") + "\n").encode())


def phase(text: str) -> None:
    """Tell the guard (if any) what this rank does now, for the message should it vanish."""
    _tell(f"phase {text}")


def explained() -> None:
    """Tell the guard (if any) that this rank has said why it ends: a nonzero exit is not a silent death."""
    _tell("explained")
