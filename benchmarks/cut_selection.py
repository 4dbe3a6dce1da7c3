"""Cut selection on brazil4: the same bound with far smaller stage LPs, side by side in one run.

    python benchmarks/cut_selection.py                   # 120 stages, 82 openings, 300 iterations: an hour or so
    python benchmarks/cut_selection.py --iterations 20   # a smoke run

Without selection every cut stays in its stage LP, so after ``N`` iterations
of ``P`` forward passes each stage LP carries ``N * P`` cut rows and an
iteration keeps getting slower. Level-1 selection keeps only the cuts that are
highest at some visited state; the others leave the LP (they stay in the pool).
The claim to check, on the published brazil4 study (120 stages, all 82
historical years as openings):

* the bound after ``N`` iterations is the same within 0.1% (selection removes
  cuts that are nowhere the highest at a visited state, but the LPs may then
  move to other states, so trajectories and later cuts differ and the bounds
  are not bit-identical);
* the time per iteration at the end is at least 2x lower with selection.

The two trainings run in lockstep, one iteration of each in turn, with the
same seed, forward passes, threads and solver. On a shared machine the load
changes by the minute; in lockstep both runs see the same load at the same
iteration, so their ratio stays meaningful. Besides wall time, each iteration's
CPU time (all threads of this process) is recorded: it hardly depends on how
many other processes compete for the cores. "At the end" is the mean over the
last ``--window`` iterations. A progress table is printed every
``--report-every`` iterations, and SIGTERM or SIGUSR1 ends the run after the
current pair of iterations with the full report, so a run cut short still
says what it measured.

The lockstep needs one iteration at a time, which :func:`caudal.train` does not
offer, so this drives the training loop (:func:`caudal.sddp.training.run_training`)
directly, with the same pieces ``train`` assembles (compiled problem, options,
worker pool, fresh state) and an ``interrupt`` that stops after every iteration.
"""

from __future__ import annotations

import argparse
import signal
import time
from dataclasses import dataclass, field

import numpy as np
from machine import describe_machine, load_average

import caudal
from caudal.examples import brazil4
from caudal.parallel.workers import make_pool
from caudal.sddp.training import TrainingOptions, TrainingState, run_training


@dataclass
class Run:
    """One training advanced an iteration at a time, with its per-iteration wall and CPU seconds."""

    label: str
    state: TrainingState
    options: TrainingOptions
    pool: object
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def step(self) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        run_training(self.state, self.pool, self.options, interrupt=lambda: True)
        self.wall.append(time.perf_counter() - wall)
        self.cpu.append(time.process_time() - cpu)

    @property
    def bound(self) -> float:
        return self.state.history[-1].lower_bound

    def active(self) -> np.ndarray:
        """Cuts in each stage's LP; the last stage has no value function to cut."""
        return np.array([int(pool.active.sum()) for pool in self.state.pools[:-1]])

    def pool_sizes(self) -> np.ndarray:
        return np.array([pool.size for pool in self.state.pools[:-1]])

    def recent(self, window: int) -> tuple[float, float]:
        """Mean wall and CPU seconds per iteration over the last ``window`` iterations."""
        return float(np.mean(self.wall[-window:])), float(np.mean(self.cpu[-window:]))


def start(problem: caudal.Problem, args: argparse.Namespace, selection: caudal.CutSelection | None) -> Run:
    compiled = problem.compile()
    options = TrainingOptions(iterations=args.iterations, forward_passes=args.forward_passes, seed=args.seed,
                              cut_selection=selection)
    label = "no selection" if selection is None else type(selection).__name__
    return Run(label, TrainingState.fresh(compiled), options, make_pool(args.threads, args.solver))


def progress(iteration: int, runs: list[Run], window: int) -> None:
    plain, selected = runs
    relative = (selected.bound - plain.bound) / abs(plain.bound)
    cells = []
    for run in runs:
        wall, cpu = run.recent(window)
        cells.append(f"{run.bound:14.2f} {wall:7.2f} {cpu:7.2f} {int(run.active().sum()):7d}")
    print(f"{iteration:5d}  {cells[0]}  {cells[1]}  {relative:+8.3%}  {load_average()[0]:5.2f}", flush=True)


def report(args: argparse.Namespace, runs: list[Run], window: int) -> None:
    plain, selected = runs
    rows = [
        ("iterations", lambda r: f"{len(r.wall)}"),
        ("bound after the last iteration", lambda r: f"{r.bound:.2f}"),
        (f"wall s/iteration, first {window}", lambda r: f"{np.mean(r.wall[:window]):.3f}"),
        (f"wall s/iteration, last {window}", lambda r: f"{r.recent(window)[0]:.3f}"),
        (f"CPU s/iteration, first {window}", lambda r: f"{np.mean(r.cpu[:window]):.3f}"),
        (f"CPU s/iteration, last {window}", lambda r: f"{r.recent(window)[1]:.3f}"),
        ("training wall time (s)", lambda r: f"{sum(r.wall):.1f}"),
        ("  of which backward (s)", lambda r: f"{r.state.phase_seconds.get('backward', 0.0):.1f}"),
        ("  of which forward (s)", lambda r: f"{r.state.phase_seconds.get('forward', 0.0):.1f}"),
        ("  of which cache + selection (s)", lambda r: f"{r.state.phase_seconds.get('cache', 0.0):.1f}"),
        ("cuts in the pool per stage", lambda r: f"{int(r.pool_sizes().max())}"),
        ("active cuts per stage: min", lambda r: f"{int(r.active().min())}"),
        ("active cuts per stage: median", lambda r: f"{float(np.median(r.active())):.0f}"),
        ("active cuts per stage: max", lambda r: f"{int(r.active().max())}"),
        ("active cuts, all stages", lambda r: f"{int(r.active().sum())}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'':<{width}}  {plain.label:>14}  {selected.label:>20}")
    for name, cell in rows:
        print(f"{name:<{width}}  {cell(plain):>14}  {cell(selected):>20}")
    relative = abs(selected.bound - plain.bound) / abs(plain.bound)
    wall_ratio = plain.recent(window)[0] / selected.recent(window)[0]
    cpu_ratio = plain.recent(window)[1] / selected.recent(window)[1]
    print()
    print(f"bound: relative difference {relative:.3%} (target <= 0.1%: {'met' if relative <= 1e-3 else 'NOT met'})")
    print(f"time per iteration over the last {window}: {wall_ratio:.2f}x lower wall time, {cpu_ratio:.2f}x lower CPU "
          f"time with selection (target >= 2x: {'met' if min(wall_ratio, cpu_ratio) >= 2.0 else 'NOT met'})")
    active = selected.active()
    every = max(1, (active.size + 11) // 12)
    print(f"active cuts with selection, stage:count every {every} stages: "
          + ", ".join(f"{t}:{int(active[t])}" for t in range(0, active.size, every)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", type=int, default=120)
    parser.add_argument("--openings", type=int, default=None, help="default: all 82 historical years")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--forward-passes", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--solver", default="native")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window", type=int, default=10, help="iterations averaged for the time per iteration")
    parser.add_argument("--report-every", type=int, default=25)
    parser.add_argument("--max-active", type=int, default=None, help="cap on active cuts per stage")
    args = parser.parse_args()

    problem = brazil4(stages=args.stages, openings=args.openings)
    print(describe_machine())
    print(f"brazil4: {args.stages} stages, {problem.stages[-1].n_openings} openings; {args.iterations} iterations x "
          f"{args.forward_passes} forward passes, seed {args.seed}, solver {args.solver}, {args.threads} threads; "
          "the two trainings in lockstep")
    runs = [start(problem, args, None), start(problem, args, caudal.LimitedMemoryLevel1(max_active=args.max_active))]
    print(f"{'':5}  {'no selection: bound, wall s/it, CPU s/it, cuts':>45}  "
          f"{'LimitedMemoryLevel1: same':>45}  {'bound diff':>9}  {'load':>5}")
    stop = []  # SIGTERM or SIGUSR1: finish the iteration pair, then report (a long run cut short still reports)
    for number in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(number, lambda *_: stop.append(True))
    try:
        for iteration in range(1, args.iterations + 1):
            for run in runs:
                run.step()
            if iteration % args.report_every == 0 or iteration == args.iterations or stop:
                progress(iteration, runs, min(args.window, iteration))
            if stop:
                print(f"stopped by a signal after {iteration} iterations")
                break
    finally:
        for run in runs:
            run.pool.close()
    print()
    report(args, runs, min(args.window, len(runs[0].wall)))


if __name__ == "__main__":
    main()
