"""The order in which a backward work item solves its openings.

A backward work item solves every opening of one stage at one trial state,
each opening warm-started from the optimal basis of the one before. Two
openings with similar values (inflows, loads) have similar optimal bases, so
the order matters: walking the openings along a short path through their
values takes fewer simplex pivots than their index order. And the forward
pass that produced the trial state already solved one opening there: its
final basis, where the work item starts, is optimal for that opening (up to
the cuts added since), so the walk starts at that opening.

The order depends only on the stage's openings and on the forward pass, never
on the layout, so cuts stay the same whatever the number of ranks and threads.
Measured on 4ree (128 iterations x 4 forward passes, one thread, three
interleaved pairs of runs): 19% fewer backward simplex iterations (163728
against 201853), 8 to 11% less time per backward solve.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from caudal.model.stage_lp import INDEX, StageTemplate

MAX_SWEEPS = 20
"""2-opt sweeps over a tour at most; each sweep is one pass of vectorised moves."""


def opening_tour(template: StageTemplate) -> np.ndarray:
    """A short closed tour (int32[n_openings]) through the stage's openings, starting at opening 0.

    Points are the openings' patched bounds, each scaled by its range over the
    openings; the tour is built nearest neighbour first and shortened by
    2-opt moves. Ties go to the lower index, so the tour is a function of the
    template alone.
    """
    return _tour_of_points(_opening_points(template))


def opening_tours(templates: Sequence[StageTemplate]) -> list[np.ndarray]:
    """:func:`opening_tour` of every template, each distinct set of openings toured once.

    The tour is a function of the openings' points alone, so stages whose
    points are the same bits share one tour (the same array, read-only). A
    seasonal case repeats its openings every year: brazil4 at 120 stages has
    13 distinct sets, and touring each of the 120 stages took 0.5 s of every
    training run, serial, before the first forward pass.
    """
    tours: dict[tuple[tuple[int, ...], bytes], np.ndarray] = {}
    result = []
    for template in templates:
        points = _opening_points(template)
        key = (points.shape, points.tobytes())
        if key not in tours:
            tour = _tour_of_points(points)
            tour.setflags(write=False)
            tours[key] = tour
        result.append(tours[key])
    return result


def _tour_of_points(points: np.ndarray) -> np.ndarray:
    """The tour of :func:`opening_tour` through ``points`` (one row per opening)."""
    n = points.shape[0]
    if n <= 3 or points.shape[1] == 0:
        return np.arange(n, dtype=INDEX)
    squared = (points * points).sum(axis=1)
    distance = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2.0 * points @ points.T, 0.0))
    tour = _nearest_neighbour(distance)
    _two_opt(tour, distance)
    return tour.astype(INDEX)


def chain_orders(tour: np.ndarray, forward_openings: np.ndarray) -> np.ndarray:
    """Each trial state's order (int32[K, n_openings]): the tour from its forward pass's opening on.

    ``forward_openings[k]`` is the realisation forward pass ``k`` visited at
    this stage; one outside the openings (an out-of-sample forward pass)
    starts the tour at its beginning.
    """
    n = tour.shape[0]
    position = np.zeros(n, dtype=np.int64)
    position[tour] = np.arange(n)
    inside = (forward_openings >= 0) & (forward_openings < n)
    starts = np.where(inside, position[np.where(inside, forward_openings, 0)], 0)
    return np.ascontiguousarray(tour[(starts[:, None] + np.arange(n)[None, :]) % n], dtype=INDEX)


MAX_KEPT_ROTATIONS = 512
"""Most openings whose tour rotations :class:`TourChains` keeps (int32[n, n]: 1 MB at 512)."""


class TourChains:
    """:func:`chain_orders` of one tour, its rotations computed once.

    The training asks for the orders of every backward stage, serial, between
    stages; a tour has only ``n`` rotations, so each is taken once here and an
    order is one row lookup. The rows are :func:`chain_orders`'s, bit for bit
    (``tests/test_stage_rows.py`` compares them).
    """

    def __init__(self, tour: np.ndarray):
        self.tour = tour
        n = tour.shape[0]
        self._rotations = None
        if n <= MAX_KEPT_ROTATIONS:
            self._rotations = chain_orders(tour, tour)  # row p: the tour from its p-th opening on
            self._rotations.setflags(write=False)
        # the position on the tour of opening o at o + 1, and 0 (the tour's start) at both ends, where
        # ``take(..., mode="clip")`` sends an opening outside the openings
        self._start = np.zeros(n + 2, dtype=np.int64)
        self._start[tour.astype(np.int64) + 1] = np.arange(n)

    def orders(self, forward_openings: np.ndarray) -> np.ndarray:
        """``chain_orders(tour, forward_openings)``."""
        if self._rotations is None:
            return chain_orders(self.tour, forward_openings)
        starts = self._start.take(np.asarray(forward_openings, dtype=np.int64) + 1, mode="clip")
        return self._rotations.take(starts, axis=0)


def tour_chains(tours: Sequence[np.ndarray]) -> list[TourChains]:
    """One :class:`TourChains` per stage; stages sharing a tour (:func:`opening_tours`) share its chains."""
    chains: dict[int, TourChains] = {}  # by id: the tours outlive this call in the caller's list
    for tour in tours:
        if id(tour) not in chains:
            chains[id(tour)] = TourChains(tour)
    return [chains[id(tour)] for tour in tours]


def two_way_orders(orders: np.ndarray, ahead: int) -> np.ndarray:
    """``orders`` (int32[K, n], each a walk along the tour from the forward opening), walked both ways.

    Each row keeps its first ``ahead`` openings (the forward opening, then
    the tour onward) and continues with the others walked backward from the
    forward opening's predecessor on the tour, so that a chunk starting
    right after position ``ahead`` starts next to the forward opening instead
    of half a tour away. A function of ``orders`` and ``ahead`` alone.
    """
    n = orders.shape[1]
    backward = orders[:, :0:-1]  # the start's predecessor on the walk, then the one before it...
    return np.ascontiguousarray(np.concatenate((orders[:, :ahead], backward[:, : n - ahead]), axis=1))


def _opening_points(template: StageTemplate) -> np.ndarray:
    """The openings' patch values, one row per opening, each column scaled to unit range."""
    n = template.n_openings
    values = np.hstack(
        [
            template.col_patch_lower[:n],
            template.col_patch_upper[:n],
            template.row_patch_lower[:n],
            template.row_patch_upper[:n],
        ]
    )
    values = np.where(np.isfinite(values), values, 0.0)
    span = values.max(axis=0, initial=0.0) - values.min(axis=0, initial=0.0) if n else np.zeros(values.shape[1])
    varying = span > 0
    return values[:, varying] / span[varying]


def _nearest_neighbour(distance: np.ndarray) -> np.ndarray:
    n = distance.shape[0]
    tour = np.empty(n, dtype=np.int64)
    visited = np.zeros(n, dtype=bool)
    tour[0], visited[0] = 0, True
    for i in range(1, n):
        candidates = np.where(visited, np.inf, distance[tour[i - 1]])
        tour[i] = int(np.argmin(candidates))  # argmin takes the first of equals: the lower index
        visited[tour[i]] = True
    return tour


def _two_opt(tour: np.ndarray, distance: np.ndarray) -> None:
    """Shorten the closed ``tour`` in place: reverse a segment whenever that shortens it."""
    n = tour.shape[0]
    for _ in range(MAX_SWEEPS):
        improved = False
        for i in range(n - 2):
            a, b = tour[i], tour[i + 1]
            js = np.arange(i + 2, n if i > 0 else n - 1)  # edge (i, i+1) against edge (j, j+1)
            if js.size == 0:
                continue
            cs, es = tour[js], tour[(js + 1) % n]
            gain = distance[a, b] + distance[cs, es] - distance[a, cs] - distance[b, es]
            best = int(np.argmax(gain))
            if gain[best] > 1e-12:
                j = js[best]
                tour[i + 1 : j + 1] = tour[i + 1 : j + 1][::-1].copy()
                improved = True
        if not improved:
            return
