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

Python's own small-object arenas are a second trap: an arena goes back only
when all of it is free, and the compiled problem's small objects, made while the
builders were alive, sit in most of the builders' arenas. :func:`rehome_problem`
copies them once the builders are collected, before the trim: on the national
case (one thread) 70 arenas became 29, and the resident set at the end of the
training went from 216.7 to 175.4 MB.

Trimming costs a walk over the free lists (milliseconds), so it is done once,
when a training starts, not per iteration: the training's own arrays are
long-lived or reused, and what it frees it soon allocates again.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import gc
import sys

import numpy as np

from caudal._libc import libc
from caudal.model.problem import CompiledProblem


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


def return_free_heap(problem: CompiledProblem | None = None) -> bool:
    """Free what only reference cycles hold, then give the C heap's free pages back to the system.

    ``problem``, when given, is first moved out of the builders' memory
    (:func:`rehome_problem`), so that the pages they used can be given back.

    The builders a case loads refer to each other in cycles, so dropping them
    frees nothing until the cyclic collector's next full pass, which may come
    long into the training: ``caudal train`` on the national case (one thread,
    2 iterations x 4 passes) peaked at 264.7 and 265.5 MB without this
    collection, at 241.9 to 245.4 MB with it (4 runs; a fifth, 214.5 MB).
    Returns whether the C library could trim (glibc only).
    """
    gc.collect()
    if problem is not None:
        rehome_problem(problem)
        gc.collect()
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def rehome_problem(problem: CompiledProblem) -> None:
    """Give ``problem`` fresh copies of its small Python objects, now that the builders are gone.

    Python keeps its small objects (array headers, names, floats, the
    templates themselves) in 1 MiB arenas of 16 KiB pools, and unmaps an arena
    only when all of its pools are free; a free pool inside an arena still in
    use stays resident. A problem is compiled while its builders are alive, so
    each stage's template puts its few hundred small objects in the gaps between
    the builders' millions: once the builders are dropped, those few objects keep
    almost every arena the builders used. On the national case (160 hydros, 120
    stages) that was 70 arenas holding 13.6 MB of live objects and 56 MB of free
    pools, after the collection and the trim. Copied after the builders are
    collected, the objects fill the arenas still in use and the others can go.

    The copies are exact (the arrays' bytes, the names' characters) and keep
    what was shared shared (a names tuple of many stages stays one tuple). The
    problem object itself is updated in place: its callers hold it.
    """
    memo: dict[int, object] = {}
    for field in dataclasses.fields(problem):
        object.__setattr__(problem, field.name, _fresh(getattr(problem, field.name), memo))


def _fresh(value, memo: dict[int, object]):
    """An equal copy of ``value`` allocated now, the same copy for the same object (``memo``, by id)."""
    if value is None or isinstance(value, bool):
        return value
    key = id(value)
    if key in memo:
        return memo[key]
    if isinstance(value, np.ndarray):
        copy = value.copy()
        copy.flags.writeable = value.flags.writeable  # a shared template array stays read-only
    elif isinstance(value, str):
        copy = value.encode("utf-8", "surrogatepass").decode("utf-8", "surrogatepass")
    elif isinstance(value, float):
        copy = value * 1.0  # a new float object with the same bits (also -0.0, inf and nan)
    elif isinstance(value, tuple) and type(value) is tuple:
        copy = tuple(_fresh(item, memo) for item in value)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        copy = type(value)(**{f.name: _fresh(getattr(value, f.name), memo)
                              for f in dataclasses.fields(value) if f.init})
    else:
        return value  # ints and other objects: few, or not the problem's own
    memo[key] = copy
    return copy
