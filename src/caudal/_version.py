"""caudal's version: the one place it is written (``pyproject.toml`` reads it from here).

It sits at the bottom of the layers and imports nothing, so the checkpoint
writer, the profiler and the command line take it from here rather than
from the ``caudal`` package, which imports them.
"""

__version__ = "0.1.0"
