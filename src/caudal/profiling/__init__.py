"""Observability: where every second of a training goes, per rank and thread.

* :class:`~caudal.profiling.recorder.RunProfiler` is always on (unless turned
  off): it times phases, worker tasks and checkpoints, snapshots solver counters
  and memory once per iteration, and writes ``profile.parquet`` (one row per
  iteration x rank x thread) and, for one chosen iteration, ``trace.json``.
* :mod:`~caudal.profiling.report` reads a run directory back: the summary table
  and the PNG plots of ``caudal profile``.
* :mod:`~caudal.profiling.scaling` launches a sweep of ranks x threads layouts:
  ``caudal scaling``.

This layer sees the algorithm only through the phase hook of
:func:`caudal.sddp.training.run_training`, the worker pool interface, the
solver statistics and the few fields of a training's state and options it
records (:class:`~caudal.profiling.recorder.ProfiledState`,
:class:`~caudal.profiling.recorder.ProfiledOptions`): it imports nothing of
:mod:`caudal.sddp` and knows nothing of cuts or stages beyond their count.
"""

from caudal.profiling.recorder import RunProfiler, profiling_enabled

__all__ = ["RunProfiler", "profiling_enabled"]
