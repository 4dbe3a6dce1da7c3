"""The fault campaigns of ``benchmarks/faults.py`` at a reduced count: kill -9 and damaged files.

The full campaign (200 kills, half inside a checkpoint write; 123 damaged
files) is ``python benchmarks/faults.py``; here a few of each, so that CI sees
a regression: every count of corrupt loads, resume failures and mismatches
against the uninterrupted run must be zero.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "faults.py"


def test_kills_and_damaged_files_lose_nothing():
    done = subprocess.run([sys.executable, str(SCRIPT), "--kills", "8", "--damaged", "7", "--seed", "3"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    kills = re.search(r"^kill -9: trials (\d+), in a checkpoint write (\d+), corrupt loads (\d+), "
                      r"resume failures (\d+), mismatches (\d+)", done.stdout, re.M)
    damaged = re.search(r"^damaged files: trials (\d+), corrupt loads (\d+), resume failures (\d+), mismatches (\d+)",
                        done.stdout, re.M)
    assert kills and damaged, done.stdout
    assert [int(g) for g in kills.groups()] == [8, 4, 0, 0, 0], done.stdout
    assert [int(g) for g in damaged.groups()] == [7, 0, 0, 0], done.stdout
