"""Dealing work items to workers in contiguous blocks.

Forward passes and trial states are dealt to ranks, then to threads, in
contiguous blocks: worker ``w`` of ``n`` gets items ``[start, stop)``. Which
worker solves an item never changes its result (see the determinism rule in
:mod:`caudal.solver.workspace`), so blocks are only a matter of speed.
"""

from __future__ import annotations


def block(n_items: int, n_workers: int, worker: int) -> tuple[int, int]:
    """The ``[start, stop)`` range of items worker ``worker`` of ``n_workers`` owns."""
    if not 0 <= worker < n_workers:
        raise ValueError(f"worker {worker} out of range for {n_workers} workers")
    base, extra = divmod(n_items, n_workers)
    start = worker * base + min(worker, extra)
    return start, start + base + (1 if worker < extra else 0)


def blocks(n_items: int, n_workers: int) -> list[tuple[int, int]]:
    """Every worker's block, in worker order."""
    return [block(n_items, n_workers, w) for w in range(n_workers)]
