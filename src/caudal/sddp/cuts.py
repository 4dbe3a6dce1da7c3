"""Per-stage pools of Benders cuts.

A cut of stage ``t`` bounds the cost-to-go after stage ``t`` from below:
``theta_t >= intercept + coefficients . x_t`` where ``x_t`` is stage ``t``'s
outgoing state. Each cut has a *target*: the value-function column it bounds,
as an index into the stage template's ``cut_cols`` (always 0 single-cut; the
next stage's opening multi-cut). Cuts are only ever appended; an inactive cut
stays in the pool (it is part of a checkpoint) but leaves the stage LP.
"""

from __future__ import annotations

import numpy as np


class CutPool:
    """The cuts of one stage, in the canonical order they were added."""

    def __init__(self, n_states: int, capacity: int = 64):
        self.n_states = n_states
        self.size = 0
        self._intercepts = np.empty(capacity)
        self._coefficients = np.empty((capacity, n_states))
        self._iteration = np.empty(capacity, dtype=np.int64)
        self._forward_pass = np.empty(capacity, dtype=np.int64)
        self._target = np.empty(capacity, dtype=np.int32)
        self._active = np.empty(capacity, dtype=bool)

    def add(
        self,
        intercepts: np.ndarray,
        coefficients: np.ndarray,
        iteration: int | np.ndarray,
        forward_passes: np.ndarray,
        targets: int | np.ndarray = 0,
    ) -> None:
        """Append cuts (already in canonical order: by iteration, forward pass, then target)."""
        n_new = int(intercepts.shape[0])
        self._reserve(self.size + n_new)
        end = self.size + n_new
        self._intercepts[self.size : end] = intercepts
        self._coefficients[self.size : end] = coefficients
        self._iteration[self.size : end] = iteration
        self._forward_pass[self.size : end] = forward_passes
        self._target[self.size : end] = targets
        self._active[self.size : end] = True
        self.size = end

    def _reserve(self, needed: int) -> None:
        capacity = self._intercepts.shape[0]
        if needed <= capacity:
            return
        new_capacity = max(needed, 2 * capacity)
        for name in ("_intercepts", "_coefficients", "_iteration", "_forward_pass", "_target", "_active"):
            old = getattr(self, name)
            grown = np.empty((new_capacity,) + old.shape[1:], dtype=old.dtype)
            grown[: self.size] = old[: self.size]
            setattr(self, name, grown)

    @property
    def intercepts(self) -> np.ndarray:
        return self._intercepts[: self.size]

    @property
    def coefficients(self) -> np.ndarray:
        return self._coefficients[: self.size]

    @property
    def iteration(self) -> np.ndarray:
        return self._iteration[: self.size]

    @property
    def forward_pass(self) -> np.ndarray:
        return self._forward_pass[: self.size]

    @property
    def targets(self) -> np.ndarray:
        return self._target[: self.size]

    @property
    def n_target_groups(self) -> int:
        """One more than the highest target (1 for an empty or single-cut pool)."""
        return int(self.targets.max()) + 1 if self.size else 1

    @property
    def active(self) -> np.ndarray:
        return self._active[: self.size]

    def set_active(self, mask: np.ndarray) -> bool:
        """Mark which cuts belong in the stage LP; returns whether anything changed."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (self.size,):
            raise ValueError(f"activity mask has shape {mask.shape}, pool has {self.size} cuts")
        changed = not np.array_equal(mask, self.active)
        self._active[: self.size] = mask
        return changed

    def active_ids(self) -> np.ndarray:
        return np.flatnonzero(self.active)

    def evaluate(self, states: np.ndarray, target: int | None = None) -> np.ndarray:
        """The cut approximation ``max_c (intercept_c + coef_c . x)`` at each row of ``states``.

        Over the active cuts of one ``target`` if given, else over all of them
        (which is the value function only single-cut).
        """
        ids = self.active_ids()
        if target is not None:
            ids = ids[self.targets[ids] == target]
        if ids.size == 0:
            return np.full(states.shape[0], -np.inf)
        return (self.intercepts[ids][None, :] + states @ self.coefficients[ids].T).max(axis=1)


class StateArchive:
    """The visited (trial) states of one stage, in canonical order, grown by doubling."""

    def __init__(self, n_states: int, capacity: int = 64):
        self.size = 0
        self._states = np.empty((capacity, n_states))

    def add(self, states: np.ndarray) -> None:
        needed = self.size + states.shape[0]
        if needed > self._states.shape[0]:
            grown = np.empty((max(needed, 2 * self._states.shape[0]), self._states.shape[1]))
            grown[: self.size] = self._states[: self.size]
            self._states = grown
        self._states[self.size : needed] = states
        self.size = needed

    @property
    def states(self) -> np.ndarray:
        return self._states[: self.size]
