"""Handing the C heap's free pages back to the system before a training allocates its own arrays.

Loading a case builds per-stage Python structures (variables, rows, names: some
100 MB at the national size) that are dropped once the problem is compiled
(``caudal train`` compiles, then lets the builders go). glibc's allocator keeps
the freed memory inside the process: small objects live in the heap's arenas,
and a page is returned to the system only when the top of the heap is free, which
the long-lived compiled arrays allocated in between prevent. The pages then stay
in the resident set for the whole training, although nothing uses them.
``malloc_trim(0)`` returns every whole free page (glibc 2.8 and later release the
pages inside the heap too, not only its top). Measured on the national case (160
hydros, 120 stages, 2 iterations x 4 forward passes, one thread): the resident
set after the builders are dropped goes from 198.9 to 158.3 MB, and the peak of
the training from 273.5 to 243.8 MB.

Python's own small-object arenas need more than a trim: :func:`compacted`
re-creates the compiled problem once the builders are gone, so that the arenas
they filled empty out and go back (``caudal train`` calls it after compiling).

Trimming costs a walk over the free lists (milliseconds), so it is done once,
when a training starts, not per iteration: the training's own arrays are
long-lived or reused, and what it frees it soon allocates again.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import pickle
import sys
from typing import TypeVar

from caudal._libc import libc

T = TypeVar("T")


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or ``None`` on a C library without it (musl, macOS, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    trim = getattr(libc(), "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def return_free_heap() -> bool:
    """Free what only reference cycles hold, then give the C heap's free pages back to the system.

    The builders a case loads refer to each other in cycles, so dropping them
    frees nothing until the cyclic collector's next full pass, which may come
    long into the training: ``caudal train`` on the national case (one thread,
    2 iterations x 4 passes) peaked at 264.7 and 265.5 MB without this
    collection, at 241.9 to 245.4 MB with it (4 runs; a fifth, 214.5 MB).
    Returns whether the C library could trim (glibc only).
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def compacted(compiled: T) -> T:
    """A copy of ``compiled``, made after the builders are gone so that their arenas can go too.

    Python keeps small objects (array headers, dicts, strings) in 1 MiB arenas
    and returns an arena to the system only when every object in it is gone.
    A compiled problem's few thousand small objects are born among the
    builders' millions of temporaries, so once the builders go, most arenas
    still hold a few of the problem's objects and stay resident, nearly
    empty: after ``caudal train`` compiled the national case and dropped the
    builders, 73 arenas (76 MB) held 16 MB of live objects. Copied now, the
    problem's objects pack into arenas that are already in use, and the old
    ones free theirs: 43 arenas, and the resident set after the trim fell
    from 166 to 133 MB.

    The arrays are copied too: an array that merely viewed the old data would
    keep the old array's header, and with it its arena, alive. The heap is
    trimmed first, so the copy fits in the memory the builders gave back and
    the process peak (the compile's) does not rise. The copy goes through
    pickle protocol 5 with the arrays' data handed over out of band (copied
    once, read-only arrays stay read-only), so it keeps every shared object
    shared. An object pickle cannot copy (a lambda, a lock) is returned as it
    is: compaction only saves memory.
    """
    return_free_heap()
    buffers: list[pickle.PickleBuffer] = []
    try:
        frame = pickle.dumps(compiled, protocol=5, buffer_callback=buffers.append)
    except (pickle.PicklingError, TypeError, AttributeError):
        return compiled
    copies = [bytes(view) if view.readonly else bytearray(view) for view in map(memoryview, buffers)]
    del buffers
    return pickle.loads(frame, buffers=copies)
