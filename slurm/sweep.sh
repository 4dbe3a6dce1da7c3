#!/bin/bash
# Many variants of one study in one allocation: `caudal sweep`.
#
#   sbatch slurm/sweep.sh sweep.toml [OUTPUT]
#
# sweep.toml holds the base study and a [grid] table, e.g.
#   case = "brazil4"
#   stages = 60
#   iterations = 200
#   [grid]
#   demand_scale = [0.9, 1.0, 1.1]
#   alpha = [0.25, 0.5, 1.0]
# Every combination is a variant (9 here). The allocation's ranks are split into
# groups of RANKS_PER_VARIANT; each free group trains the next variant. A variant
# that fails or reaches its time limit is retried once on another group; the
# others go on. Results: OUTPUT/sweep.parquet and a table in this job's output.
#
# At the walltime warning every group checkpoints its variant and the sweep
# exits 75; this script then resubmits itself and the next part continues
# with --resume (finished variants are not trained again).
#
#SBATCH --job-name=caudal-sweep
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=8
#SBATCH --cpus-per-task=8
#SBATCH --time=12:00:00
#SBATCH --signal=B:USR1@600
#SBATCH --output=%x-%j.out

set -uo pipefail
STUDY=${1:?usage: sbatch sweep.sh SWEEP.toml [OUTPUT]}
OUTPUT=${2:-sweeps/$SLURM_JOB_NAME-$SLURM_JOB_ID}
RANKS_PER_VARIANT=${RANKS_PER_VARIANT:-2}
PART=${CAUDAL_PART:-1}
MAX_PARTS=${MAX_PARTS:-10}

# module load openmpi/4.1
# source "$HOME/caudal/.venv/bin/activate"

resume=()
if [ -d "$OUTPUT/variants" ]; then resume=(--resume "$OUTPUT"); fi

srun --cpus-per-task="$SLURM_CPUS_PER_TASK" --cpu-bind=cores \
    caudal sweep --config "$STUDY" --ranks-per-variant "$RANKS_PER_VARIANT" \
    --threads "$SLURM_CPUS_PER_TASK" --output "$OUTPUT" "${resume[@]}" &
step=$!
trap 'kill -USR1 "$step" 2> /dev/null' USR1 TERM

# A trapped signal makes `wait` return early: wait again until srun has ended.
wait_step() {
    local status
    while true; do
        wait "$1"
        status=$?
        if [ "$status" -le 128 ] || ! kill -0 "$1" 2> /dev/null; then
            if [ "$status" -gt 128 ]; then wait "$1"; status=$?; fi
            return "$status"
        fi
    done
}
status=0
wait_step "$step" || status=$?

if [ "$status" -eq 75 ] && [ "$PART" -lt "$MAX_PARTS" ]; then
    script=$(scontrol show job "$SLURM_JOB_ID" | sed -n 's/^ *Command=\([^ ]*\).*/\1/p')
    sbatch --dependency="afterany:$SLURM_JOB_ID" --export="ALL,CAUDAL_PART=$((PART + 1))" \
        --nodes="$SLURM_JOB_NUM_NODES" --ntasks="$SLURM_NTASKS" --cpus-per-task="$SLURM_CPUS_PER_TASK" \
        "$script" "$STUDY" "$OUTPUT" || exit 75
    echo "part $PART of the sweep stopped at the walltime warning; part $((PART + 1)) is queued"
    exit 0
fi
# 0: every variant done; 1: some failed or timed out (see the table); 75: MAX_PARTS reached.
exit "$status"
