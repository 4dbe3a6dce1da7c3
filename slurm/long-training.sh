#!/bin/bash
# A training longer than one job's walltime: checkpoint at the warning, requeue, resume.
#
#   sbatch slurm/long-training.sh study.toml runs/b120
#   sbatch --account=proj42 --partition=long --qos=normal --mem=0 --time=24:00:00 \
#       slurm/long-training.sh study.toml runs/b120
#
# How it goes:
#  1. slurm sends SIGUSR1 to this script 10 minutes before the walltime
#     (--signal=B:USR1@600); the trap below passes it on to srun, which passes it
#     to every rank.
#  2. caudal finishes the current iteration, writes a checkpoint into
#     RUN_DIR/checkpoints and exits with status 75 on every rank.
#  3. This script then requeues its own job (scontrol requeue): the same job id
#     goes back to the queue with every option it was submitted with, those of
#     the #SBATCH lines and those given to sbatch on the command line alike
#     (account, partition, time, QoS, memory, nodes, tasks...). Its output is
#     appended to the same file (--open-mode=append); slurm counts the parts in
#     SLURM_RESTART_COUNT.
#  4. The next part finds the checkpoint and continues with --resume: the bounds
#     and cuts are the same, bit for bit, as if the run had never stopped.
#  5. When caudal exits 0 (iteration limit or a stopping rule), the chain ends.
# Any other exit status stops the chain: look at the job's output file.
#
# --requeue is needed where the site disables requeueing by default (JobRequeue=0);
# it also lets slurm requeue the job after a node failure, which resumes the same way.
#
# Choose the warning time (@600) larger than one iteration plus a checkpoint
# write; caudal prints both in its log. MAX_PARTS bounds the chain.
#
# Your site's account, partition, QoS and memory: fill in and remove one '#' from
# the lines below, or give them to sbatch on the command line (which wins).
##SBATCH --account=YOUR_ACCOUNT
##SBATCH --partition=YOUR_PARTITION
##SBATCH --qos=YOUR_QOS
##SBATCH --mem=0
#
#SBATCH --job-name=caudal-long
#SBATCH --nodes=1
#SBATCH --ntasks=8
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --signal=B:USR1@600
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=%x-%j.out

set -uo pipefail
STUDY=${1:?usage: sbatch long-training.sh STUDY.toml RUN_DIR}
RUN_DIR=${2:?usage: sbatch long-training.sh STUDY.toml RUN_DIR}
PART=$((${SLURM_RESTART_COUNT:-0} + 1))
MAX_PARTS=${MAX_PARTS:-20}
# srun's PMI plugin must be one the site's MPI speaks: `srun --mpi=list` shows what
# slurm offers; Open MPI 4/5 built with PMIx: SRUN_MPI=pmix; MPICH and Intel MPI:
# pmi2 (or pmix); empty: the site's default (MpiDefault in slurm.conf).
SRUN_MPI=${SRUN_MPI:-}

# Your site's MPI and your caudal (built against that MPI: see docs/cluster.md), e.g.
#   module load openmpi/4.1
#   source "$HOME/caudal/.venv/bin/activate"
# and check what the ranks see once: srun caudal doctor

# A valid checkpoint in RUN_DIR means an earlier part got that far.
resume=()
if caudal checkpoint inspect "$RUN_DIR" > /dev/null 2>&1; then
    resume=(--resume "$RUN_DIR")
fi
echo "part $PART of the training in $RUN_DIR (job $SLURM_JOB_ID) ${resume[*]:+resuming}"

srun ${SRUN_MPI:+--mpi="$SRUN_MPI"} --cpus-per-task="$SLURM_CPUS_PER_TASK" --cpu-bind=cores \
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
        # Requeueing ends this script: say so first.
        echo "part $PART stopped at the walltime warning with a checkpoint; requeueing job $SLURM_JOB_ID for part $((PART + 1))"
        scontrol requeue "$SLURM_JOB_ID" || { echo "scontrol requeue failed: resubmit by hand to go on"; exit 75; }
        ;;
    *)
        echo "the training failed (exit status $status): not resubmitting"
        exit "$status"
        ;;
esac
