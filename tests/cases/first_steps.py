"""SDDP.jl's 'first steps' hydro-thermal problem as a case file for ``caudal train``.

``CAUDAL_TEST_FAIL_RANK=R`` makes rank R raise while building the problem, to
test that a failure on one rank ends the whole MPI job.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests folder, for problems.py

from problems import first_steps  # noqa: E402


def build_problem():
    fail_rank = os.environ.get("CAUDAL_TEST_FAIL_RANK")
    if fail_rank is not None:
        from caudal.parallel.comm import world

        if world().rank == int(fail_rank):
            raise RuntimeError(f"deliberate failure on rank {fail_rank}")
    return first_steps()
