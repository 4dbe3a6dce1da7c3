"""The C library of this process, for the three Linux calls Python's ``os`` does not offer.

caudal reaches past ``os`` in three places, each in its own layer:
``renameat2(RENAME_EXCHANGE)`` to swap a checkpoint directory in atomically
(persistence), ``prctl(PR_SET_PDEATHSIG)`` so that a rank dies with its guard
(parallel), and glibc's ``malloc_trim`` to hand freed heap pages back before a
training allocates (algorithm). They share this one loader, at the bottom of
the layers, so the library is opened once and the rule for finding it is
written once. It imports nothing of caudal.
"""

from __future__ import annotations

import ctypes
import functools


@functools.cache
def libc() -> ctypes.CDLL | None:
    """The process's C library with ``errno`` kept for :func:`ctypes.get_errno`, or ``None`` where none loads.

    ``CDLL(None)`` opens the symbols already linked into the interpreter, which
    include the C library on every Unix (glibc and musl alike), without
    searching the file system as ``ctypes.util.find_library`` does (that runs
    ``ldconfig`` or a compiler in a subprocess). A caller checks the symbol it
    needs with ``getattr``: ``renameat2`` and ``malloc_trim`` are glibc's.
    """
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
