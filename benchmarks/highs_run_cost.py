"""Where a stage solve's time goes inside HiGHS: instructions per ``Highs_run``, part by part, under callgrind.

A stage LP of a Cobre case is tiny (4ree: 167 columns, 13 to 240 rows) and a
solve takes two or three dual simplex pivots, so most of a ``Highs_run`` is
work HiGHS does on every call whatever the LP: setting the simplex up, the
KKT check of the solution it returns, copies of its info records. This
script trains a case for a few iterations under valgrind's callgrind,
counting instructions only inside HiGHS's C API calls (``--toggle-collect``),
and prints HiGHS's instructions per run, split into those parts, beside the
caudal-side calls (load, basis reset, bound patches).

Instruction counts do not depend on the machine's load (times on the shared
machine move 15% between runs), so two variants compare exactly:
``--options`` sets HiGHS options over the engine's (``native/sddp_options.pxd``),
e.g. ``--options '{"log_dev_level": 0}'`` for HiGHS's default log level.
valgrind runs the process about 50 times slower: keep the run short. Under
valgrind the lower bound can differ in its last digits from a native run of
the same training (valgrind hides AVX-512 from the process, so numpy's SIMD
reductions take another path); variants measured under valgrind agree with
each other.

    python benchmarks/highs_run_cost.py                       # 4ree, 32 iterations x 1 forward pass
    python benchmarks/highs_run_cost.py --options '{"log_dev_level": 0}'
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PARTS = {  # label: HiGHS function (inclusive instructions), in the order a run meets them
    "whole Highs_run": "Highs_run",
    "  simplex set-up (HEkk::initialiseForSolve)": "HEkk::initialiseForSolve",
    "  dual simplex object (HEkkDual::HEkkDual)": "HEkkDual::HEkkDual",
    "  pivots (HEkkDual::iterate)": "HEkkDual::iterate",
    "  rebuilds (HEkkDual::rebuild)": "HEkkDual::rebuild",
    "  of which refactorisation checks (factorSolveError)": "HEkk::factorSolveError",
    "  perturbation clean-up (HEkkDual::cleanup)": "HEkkDual::cleanup",
    "  KKT check of the solution (lpKktCheck)": "Highs::callLpKktCheck",
    "  return checks (returnFromOptimizeModel)": "Highs::returnFromOptimizeModel",
    "  progress line (userInvertReport)": "HighsSimplexAnalysis::userInvertReport",
    "  of all the above: vector set-up (HVector::setup)": "HVectorBase<double>::setup",
    "load the stage LP (Highs_passLp)": "Highs_passLp",
    "basis reset (Highs_clearSolver)": "Highs_clearSolver",
    "basis reset (Highs_setBasis)": "Highs_setBasis",
    "bound patch (Highs_changeColsBoundsBySet)": "Highs_changeColsBoundsBySet",
    "bound patch (Highs_changeRowsBoundsBySet)": "Highs_changeRowsBoundsBySet",
}


def train(args: argparse.Namespace) -> dict:
    """The training being measured; returns the solver's counters."""
    import caudal
    from caudal import _native
    from caudal.hydro import cobre

    _native.set_option_overrides(json.loads(args.options))
    study = cobre.load_case(args.case)
    result = caudal.train(study.problem, iterations=args.iterations, forward_passes=args.forward_passes,
                          seed=study.training.seed, threads=1, solver="native")
    return dict(result.solver_stats, lower_bound=result.lower_bound)


def inclusive_counts(profile: Path) -> dict[str, int]:
    """Inclusive instructions by function name (without its arguments), from callgrind_annotate."""
    listing = subprocess.run(
        ["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(profile)],
        capture_output=True, text=True, check=True,
    ).stdout
    counts: dict[str, int] = {}
    for line in listing.splitlines():
        match = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+\S*?:([^( \[]+)", line)
        if match:
            name = match.group(2)
            counts[name] = max(counts.get(name, 0), int(match.group(1).replace(",", "")))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", type=Path, default=ROOT / "tests" / "data" / "cobre" / "4ree")
    parser.add_argument("--iterations", type=int, default=32)
    parser.add_argument("--forward-passes", type=int, default=1)
    parser.add_argument("--options", default="{}", help="HiGHS options over the engine's, as JSON")
    parser.add_argument("--counters", type=Path, help=argparse.SUPPRESS)  # the child run under valgrind
    args = parser.parse_args()
    if args.counters:
        args.counters.write_text(json.dumps(train(args)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        profile, counters = Path(scratch) / "callgrind.out", Path(scratch) / "counters.json"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}", "--toggle-collect=Highs_*",
             sys.executable, __file__, "--case", str(args.case), "--iterations", str(args.iterations),
             "--forward-passes", str(args.forward_passes), "--options", args.options, "--counters", str(counters)],
            check=True, capture_output=True,
        )
        stats = json.loads(counters.read_text())
        counts = inclusive_counts(profile)
    runs = stats["solves"] + stats["retries"]  # every rung of the retry ladder is a run
    print(f"{args.case.name}: {args.iterations} iterations x {args.forward_passes} forward passes, 1 thread, "
          f"options over the engine's {args.options}")
    print(f"{runs} Highs_run calls, {stats['simplex_iterations']} simplex iterations "
          f"({stats['simplex_iterations'] / max(runs, 1):.2f} per run), {stats['loads']} LP loads; "
          f"lower bound {stats['lower_bound']!r}")
    api = sum(counts.get(function, 0) for function in PARTS.values() if function.startswith("Highs_"))
    print(f"instructions inside HiGHS's C API calls listed: {api:,}")
    print(f"{'part':54} {'instructions':>15} {'per run':>9}")
    for label, function in PARTS.items():
        total = counts.get(function, 0)
        print(f"{label:54} {total:15,} {total / max(runs, 1):9,.0f}")


if __name__ == "__main__":
    main()
