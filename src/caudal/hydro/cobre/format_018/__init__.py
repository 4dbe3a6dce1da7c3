"""Cobre's current case format (0.18): a reader producing the same ``Case`` as the 0.5.x one.

:mod:`~caudal.hydro.cobre.format_018.properties` lists every property of the
0.18 JSON schemas and whether caudal reads, ignores or refuses it.
"""

from caudal.hydro.cobre.format_018.reader import read_case

__all__ = ["read_case"]
