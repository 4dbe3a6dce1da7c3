"""``caudal sweep``: many variants of one study on one allocation.

The cluster-native answer to "submit a grid of solves and collect them": one
MPI job, split into groups of ranks; each free group trains the next variant
with ``caudal.train(..., comm=group)``; a scheduler on world rank 0 hands out
variants, retries a failed or timed-out one once on the next free group, and
writes one table when all have ended. Nothing else to start: no name server,
no dispatcher process, no database.

Modules, one job each:

* :mod:`~caudal.sweep.grid`: parameter axes -> numbered variants;
* :mod:`~caudal.sweep.variant_settings`: a variant -> its problem and ``train`` keywords;
* :mod:`~caudal.sweep.scheduler`: the queue, retries and outcomes (no MPI);
* :mod:`~caudal.sweep.control`: the MPI messages between leaders and scheduler,
  and a group's agreement after each attempt;
* :mod:`~caudal.sweep.attempt`: one attempt on one group, errors caught;
* :mod:`~caudal.sweep.worker`: the loop every training rank runs;
* :mod:`~caudal.sweep.run`: the layout (groups, where the scheduler runs);
* :mod:`~caudal.sweep.results` and :mod:`~caudal.sweep.progress`: the table and
  the log lines;
* :mod:`~caudal.sweep.command`: the command line.
"""

from caudal.sweep.grid import Variant, expand, parse_axis
from caudal.sweep.run import SweepRun, run_sweep
from caudal.sweep.variant_settings import Study

__all__ = ["Study", "SweepRun", "Variant", "expand", "parse_axis", "run_sweep"]
