"""SDDP.jl's 'first steps' hydro-thermal problem as a case file for ``caudal train``.

``CAUDAL_TEST_FAIL_RANK=R`` makes rank R raise while building the problem, to
test that a failure on one rank ends the whole MPI job.
"""

import os

import caudal


def build_problem() -> caudal.Problem:
    fail_rank = os.environ.get("CAUDAL_TEST_FAIL_RANK")
    if fail_rank is not None:
        from caudal.parallel.comm import world

        if world().rank == int(fail_rank):
            raise RuntimeError(f"deliberate failure on rank {fail_rank}")
    problem = caudal.Problem(name="first steps")
    for fuel_cost in (50.0, 100.0, 150.0):
        stage = problem.add_stage()
        volume = stage.add_state("volume", lower=0, upper=200, initial=200)
        inflow = stage.add_uncertain("inflow", [0.0, 50.0, 100.0])
        thermal = stage.add_variable("thermal", cost=fuel_cost)
        hydro = stage.add_variable("hydro")
        spill = stage.add_variable("spill")
        stage.add_constraint({thermal: 1, hydro: 1}, "==", 150)
        stage.add_constraint({volume.out: 1, hydro: 1, spill: 1, volume.incoming: -1}, "==", inflow)
    return problem
