"""Simulating a policy: the reference path against the native kernel with working sets, side by side.

    python benchmarks/simulation.py                      # brazil4 120 stages, ~1,000 cuts per stage, 200 scenarios
    python benchmarks/simulation.py --scenarios 50 --repeat 3
    python benchmarks/simulation.py --quick              # 12 stages, a smoke run

The policy is trained once (brazil4, 10 openings, a few iterations with many
forward passes: iterations x passes cuts per stage) and cached as ``.npz`` in
the temporary directory, so later runs only simulate. Each round then
simulates the same scenarios (same seed) in every mode, alternating:

* ``reference``: highspy, every cut a row of the stage LPs (what ``caudal.simulate``
  did before it ran on the native kernel; ``solver="highspy", every_cut_a_row=True``);
* ``native rows``: the native kernel, every cut a row;
* ``native lean``: the native kernel, every cut in reserve until a solve violates it
  (the default), on 1 thread and on 2.

With ``--previous SRC`` (the ``src`` directory of an older checkout, say
``git archive 607c7da src | tar -x -C /tmp/old``), each round also times that
checkout's ``caudal.simulate`` of the same policy and scenarios in a child
process (``previous``; only the simulation is timed).

It prints each mode's wall times, its fastest, the ratio to the reference's
fastest, the largest relative difference of its mean total cost from the
reference's, the load average and the machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import describe_machine, load_average

import caudal
from caudal.examples import brazil4
from caudal.sddp.cuts import CutPool

MODES = {
    "reference": {"solver": "highspy", "every_cut_a_row": True, "threads": 1},
    "native rows": {"solver": "native", "every_cut_a_row": True, "threads": 1},
    "native lean 1t": {"solver": "native", "threads": 1},
    "native lean 2t": {"solver": "native", "threads": 2},
}


POLICY = "caudal-sim-brazil4-{}x10-{}x{}.npz"


def policy(stages: int, iterations: int, passes: int, directory: Path) -> caudal.Policy:
    """The benchmark's policy: trained once, then read back from ``directory``."""
    problem = brazil4(stages=stages, openings=10).compile()
    path = directory / POLICY.format(stages, iterations, passes)
    if not path.exists():
        started = time.perf_counter()
        result = caudal.train(problem, iterations=iterations, forward_passes=passes, seed=1, threads=2)
        pools = result.policy.cut_pools
        arrays = {f"intercepts_{t}": p.intercepts[p.active_ids()] for t, p in enumerate(pools)}
        arrays |= {f"coefficients_{t}": p.coefficients[p.active_ids()] for t, p in enumerate(pools)}
        np.savez(path, **arrays)
        print(f"trained the policy in {time.perf_counter() - started:.1f} s; cached in {path}")
    stored = np.load(path)
    pools = []
    for t in range(problem.n_stages):
        intercepts = stored[f"intercepts_{t}"]
        pool = CutPool(problem.n_states, max(1, intercepts.size))
        pool.add(intercepts, stored[f"coefficients_{t}"], 0, np.arange(intercepts.size))
        pools.append(pool)
    return caudal.Policy(problem, pools)


PREVIOUS = """
import sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
import caudal
from caudal.examples import brazil4
from caudal.sddp.cuts import CutPool
problem = brazil4(stages=int(sys.argv[3]), openings=10).compile()
stored = np.load(sys.argv[2])
pools = []
for t in range(problem.n_stages):
    intercepts = stored[f"intercepts_{t}"]
    pool = CutPool(problem.n_states, max(1, intercepts.size))
    pool.add(intercepts, stored[f"coefficients_{t}"], 0, np.arange(intercepts.size))
    pools.append(pool)
policy = caudal.Policy(problem, pools)
started = time.perf_counter()
result = caudal.simulate(policy, scenarios=int(sys.argv[4]), seed=7, threads=1)
print(time.perf_counter() - started, float(result.total_costs.mean()))
"""


def previous(source: Path, policy_file: Path, stages: int, scenarios: int) -> tuple[float, float]:
    """(seconds, mean total cost) of an older checkout's ``caudal.simulate``, in a child process."""
    done = subprocess.run([sys.executable, "-c", PREVIOUS, str(source), str(policy_file), str(stages), str(scenarios)],
                          capture_output=True, text=True, check=True)
    seconds, mean = done.stdout.split()
    return float(seconds), float(mean)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 stages, 100 cuts per stage, 20 scenarios")
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2, help="rounds over the modes, alternating")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ", ".join(MODES))
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()), help="where the policy is cached")
    parser.add_argument("--previous", type=Path, help="src directory of an older checkout to time alongside")
    args = parser.parse_args()
    print(describe_machine())
    if args.quick:
        stages, iterations, passes, scenarios = 12, 2, 50, 20
    else:
        stages, iterations, passes, scenarios = 120, 5, 200, args.scenarios
    trained = policy(stages, iterations, passes, args.cache)
    cuts = [pool.size for pool in trained.cut_pools]
    print(f"brazil4 {stages} stages x 10 openings; cuts per stage {min(cuts)}..{max(cuts)}; "
          f"{scenarios} scenarios, seed 7; {args.repeat} rounds")
    modes = [m for m in args.modes.split(",") if m] + (["previous"] if args.previous else [])
    times: dict[str, list[float]] = {m: [] for m in modes}
    means: dict[str, list[float]] = {m: [] for m in modes}
    for round_ in range(args.repeat):
        for mode in modes:
            if mode == "previous":
                seconds, mean = previous(args.previous, args.cache / POLICY.format(stages, iterations, passes),
                                         stages, scenarios)
            else:
                started = time.perf_counter()
                mean = float(caudal.simulate(trained, scenarios=scenarios, seed=7, **MODES[mode]).total_costs.mean())
                seconds = time.perf_counter() - started
            times[mode].append(seconds)
            means[mode].append(mean)
            print(f"  round {round_ + 1} {mode:15s} {times[mode][-1]:8.2f} s  mean total cost {means[mode][-1]:.6e}",
                  flush=True)
    base = min(times["reference"]) if "reference" in times else None
    for mode in modes:
        fastest = min(times[mode])
        ratio = f"  {fastest / base:.3f} of the reference" if base else ""
        drift = ""
        if "reference" in means:
            drift = f"  mean cost vs reference {(means[mode][0] - means['reference'][0]) / means['reference'][0]:+.1e}"
        print(f"{mode:15s} fastest {fastest:8.2f} s  (all: {', '.join(f'{s:.2f}' for s in times[mode])}){ratio}{drift}")
    print("load average " + " ".join(f"{value:.2f}" for value in load_average()))


if __name__ == "__main__":
    main()
