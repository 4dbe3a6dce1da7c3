"""Shared test configuration.

Hypothesis profiles: ``default`` explores new random examples on every run (what
you want while developing: each run may find a new counterexample); ``ci``
(``HYPOTHESIS_PROFILE=ci``) derandomizes, so a CI run is reproducible and a red
build means the code changed, not the dice. Both disable the per-example
deadline, since an example is a whole SDDP training whose time depends on the
machine's load more than on the code.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", parent=settings.get_profile("default"), derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
