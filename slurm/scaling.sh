#!/bin/bash
# How caudal scales on this machine: train on several ranks x threads layouts.
#
#   sbatch slurm/scaling.sh brazil4 --stages 120 --iterations 5
#
# Everything after the case goes to each training. RANKS and THREADS (comma
# lists) choose the layouts; a layout must fit in the allocation (ranks x
# threads <= ntasks x cpus-per-task). With `caudal scaling` (caudal >= 0.1) the
# runs, the table (scaling.csv, scaling.md) and the plot come from one command;
# otherwise (or with CAUDAL_SCALING=loop) a loop of trainings and a small table.
#
#SBATCH --job-name=caudal-scaling
#SBATCH --nodes=1
#SBATCH --ntasks=8
#SBATCH --cpus-per-task=8
#SBATCH --exclusive
#SBATCH --time=02:00:00
#SBATCH --output=%x-%j.out

set -euo pipefail
CASE=${1:?usage: sbatch scaling.sh CASE [caudal train options...]}
shift
RANKS=${RANKS:-1,2,4,8}
THREADS=${THREADS:-1,2,4,8}
OUT=${OUT:-scaling-$SLURM_JOB_ID}

# module load openmpi/4.1
# source "$HOME/caudal/.venv/bin/activate"

if [ "${CAUDAL_SCALING:-}" != loop ] && caudal scaling --help > /dev/null 2>&1; then
    # caudal scaling starts each layout with srun --ntasks --cpus-per-task --cpu-bind=cores.
    caudal scaling "$CASE" --ranks "$RANKS" --threads "$THREADS" --launcher srun --output "$OUT" "$@"
    exit 0
fi

allocated=$((SLURM_NTASKS * SLURM_CPUS_PER_TASK))
for ranks in ${RANKS//,/ }; do
    for threads in ${THREADS//,/ }; do
        if [ $((ranks * threads)) -gt "$allocated" ]; then continue; fi
        srun --ntasks="$ranks" --cpus-per-task="$threads" --cpu-bind=cores \
            caudal train "$CASE" --threads "$threads" --output "$OUT/${ranks}x${threads}" --quiet "$@"
    done
done
# One line per layout: training time and LP solves per second, from each run's summary.json.
python3 - "$OUT" << 'PY'
import json, sys
from pathlib import Path

runs = sorted(Path(sys.argv[1]).glob("*x*/summary.json"), key=lambda p: [int(n) for n in p.parent.name.split("x")])
base = None
print(f"{'ranks x threads':>16} {'seconds':>9} {'LP/s':>10} {'speedup':>8}")
for path in runs:
    summary = json.loads(path.read_text())
    seconds = summary["time_s"]  # training time (the log's clock)
    base = base or seconds
    print(f"{path.parent.name:>16} {seconds:9.2f} {summary['lp_solves'] / seconds:10.0f} {base / seconds:8.2f}")
PY
