#!/bin/bash
# A job array of independent studies: one study file per array task.
#
#   sbatch --array=0-9 slurm/study-array.sh studies/
#
# Task i trains the i-th file of STUDIES_DIR/*.toml (in name order) into
# runs/<file name>/. Each task is a job of its own: slurm schedules them as
# resources free up (--array=0-9%4 runs at most 4 at a time).
#
# For many variants of one case (a grid of demand scales, risk levels, seeds),
# `caudal sweep` (slurm/sweep.sh) runs them inside one allocation instead, and
# collects the results into one table.
#
#SBATCH --job-name=caudal-studies
#SBATCH --array=0-3
#SBATCH --nodes=1
#SBATCH --ntasks=4
#SBATCH --cpus-per-task=4
#SBATCH --time=02:00:00
#SBATCH --output=%x-%A_%a.out

set -euo pipefail
STUDIES=${1:?usage: sbatch --array=0-N study-array.sh STUDIES_DIR}

# module load openmpi/4.1
# source "$HOME/caudal/.venv/bin/activate"

mapfile -t files < <(find "$STUDIES" -maxdepth 1 -name '*.toml' | sort)
if [ "$SLURM_ARRAY_TASK_ID" -ge "${#files[@]}" ]; then
    echo "array task $SLURM_ARRAY_TASK_ID: $STUDIES has only ${#files[@]} study files" >&2
    exit 2
fi
study=${files[$SLURM_ARRAY_TASK_ID]}
name=$(basename "$study" .toml)
echo "array task $SLURM_ARRAY_TASK_ID: $study -> runs/$name"

srun --cpus-per-task="$SLURM_CPUS_PER_TASK" --cpu-bind=cores \
    caudal train --config "$study" --threads "$SLURM_CPUS_PER_TASK" --output "runs/$name"
