"""The fixed work per backward stage at one forward pass: a baseline commit against this tree, alternating.

    python benchmarks/stage_overhead.py                      # 4ree, 256 iterations, baseline HEAD~1, 3 pairs
    python benchmarks/stage_overhead.py --baseline main --pairs 5
    python benchmarks/stage_overhead.py --case brazil4 --iterations 60

With one forward pass each backward stage of 4ree has only ten tiny solves, so
the work around them (cut gathering, working-set update, stage LP rebuild,
bookkeeping) is a large share of an iteration. This trains the same case with
the package of ``--baseline`` (its ``src`` extracted with ``git archive``) and
with this tree's, one after the other (the order flips every pair), ``--pairs`` times, each in its own
process on one thread, and prints every run: wall time of the training, the
``cache`` phase (stage LP rebuilds) per backward stage, the CPU time of the process (less
sensitive to other load than wall time, though not immune), and the policy digest,
which must be the same for both (the changes measured here may not change a
cut). The machine may be shared: the load average is printed before each pair
and at the end; compare pairs, not single runs.

The baseline reuses this tree's compiled kernels when ``native/`` is the same
in both commits, else it builds them in place.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KERNELS = ("_native", "_bench", "_dominance")


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def extract(baseline: str, into: Path) -> Path:
    """The baseline commit's ``src`` (and ``native``, ``setup.py``) under ``into``, with kernels ready."""
    archive = subprocess.run(["git", "archive", baseline, "src", "native", "setup.py", "pyproject.toml"],
                             cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    same_native = subprocess.run(["git", "diff", "--quiet", baseline, "--", "native"], cwd=ROOT).returncode == 0
    if same_native:
        for built in (ROOT / "src" / "caudal").glob("*.so"):
            if built.name.split(".")[0] in KERNELS:
                shutil.copy2(built, into / "src" / "caudal" / built.name)
    else:
        subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-q"], cwd=into, check=True)
    return into / "src"


def train(src: Path, case: str, iterations: int, out: Path) -> dict:
    """One training in its own process, importing caudal from ``src``; its summary.json and CPU seconds."""
    env = dict(os.environ, PYTHONPATH=str(src))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "caudal", "train", case, "--iterations", str(iterations), "--forward-passes", "1",
         "--threads", "1", "-q", "-o", str(out)],
        env=env, check=True, capture_output=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads((out / "summary.json").read_text())
    # CPU time of the whole process (import, training, simulation): waiting for a core does not count
    summary["cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default=str(ROOT / "tests" / "data" / "cobre" / "4ree"))
    parser.add_argument("--iterations", type=int, default=256)
    parser.add_argument("--baseline", default="HEAD~1", help="git revision to compare with (default HEAD~1)")
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base_src = extract(args.baseline, Path(tmp))
        trees = {args.baseline: base_src, "this tree": ROOT / "src"}
        print(f"{Path(args.case).name}: {args.iterations} iterations x 1 forward pass, 1 thread, "
              f"baseline {args.baseline}; the machine may be shared")
        seconds: dict[str, list[float]] = {name: [] for name in trees}
        cpu: dict[str, list[float]] = {name: [] for name in trees}
        digests = set()
        for pair in range(args.pairs):
            print(f"pair {pair + 1}: load average {load_average()}")
            # the order flips every pair, so neither tree always runs first
            for name, src in (list(trees.items()) if pair % 2 == 0 else list(trees.items())[::-1]):
                summary = train(src, args.case, args.iterations, Path(tmp) / f"run{pair}-{len(seconds[name])}"
                                f"-{'b' if src == base_src else 't'}")
                stages = summary["iterations"] * (summary_stages(summary) - 1)
                cache_ms = 1e3 * summary["phase_seconds"]["cache"] / max(stages, 1)
                seconds[name].append(summary["time_s"])
                cpu[name].append(summary["cpu_s"])
                digests.add(summary["policy_digest"])
                print(f"  {name:10s} {summary['time_s']:7.2f} s training  {summary['cpu_s']:7.2f} s CPU  "
                      f"cache {cache_ms:6.3f} ms per backward stage  bound {summary['lower_bound']:.10e}  "
                      f"digest {summary['policy_digest']}")
        print(f"end: load average {load_average()}")
        for name, runs in seconds.items():
            print(f"  {name:10s} training {', '.join(f'{s:.2f}' for s in runs)} s; "
                  f"CPU {', '.join(f'{s:.2f}' for s in cpu[name])} s")
        print("policy digests identical" if len(digests) == 1 else f"POLICY DIGESTS DIFFER: {sorted(digests)}")


def summary_stages(summary: dict) -> int:
    """Stages of the trained case: cuts per iteration at one forward pass is one per stage but the last."""
    return summary["cuts"] // summary["iterations"] + 1


if __name__ == "__main__":
    main()
