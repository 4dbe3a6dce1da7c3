"""Running caudal under ``mpiexec`` from the tests.

The ``mpich`` wheel puts ``mpiexec`` beside the venv's Python; 3 and 4 ranks
oversubscribe a 2-core machine, which MPICH allows without flags.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from caudal.profiling.launch import find_mpiexec, launch_environment

CASES = Path(__file__).parent / "cases"


mpiexec = find_mpiexec
"""The ``mpiexec`` the tests launch with: the one ``caudal scaling`` would use."""


def run_ranks(
    ranks: int, args: list[str], *, env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``mpiexec -n RANKS python ARGS``, with the output captured (in the environment ``caudal scaling`` gives)."""
    full_env = launch_environment()
    full_env.update(env or {})
    return subprocess.run(
        [mpiexec(), "-n", str(ranks), sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def train_ranks(ranks: int, threads: int, case: str, output: Path, *extra: str) -> dict:
    """Train CASE on RANKS x THREADS workers; returns summary.json plus the convergence rows."""
    result = run_ranks(
        ranks,
        ["-m", "caudal", "train", case, "--threads", str(threads), "--output", str(output), "--quiet", *extra],
    )
    assert result.returncode == 0, f"{ranks}x{threads} failed:\n{result.stdout}\n{result.stderr}"
    summary = json.loads((output / "summary.json").read_text())
    summary["convergence"] = (output / "convergence.csv").read_text().splitlines()
    return summary
