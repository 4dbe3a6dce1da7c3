"""The native workspace: the compiled kernels of ``caudal._native``, in the protocol's types.

:class:`NativeWorkspace` implements the
:class:`~caudal.solver.workspace.SolverWorkspace` protocol. Its work is done
by :class:`caudal._native.NativeKernel` (built from ``native/_native.pyx`` by
``pip install .``), inner loops in C over the HiGHS C API with the GIL
released; this class only turns the kernel's plain reports into the solver
layer's types: its counters into :class:`SolverStats`, its
``StageSolveFailed`` (with HiGHS's model status code) into the
:class:`SolverError` the highspy reference raises. The native module imports
nothing of caudal, so the solver layer's Python side stays above it.

The kernels link ``libhighs.so`` of the highsbox package by its SONAME.
:func:`load_highs_library` loads it by its path first, so the kernels import
whatever the install layout (the extension's relative rpath covers only
caudal and highsbox side by side in one site-packages). ``NATIVE_AVAILABLE``
says whether the kernels could be imported; ``NATIVE_IMPORT_ERROR`` keeps the
reason when they could not (a source checkout used without building, highsbox
missing, or a libhighs of another HiGHS version than the one built against).
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from caudal.solver.workspace import SolveFailure, SolverError, SolverStats, SolverWorkspace

P = ParamSpec("P")
R = TypeVar("R")

_loaded_libraries: list[ctypes.CDLL] = []  # kept referenced for the life of the process


def load_highs_library() -> Path:
    """Load highsbox's ``libhighs.so``, so the kernels' dependency on it resolves; returns its path.

    Loaded ``RTLD_LOCAL`` (ctypes' default): the dynamic loader matches the
    kernels' ``NEEDED libhighs.so`` to it by its SONAME, and none of its
    symbols enters the global scope, where they could collide with another
    HiGHS in the process (a highspy wheel links its own copy).
    """
    import highsbox

    path = Path(highsbox.highs_lib_dir()) / "libhighs.so"
    _loaded_libraries.append(ctypes.CDLL(os.fspath(path)))
    return path


def _import_kernels():
    """``caudal._native`` with highsbox's libhighs loaded; ImportError saying why if it cannot be used."""
    try:
        library = load_highs_library()
    except (ImportError, OSError) as error:
        raise ImportError(f"caudal's native kernels need the highsbox package's libhighs.so: {error}") from error
    from caudal import _native

    compiled, loaded = _native.highs_versions()
    if compiled.split(".")[:2] != loaded.split(".")[:2]:
        raise ImportError(
            f"caudal's native kernels were built against HiGHS {compiled} but {library} is HiGHS {loaded}; "
            "reinstall caudal, or install the highsbox version it was built with"
        )
    return _native, library


try:
    _native, HIGHS_LIBRARY = _import_kernels()
except ImportError as error:  # the extension is not built, or its libhighs is missing or another version
    _native, HIGHS_LIBRARY = None, None
    NATIVE_AVAILABLE = False
    NATIVE_IMPORT_ERROR: ImportError | None = error
    _Kernel: type = object
else:
    NATIVE_AVAILABLE = True
    NATIVE_IMPORT_ERROR = None
    _Kernel = _native.NativeKernel


SPIN_WHILE_TOTAL_IS: Callable[..., int] | None = (
    _native.spin_while_total_is if NATIVE_AVAILABLE else None
)
"""``spin(counters, total, limit_ns, gil_wait_ns=0)``: spin without the GIL while int64 ``counters`` sum to
``total``, at most ``limit_ns``; their sum then (None without the kernels). The thread pool's wait before it
blocks on a queue; with ``gil_wait_ns``, once the sum changed, spin until a kernel leaves the GIL free."""


def model_status_name(code: int) -> str:
    """HiGHS's own name of a model status code (highspy's ``modelStatusToString``), for error messages."""
    import highspy

    try:
        return highspy.Highs().modelStatusToString(highspy.HighsModelStatus(code))
    except ValueError:
        return f"unknown model status {code}"


def native_kernel_info() -> dict[str, str | None]:
    """Where the native kernels and their HiGHS come from: module file, libhighs path, HiGHS versions.

    For diagnostics (``caudal`` reports it); every value is ``None`` when the
    kernels are not available.
    """
    if not NATIVE_AVAILABLE:
        return {"module": None, "highs_library": None, "highs_compiled": None, "highs_loaded": None}
    compiled, loaded = _native.highs_versions()
    return {
        "module": _native.__file__,
        "highs_library": os.fspath(HIGHS_LIBRARY),
        "highs_compiled": compiled,
        "highs_loaded": loaded,
    }


def _raising_solver_errors(protocol_method: Callable[P, R]) -> Callable[P, R]:
    """The kernel's method of the same name, its ``StageSolveFailed`` raised as the protocol's :class:`SolverError`.

    Takes the protocol's method so that the workspace's method carries its
    signature, type hints and docstring (``functools.wraps``); the kernel's
    own method (same parameter names) does the work.
    """
    kernel_method = getattr(_Kernel, protocol_method.__name__, None)  # None without the kernels (never called)

    @functools.wraps(protocol_method)
    def method(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return kernel_method(*args, **kwargs)
        except _native.StageSolveFailed as failed:
            raise _solver_error(failed) from None

    return method


class NativeWorkspace(_Kernel):
    """One worker thread's native solver (see :class:`~caudal.solver.workspace.SolverWorkspace`).

    Create it in the thread that will use it (its buffers are first touched
    there) and never share it between threads. ``numa_node`` records the node
    the owning thread is pinned to (-1 when unknown); ``iteration`` is only
    used in error messages.
    """

    frees_gil_while_solving = True
    """Its kernels count themselves as leaving the GIL free while they solve (``caudal.parallel.threads``)."""

    if not NATIVE_AVAILABLE:

        def __init__(self, numa_node: int = -1) -> None:
            raise RuntimeError(f"the native solver is not available ({NATIVE_IMPORT_ERROR})")

    @property
    def stats(self) -> SolverStats:
        """A snapshot of this workspace's counters (a new object on every access)."""
        return SolverStats(**self.counters())

    solve_forward = _raising_solver_errors(SolverWorkspace.solve_forward)
    solve_backward = _raising_solver_errors(SolverWorkspace.solve_backward)
    solve_detailed = _raising_solver_errors(SolverWorkspace.solve_detailed)


def _solver_error(failed: Exception) -> SolverError:
    """The protocol's error for a kernel's ``StageSolveFailed``: the highspy reference's message."""
    return SolverError(
        SolveFailure(failed.stage, failed.opening, failed.forward_pass, model_status_name(failed.status),
                     failed.iteration)
    )


__all__ = [
    "HIGHS_LIBRARY",
    "NATIVE_AVAILABLE",
    "NATIVE_IMPORT_ERROR",
    "NativeWorkspace",
    "load_highs_library",
    "model_status_name",
    "native_kernel_info",
]
