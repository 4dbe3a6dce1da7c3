"""Refusing sizes this machine cannot hold, before allocating them.

``--stages 100000000`` or a case with a hundred thousand openings per stage
does not fail at once: it allocates for minutes, then the kernel's OOM killer
ends the process (or the node) without a word. So the layers that turn sizes
into memory estimate it first and refuse with the figure, in one line, while
nothing has been done yet.

The estimates are deliberately rough (within a factor of two of what the
structures take): they catch sizes that are off by orders of magnitude, not
runs that fit with 10% to spare.
"""

from __future__ import annotations

import os

GIB = 1024**3


def available_memory() -> int:
    """Bytes this process may still take: the smaller of the machine's available memory and its cgroup's limit."""
    limits = []
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as stream:
            text = stream.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as stream:
            used = int(stream.read().strip())
        if text != "max":
            limits.append(max(0, int(text) - used))
    except (OSError, ValueError):
        pass
    if not limits:
        try:
            limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (OSError, ValueError):
            return 1 << 62  # cannot tell: do not refuse
    return min(limits)


def too_large(what: str, needed_bytes: float, *, available: int | None = None) -> str | None:
    """Why ``what`` cannot fit (a one-line message with the figures), or None when it fits.

    ``what`` says which sizes make the figure (``"100000000 stages"``); the
    caller raises the error of its layer with the message.
    """
    available = available_memory() if available is None else available
    if needed_bytes <= available:
        return None
    return (f"{what} needs about {_gib(needed_bytes)} of memory, more than the {_gib(available)} available "
            "on this machine; reduce it")


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / GIB:,.1f} GiB" if n_bytes >= GIB / 10 else f"{n_bytes / 1024**2:,.0f} MiB"


def stage_bytes(num_rows: int, num_cols: int, nonzeros: int, n_openings: int, patched: int) -> float:
    """A stage's compiled form: its matrix, bounds and costs, a patch of ``patched`` bounds per opening,
    and the opening tour of the backward pass (a dense distance matrix over the openings)."""
    return 16.0 * nonzeros + 40.0 * (num_rows + num_cols) + 16.0 * n_openings * max(patched, 1) + 24.0 * n_openings**2


def training_bytes(n_stages: int, n_states: int, num_rows: int, num_cols: int, forward_passes: int) -> float:
    """What one iteration's forward passes hold: per pass and stage its state, cost and final basis."""
    return float(forward_passes) * n_stages * (24.0 * n_states + 16.0 + 2.0 * (num_rows + num_cols))
