#!/bin/bash
# A training longer than one job's walltime: checkpoint at the warning, resubmit, resume.
#
#   sbatch slurm/long-training.sh study.toml runs/b120
#
# How it goes:
#  1. slurm sends SIGUSR1 to this script 10 minutes before the walltime
#     (--signal=B:USR1@600); the trap below passes it on to srun, which passes it
#     to every rank.
#  2. caudal finishes the current iteration, writes a checkpoint into
#     RUN_DIR/checkpoints and exits with status 75 on every rank.
#  3. This script then submits itself again, to start once this job has ended
#     (--dependency=afterany), with the same shape (nodes, tasks, cpus).
#  4. The next part finds the checkpoint and continues with --resume: the bounds
#     and cuts are the same, bit for bit, as if the run had never stopped.
#  5. When caudal exits 0 (iteration limit or a stopping rule), the chain ends.
# Any other exit status stops the chain: look at the job's output file.
#
# Choose the warning time (@600) larger than one iteration plus a checkpoint
# write; caudal prints both in its log. MAX_PARTS bounds the chain.
#
#SBATCH --job-name=caudal-long
#SBATCH --nodes=1
#SBATCH --ntasks=8
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --signal=B:USR1@600
#SBATCH --output=%x-%j.out

set -uo pipefail
STUDY=${1:?usage: sbatch long-training.sh STUDY.toml RUN_DIR}
RUN_DIR=${2:?usage: sbatch long-training.sh STUDY.toml RUN_DIR}
PART=${CAUDAL_PART:-1}
MAX_PARTS=${MAX_PARTS:-20}

# module load openmpi/4.1
# source "$HOME/caudal/.venv/bin/activate"

# A valid checkpoint in RUN_DIR means an earlier part got that far.
resume=()
if caudal checkpoint inspect "$RUN_DIR" > /dev/null 2>&1; then
    resume=(--resume "$RUN_DIR")
fi
echo "part $PART of the training in $RUN_DIR (job $SLURM_JOB_ID) ${resume[*]:+resuming}"

srun --cpus-per-task="$SLURM_CPUS_PER_TASK" --cpu-bind=cores \
    caudal train --config "$STUDY" --threads "$SLURM_CPUS_PER_TASK" --output "$RUN_DIR" "${resume[@]}" &
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

case $status in
    0)
        echo "the training in $RUN_DIR is finished"
        caudal checkpoint inspect "$RUN_DIR"
        ;;
    75)
        if [ "$PART" -ge "$MAX_PARTS" ]; then
            echo "stopped with a checkpoint after $PART parts (MAX_PARTS): resubmit by hand to go on"
            exit 75
        fi
        # $0 is slurm's copy of this script: ask slurm for the path it was submitted from.
        script=$(scontrol show job "$SLURM_JOB_ID" | sed -n 's/^ *Command=\([^ ]*\).*/\1/p')
        sbatch --dependency="afterany:$SLURM_JOB_ID" --export="ALL,CAUDAL_PART=$((PART + 1))" \
            --nodes="$SLURM_JOB_NUM_NODES" --ntasks="$SLURM_NTASKS" --cpus-per-task="$SLURM_CPUS_PER_TASK" \
            "$script" "$STUDY" "$RUN_DIR" || exit 75
        echo "part $PART stopped at the walltime warning with a checkpoint; part $((PART + 1)) is queued"
        ;;
    *)
        echo "the training failed (exit status $status): not resubmitting"
        exit "$status"
        ;;
esac
