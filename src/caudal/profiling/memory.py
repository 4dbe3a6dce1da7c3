"""Memory figures of one rank: its RSS, its stage LP cache, its workspaces' buffers.

Each is cheap enough to read once per iteration (RSS is one read of
``/proc/self/statm``; the cache sums array sizes over the stages). The cache
is seen through :class:`StageLPs`, what any stage LP cache of the algorithm
layer offers, so this layer does not depend on the algorithm.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

from caudal.model.stage_lp import StageLP

STATM = "/proc/self/statm"
"""Linux's page counts of this process: where psutil reads RSS from too, without its 2.3 MB of resident code."""


class StageLPs(Protocol):
    """A stage LP cache as the profiler sees it: the current LP of every stage.

    A cache in a node-shared window also has ``shared_bytes()``, the window's size.
    """

    @property
    def lps(self) -> Sequence[StageLP]: ...


def rss_bytes() -> int:
    """Resident set size of this process: read from ``/proc`` where it exists, else through psutil."""
    try:
        with open(STATM, "rb") as statm:
            resident_pages = int(statm.read().split()[1])
    except OSError:
        import psutil  # not Linux: the portable way, loaded only here

        return int(psutil.Process().memory_info().rss)
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def cache_bytes(cache: StageLPs) -> int:
    """Bytes of the stage LP arrays this rank reads (shared or private)."""
    return sum(lp.array_bytes for lp in cache.lps)


def shared_cache_bytes(cache: StageLPs, node_rank: int) -> int:
    """Node-shared window bytes, on the node's leader only, so a sum over ranks counts each node once."""
    shared = getattr(cache, "shared_bytes", None)
    return int(shared()) if shared is not None and node_rank == 0 else 0


def workspace_bytes(workspaces: Sequence[object]) -> list[int]:
    """Each workspace's buffer bytes, as it reports them (0 for solvers that do not report any).

    Whether a solver reports them is asked of its class, so that an error
    inside the property is raised rather than read as "does not report".
    """
    return [int(ws.buffer_bytes) if hasattr(type(ws), "buffer_bytes") else 0 for ws in workspaces]
