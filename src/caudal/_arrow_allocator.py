"""Choose Arrow's allocator before pyarrow is first imported (imported first by ``caudal/__init__.py``)."""

import os

ARROW_ALLOCATOR = "system"
"""Arrow's memory pool in a process that imports caudal before pyarrow, unless ``ARROW_DEFAULT_MEMORY_POOL`` is set.

caudal reads small Parquet tables once (a case's statistics and openings)
and writes outputs between iterations. pyarrow's default pool in the PyPI
wheels (mimalloc) keeps segments of megabytes resident after those tables are
freed: 4.3 MB of a 4ree training's peak resident memory (measured with
``benchmarks/memory.py``; see "Memory" in ``docs/profiling.md``). malloc
returns them. pyarrow reads the variable once, when it is first imported, so
it is set here, before any caudal module imports pyarrow; it applies to the
whole process and never overrides the user's own setting.
"""
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", ARROW_ALLOCATOR)
