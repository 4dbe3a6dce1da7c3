"""Shared test configuration.

Hypothesis profiles: ``default`` explores new random examples on every run (what
you want while developing: each run may find a new counterexample); ``ci``
(``HYPOTHESIS_PROFILE=ci``) derandomizes, so a CI run is reproducible and a red
build means the code changed, not the dice. Both disable the per-example
deadline, since an example is a whole SDDP training whose time depends on the
machine's load more than on the code.

Multi-rank tests (marker ``mpi``, every test that launches ``mpiexec``) need
mpi4py and an ``mpiexec``: without them (caudal installed without the ``mpich``
extra or a site MPI) they are skipped, saying why; with
``CAUDAL_TESTS_REQUIRE_MPI=1`` (what ``.ci/run`` sets) they fail instead, so CI
never passes by skipping them.
"""

from __future__ import annotations

import importlib.util
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def _missing_mpi() -> str | None:
    """Why multi-rank tests cannot run here, or None when they can."""
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed: pip install 'caudal[mpich]' (or mpi4py built against the site's MPI)"
    from caudal.profiling.launch import find_mpiexec

    try:
        find_mpiexec()
    except RuntimeError as exc:
        return str(exc)
    return None


def pytest_collection_modifyitems(config, items):
    mpi_items = [item for item in items if item.get_closest_marker("mpi")]
    reason = _missing_mpi() if mpi_items else None
    if reason is None:
        return
    if os.environ.get("CAUDAL_TESTS_REQUIRE_MPI") == "1":
        count = len(mpi_items)
        raise pytest.UsageError(f"CAUDAL_TESTS_REQUIRE_MPI=1 but {count} multi-rank tests cannot run: {reason}")
    for item in mpi_items:
        item.add_marker(pytest.mark.skip(reason=f"multi-rank test: {reason}"))
