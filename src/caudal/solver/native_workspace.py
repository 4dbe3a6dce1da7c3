"""The native workspace, if the Cython extension was built.

:class:`NativeWorkspace` lives in the compiled module ``caudal._native`` (built
from ``native/_native.pyx`` by ``pip install .``). It implements the
:class:`~caudal.solver.workspace.SolverWorkspace` protocol with the inner loops in
C over the HiGHS C API, the GIL released. ``NATIVE_AVAILABLE`` says whether it
could be imported; ``NATIVE_IMPORT_ERROR`` keeps the reason when it could not
(for example a source checkout used without building).
"""

from __future__ import annotations

import highspy  # noqa: F401  (loads libhighs.so.1, which the extension links by SONAME)

try:
    from caudal._native import NativeWorkspace, model_status_name
except ImportError as error:  # the extension is not built
    NativeWorkspace = None
    model_status_name = None
    NATIVE_AVAILABLE = False
    NATIVE_IMPORT_ERROR: ImportError | None = error
else:
    NATIVE_AVAILABLE = True
    NATIVE_IMPORT_ERROR = None

__all__ = ["NATIVE_AVAILABLE", "NATIVE_IMPORT_ERROR", "NativeWorkspace", "model_status_name"]
