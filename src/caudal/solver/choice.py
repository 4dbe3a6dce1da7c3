"""Choosing the solver of a run: the one place that knows which workspaces exist.

``"native"`` is the Cython kernel over the HiGHS C API
(:mod:`caudal.solver.native_workspace`), ``"highspy"`` the reference path
written against highspy (:mod:`caudal.solver.highspy_workspace`), and
``"auto"`` the native kernel when it is built and its HiGHS loads, else the
reference. The worker pools (:mod:`caudal.parallel.workers`) only ask for a
factory of the chosen workspace.
"""

from __future__ import annotations

from collections.abc import Callable

from caudal.solver.native_workspace import NATIVE_AVAILABLE, NATIVE_IMPORT_ERROR, NativeWorkspace
from caudal.solver.workspace import SolverWorkspace

SOLVERS = ("auto", "native", "highspy")


def resolve_solver(solver: str) -> str:
    """``"native"`` or ``"highspy"``: ``"auto"`` means native when the extension is available."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if solver == "auto":
        return "native" if NATIVE_AVAILABLE else "highspy"
    if solver == "native" and not NATIVE_AVAILABLE:
        raise RuntimeError(
            f"the native solver is not available ({NATIVE_IMPORT_ERROR}); install caudal with "
            "'pip install .' or choose solver='highspy'"
        )
    return solver


def workspace_factory(solver: str) -> Callable[[int], SolverWorkspace]:
    """``factory(numa_node)`` creating one workspace of a resolved solver name (in the thread that calls it)."""
    if solver == "native":
        return lambda node: NativeWorkspace(numa_node=node)
    if solver == "highspy":  # highspy loads a second HiGHS (about 5 MB resident): only for runs that use it
        from caudal.solver.highspy_workspace import HighspyWorkspace

        return lambda node: HighspyWorkspace()
    raise ValueError(f"not a resolved solver name: {solver!r} (resolve_solver gives 'native' or 'highspy')")
