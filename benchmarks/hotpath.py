"""The hot path on brazil4 stage LPs: how close the engine's kernel gets to bare HiGHS.

    python benchmarks/hotpath.py             # a couple of minutes on 2 cores
    python benchmarks/hotpath.py --quick     # a smoke run
    python benchmarks/hotpath.py --parts 3   # only the 1 vs 2 threads comparison

Four measurements, printed side by side after a line describing the machine:

1. LP solves per second on one brazil4 stage LP with 0, 200 and 1000 cuts, for

   * the engine: ``NativeWorkspace.solve_backward`` over a set of trial states
     (one Python call per trial state, every opening solved inside);
   * a bare C-API loop (``caudal._bench``) making exactly the same HiGHS calls
     and nothing else; the engine over this loop is the kernel's efficiency
     (target >= 0.9). Both report the simplex iterations, which must agree:
     they do the same pivots;
   * the highspy Python API loop (the reference workspace);
   * for scale, the bare loop without the per-trial-state reset (clear the
     solver, set the canonical basis) that the determinism rule requires.

   Also the share of the engine's wall time spent inside ``Highs_run``.
2. A whole backward pass of a short brazil4 training (1 thread): the share of
   its wall time spent inside ``Highs_run`` (target >= 90%).
3. Training iterations per second with 1 and 2 threads on brazil4 with 120
   stages (same seed, so the same cuts), and the speedup.

The cuts of part 1 are tangents of a convex function of the stored energy at
random points, so they look like a value function's cuts (many near-active).
Timings take the best of a few interleaved rounds: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np
from machine import describe_machine

import caudal
from caudal import _bench
from caudal.examples import brazil4
from caudal.model.stage_lp import StageLP, StageTemplate, assemble_stage_lp
from caudal.parallel.pool import SerialPool
from caudal.sddp.passes import backward_stage, forward_pass
from caudal.sddp.training import TrainingState
from caudal.solver.highspy_workspace import HighspyWorkspace
from caudal.solver.native_workspace import NativeWorkspace
from caudal.solver.workspace import Basis


def synthetic_cuts(template: StageTemplate, n_cuts: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tangents of ``sum_i w (cap_i - x_i)^2 / (2 cap_i)`` at random storages: water values in 0..w."""
    capacity = template.col_upper[template.state_out_cols]
    weight = 300.0
    points = rng.uniform(0.0, 1.0, (n_cuts, capacity.size)) * capacity
    values = (weight * (capacity - points) ** 2 / (2 * capacity)).sum(axis=1)
    coefficients = -weight * (capacity - points) / capacity
    intercepts = values - (coefficients * points).sum(axis=1)
    return intercepts, coefficients


def stage_lp(template: StageTemplate, n_cuts: int, seed: int) -> StageLP:
    intercepts, coefficients = synthetic_cuts(template, n_cuts, np.random.default_rng(seed))
    return assemble_stage_lp(template, intercepts, coefficients, np.arange(n_cuts, dtype=np.int64), version=n_cuts + 1)


def trial_states(template: StageTemplate, n: int, rng: np.random.Generator) -> np.ndarray:
    capacity = template.col_upper[template.state_out_cols]
    return rng.uniform(0.2, 0.9, (n, capacity.size)) * capacity


def canonical_basis(lp: StageLP, state: np.ndarray) -> Basis:
    """The basis a training would hand over: where the last opening at a trial state ended."""
    n_open, n_states = lp.template.n_openings, state.shape[0]
    basis = Basis.slack(lp)
    NativeWorkspace().solve_backward(
        lp, Basis.slack(lp), state, 0, np.empty(n_open), np.empty((n_open, n_states)), basis
    )
    return basis


class EngineLoop:
    """The engine's kernel, called as the backward pass calls it: once per trial state."""

    def __init__(self, lp: StageLP, basis: Basis, states: np.ndarray):
        self.lp, self.basis, self.states = lp, basis, states
        self.ws = NativeWorkspace()
        n_open = lp.template.n_openings
        self.values = np.empty(n_open)
        self.subgradients = np.empty((n_open, states.shape[1]))

    def round(self, repeats: int) -> tuple[int, float, int, float]:
        """(solves, seconds, simplex iterations, seconds inside Highs_run)."""
        before = self.ws.stats
        start = time.perf_counter()
        for _ in range(repeats):
            for k, state in enumerate(self.states):
                self.ws.solve_backward(self.lp, self.basis, state, k, self.values, self.subgradients, None)
        seconds = time.perf_counter() - start
        after = self.ws.stats
        return (
            after.solves - before.solves,
            seconds,
            after.simplex_iterations - before.simplex_iterations,
            after.time_solve - before.time_solve,
        )


def highspy_round(ws: HighspyWorkspace, lp: StageLP, basis: Basis, states: np.ndarray) -> tuple[int, float]:
    n_open = lp.template.n_openings
    values, subgradients = np.empty(n_open), np.empty((n_open, states.shape[1]))
    solves = ws.stats.solves
    start = time.perf_counter()
    for k, state in enumerate(states):
        ws.solve_backward(lp, basis, state, k, values, subgradients, None)
    return ws.stats.solves - solves, time.perf_counter() - start


def kernel_table(template: StageTemplate, cut_counts: list[int], n_states: int, rounds: int, repeats: int) -> None:
    print(
        f"\n1. backward kernel on one brazil4 stage LP ({template.num_cols} columns, {template.num_rows} rows + cuts, "
        f"{template.n_openings} openings), {n_states} trial states x {repeats} repeats, best of {rounds} rounds"
    )
    header = (
        f"{'cuts':>5} {'engine LP/s':>12} {'bare C LP/s':>12} {'engine/bare':>11} {'highspy LP/s':>13} "
        f"{'engine/highspy':>14} {'in Highs_run':>12} {'same pivots':>11} {'bare, no reset':>15}"
    )
    print(header)
    print("-" * len(header))
    for n_cuts in cut_counts:
        lp = stage_lp(template, n_cuts, seed=n_cuts)
        states = trial_states(template, n_states, np.random.default_rng(1))
        basis = canonical_basis(lp, states[0])
        engine = EngineLoop(lp, basis, states)
        engine.round(1)  # warm-up: load, buffers
        best_engine = best_bare = best_no_reset = 0.0
        run_share = 0.0
        same_pivots = True
        for _ in range(rounds):
            solves, seconds, iterations, in_run = engine.round(repeats)
            if solves / seconds > best_engine:
                best_engine, run_share = solves / seconds, in_run / seconds
            bare = _bench.bare_backward_loop(lp, basis, states, repeats)
            bare_solves, bare_seconds, bare_iterations, non_optimal = bare
            best_bare = max(best_bare, bare_solves / bare_seconds)
            same_pivots &= bare_iterations == iterations and bare_solves == solves and non_optimal == 0
            no_reset_solves, no_reset_seconds, _, _ = _bench.bare_backward_loop(lp, basis, states, repeats, reset=False)
            best_no_reset = max(best_no_reset, no_reset_solves / no_reset_seconds)
        reference = HighspyWorkspace()
        highspy_round(reference, lp, basis, states[:1])  # warm-up
        best_highspy = max(
            solves / seconds for solves, seconds in (highspy_round(reference, lp, basis, states) for _ in range(2))
        )
        print(
            f"{n_cuts:>5} {best_engine:>12.0f} {best_bare:>12.0f} {best_engine / best_bare:>11.3f} "
            f"{best_highspy:>13.0f} {best_engine / best_highspy:>14.2f} {run_share:>11.1%} "
            f"{'yes' if same_pivots else 'NO':>11} {best_no_reset:>15.0f}"
        )


def backward_pass_share(stages: int, iterations: int, forward_passes: int) -> None:
    """Train briefly, then time one whole backward pass and the time inside Highs_run."""
    problem = brazil4(stages=stages).compile()
    result = caudal.train(problem, iterations=iterations, forward_passes=forward_passes, seed=0, threads=1)
    state = TrainingState.fresh(problem)
    for pool_t, trained in zip(state.pools, result.policy.cut_pools, strict=True):
        pool_t.add(trained.intercepts, trained.coefficients, trained.iteration, trained.forward_pass)
    for t in range(problem.n_stages):
        state.cache.refresh(t)
    pool = SerialPool(NativeWorkspace(), "native")
    rng = np.random.default_rng(0)
    scenarios = np.stack(
        [rng.integers(0, template.n_openings, forward_passes) for template in problem.templates], axis=1
    ).astype(np.int32)
    forward = forward_pass(problem, state.cache, pool, scenarios)
    ws = pool.workspaces[0]
    before = ws.stats
    start = time.perf_counter()
    for t in range(problem.n_stages - 1, 0, -1):
        backward_stage(state.cache, pool, t, forward.states[t - 1])
    wall = time.perf_counter() - start
    after = ws.stats
    parts = {
        name: getattr(after, name) - getattr(before, name)
        for name in ("time_solve", "time_basis", "time_patch", "time_extract", "time_load")
    }
    cuts = sum(p.size for p in result.policy.cut_pools) // max(problem.n_stages - 1, 1)
    print(
        f"\n2. one backward pass of brazil4 ({stages} stages, {forward_passes} trial states, ~{cuts} cuts per stage "
        f"after {iterations} iterations), 1 thread: {after.solves - before.solves} LP solves in {wall:.3f} s"
    )
    print(
        f"   inside Highs_run: {parts['time_solve'] / wall:.1%} of the wall time; clear+setBasis "
        f"{parts['time_basis'] / wall:.1%}, patch {parts['time_patch'] / wall:.1%}, extract "
        f"{parts['time_extract'] / wall:.1%}, load {parts['time_load'] / wall:.1%}, "
        f"the rest (Python: dealing, cuts) {1 - sum(parts.values()) / wall:.1%}"
    )


def machine_scaling(template: StageTemplate, seconds: float = 1.0) -> float:
    """Throughput of the bare C loop in 2 concurrent threads over 1: what the machine allows right now."""
    lp = stage_lp(template, 0, seed=0)
    states = trial_states(template, 2, np.random.default_rng(2))
    basis = canonical_basis(lp, states[0])
    solves, elapsed, _, _ = _bench.bare_backward_loop(lp, basis, states, 1)
    repeats = max(1, int(seconds * solves / elapsed / solves))

    def rate(n_threads: int) -> float:
        results: list[tuple] = [()] * n_threads

        def work(w: int) -> None:
            results[w] = _bench.bare_backward_loop(lp, basis, states, repeats)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(n_threads)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(r[0] for r in results) / (time.perf_counter() - start)

    return rate(2) / rate(1)


def thread_scaling(stages: int, iterations: int, forward_passes: int, rounds: int) -> None:
    problem = brazil4(stages=stages).compile()
    print(
        f"\n3. training brazil4 ({stages} stages, {problem.templates[1].n_openings} openings, "
        f"{forward_passes} forward passes, {iterations} iterations, seed 0), best of {rounds}"
    )
    control_before = machine_scaling(problem.templates[1])
    rates = {}
    digests = {}
    for _ in range(rounds):
        for threads in (1, 2):
            result = caudal.train(problem, iterations=iterations, forward_passes=forward_passes, seed=0,
                                  threads=threads, solver="native")
            rates[threads] = max(rates.get(threads, 0.0), result.iterations / result.wall_time)
            digests[threads] = result.policy.digest()
    control_after = machine_scaling(problem.templates[1])
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"   control: the bare C loop in 2 threads vs 1 ran {control_before:.2f}x before and {control_after:.2f}x "
        f"after (load average {load}; the cores are shared with other processes)"
    )
    for threads, rate in rates.items():
        print(f"   {threads} thread{'s' if threads > 1 else ' '}: {rate:.3f} iterations/s")
    same = "identical" if digests[1] == digests[2] else "DIFFERENT"
    print(f"   speedup 2 vs 1 threads: {rates[2] / rates[1]:.2f}x; cuts of the two runs: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer repeats, 24 stages")
    parser.add_argument("--parts", default="1,2,3", help="which measurements to run (default: 1,2,3)")
    args = parser.parse_args()
    parts = {int(part) for part in args.parts.split(",")}
    print(describe_machine())
    template = brazil4(stages=3).compile().templates[1]  # not the last: theta is free
    if 1 in parts:
        kernel_table(template, [0, 200, 1000], n_states=4 if args.quick else 8, rounds=2 if args.quick else 5,
                     repeats=1 if args.quick else 2)
    if 2 in parts:
        if args.quick:
            backward_pass_share(stages=6, iterations=3, forward_passes=2)
        else:
            backward_pass_share(stages=12, iterations=10, forward_passes=4)
    if 3 in parts:
        thread_scaling(stages=24 if args.quick else 120, iterations=2 if args.quick else 3, forward_passes=4,
                       rounds=1 if args.quick else 3)


if __name__ == "__main__":
    main()
