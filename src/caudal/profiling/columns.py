"""What one row of ``profile.parquet`` holds: one iteration of one thread of one rank.

The columns live here, apart from the code that fills or reads them, so the
recorder, the Parquet writer and the report agree on one list. Rank-level
columns (the phases, ``wall_s``, memory of the rank) repeat on every thread row
of that rank: select ``thread == 0`` before summing them over a rank.
"""

from __future__ import annotations

import numpy as np

PHASES = ("forward", "backward", "communication", "cache", "bound", "stopping", "checkpoint")
"""The phases the training loop and the checkpoint writer time, in the order of an iteration."""

BUSY_KINDS = ("forward", "backward", "bound", "other")
"""Where a worker's task time is booked: the phase it ran in (``other``: simulations in stopping checks)."""

SOLVER_COUNTERS = ("solves", "simplex_iterations", "retries", "basis_hits", "loads", "cuts_added", "ranged")
SOLVER_TIMES = ("time_load", "time_patch", "time_basis", "time_solve", "time_extract", "time_wait")
"""The :class:`~caudal.solver.workspace.SolverStats` fields, as read from each workspace."""

INT32 = np.dtype(np.int32)
INT64 = np.dtype(np.int64)
FLOAT64 = np.dtype(np.float64)

COLUMNS: tuple[tuple[str, np.dtype, str], ...] = (
    ("iteration", INT32, "training iteration (1-based, as in convergence.csv)"),
    ("rank", INT32, "MPI rank"),
    ("thread", INT32, "worker thread of the rank"),
    ("ranks", INT32, "ranks in the run"),
    ("threads", INT32, "worker threads per rank"),
    ("wall_s", FLOAT64, "the rank's wall time for this iteration (end of one stopping check to the next)"),
    *((f"{phase}_s", FLOAT64, f"the rank's wall time in the {phase} phase") for phase in PHASES),
    ("profiler_s", FLOAT64, "the rank's time spent by the profiler itself"),
    ("other_s", FLOAT64, "the rest of wall_s: log lines, bookkeeping between phases"),
    *((f"busy_{kind}_s", FLOAT64, f"this thread's time running {kind} tasks") for kind in BUSY_KINDS),
    ("busy_s", FLOAT64, "this thread's time running tasks, all kinds"),
    ("busy_cpu_s", FLOAT64, "this thread's CPU time in those tasks (below busy_s: the thread waited for a core)"),
    ("wait_s", FLOAT64, "this thread's time outside its tasks while its rank ran a pool phase: waiting for the "
     "other threads to finish their blocks, or for the rank's serial work between tasks"),
    ("tasks_even_s", FLOAT64, "the rank's task time, each pool run's divided by the threads its items can keep "
     "busy (min(threads, items)): the pool phases' time if every run were shared evenly"),
    ("tasks_even_doubled_s", FLOAT64, "the same with twice the threads: min(2 threads, items)"),
    ("tasks_narrow_s", FLOAT64, "the rank's task time in pool runs with fewer items than twice the threads "
     "(one forward pass, an unsplit trial state, the bound): work that twice the threads would not share"),
    *((name, INT64, f"solver counter: {name}") for name in SOLVER_COUNTERS),
    ("load_s", FLOAT64, "passing stage LPs to HiGHS"),
    ("patch_s", FLOAT64, "patching incoming states and scenario values into the bounds"),
    ("basis_s", FLOAT64, "setting warm-start bases"),
    ("solve_s", FLOAT64, "inside Highs_run, and ranging openings on the kept basis"),
    ("extract_s", FLOAT64, "reading primal values, duals and bases back"),
    ("fork_wait_s", FLOAT64, "a forked trial state's second work item waiting for its head's basis"),
    ("rss_bytes", INT64, "resident set size of the rank's process"),
    ("cache_bytes", INT64, "bytes of the stage LP arrays (template plus cuts) the rank reads"),
    ("cache_shared_bytes", INT64, "node-shared window bytes held by this node (on the node's leader rank only)"),
    ("workspace_bytes", INT64, "this thread's native workspace buffers (0 when the solver does not report them)"),
)

ADDED_COLUMNS = ("fork_wait_s", "ranged", "tasks_even_s", "tasks_even_doubled_s", "tasks_narrow_s")
"""Columns added after profiles were first written: a profile without them reads them as zeros."""

NAMES: tuple[str, ...] = tuple(name for name, _, _ in COLUMNS)
INDEX: dict[str, int] = {name: i for i, name in enumerate(NAMES)}
WIDTH = len(NAMES)

STAT_COLUMNS = (*SOLVER_COUNTERS, "load_s", "patch_s", "basis_s", "solve_s", "extract_s", "fork_wait_s")
"""Columns filled from solver statistics, in the order of ``SOLVER_COUNTERS + SOLVER_TIMES``."""
