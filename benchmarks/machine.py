"""One line describing the machine a benchmark ran on (kept in :mod:`caudal.profiling.machine`)."""

from __future__ import annotations

from caudal.profiling.machine import cpu_model, describe_machine, load_average

__all__ = ["cpu_model", "describe_machine", "load_average"]
