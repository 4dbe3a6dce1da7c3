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
# exits 75; this script then requeues its own job (scontrol requeue), which keeps
# every option it was submitted with (#SBATCH lines and sbatch's command line:
# account, partition, time, QoS, memory, nodes, tasks), and the next part
# continues with --resume (finished variants are not trained again). The parts
# append to one output file; slurm counts them in SLURM_RESTART_COUNT.
# --requeue is needed where the site disables requeueing by default (JobRequeue=0).
#
# Your site's account, partition, QoS and memory: fill in and remove one '#' from
# the lines below, or give them to sbatch on the command line (which wins).
##SBATCH --account=YOUR_ACCOUNT
##SBATCH --partition=YOUR_PARTITION
##SBATCH --qos=YOUR_QOS
##SBATCH --mem=0
#
#SBATCH --job-name=caudal-sweep
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=8
#SBATCH --cpus-per-task=8
#SBATCH --time=12:00:00
#SBATCH --signal=B:USR1@600
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=%x-%j.out

set -uo pipefail
STUDY=${1:?usage: sbatch sweep.sh SWEEP.toml [OUTPUT]}
OUTPUT=${2:-sweeps/$SLURM_JOB_NAME-$SLURM_JOB_ID}
RANKS_PER_VARIANT=${RANKS_PER_VARIANT:-2}
PART=$((${SLURM_RESTART_COUNT:-0} + 1))
MAX_PARTS=${MAX_PARTS:-10}
# srun's PMI plugin must be one the site's MPI speaks: `srun --mpi=list` shows what
# slurm offers; Open MPI 4/5 built with PMIx: SRUN_MPI=pmix; MPICH and Intel MPI:
# pmi2 (or pmix); empty: the site's default (MpiDefault in slurm.conf).
SRUN_MPI=${SRUN_MPI:-}

# Your site's MPI and your caudal (built against that MPI: see docs/cluster.md), e.g.
#   module load openmpi/4.1
#   source "$HOME/caudal/.venv/bin/activate"
# and check what the ranks see once: srun caudal doctor

resume=()
if [ -d "$OUTPUT/variants" ]; then resume=(--resume "$OUTPUT"); fi

srun ${SRUN_MPI:+--mpi="$SRUN_MPI"} --cpus-per-task="$SLURM_CPUS_PER_TASK" --cpu-bind=cores \
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
    # Requeueing ends this script: say so first.
    echo "part $PART of the sweep stopped at the walltime warning; requeueing job $SLURM_JOB_ID for part $((PART + 1))"
    scontrol requeue "$SLURM_JOB_ID" || { echo "scontrol requeue failed: resubmit by hand to go on"; exit 75; }
    exit 0
fi
# 0: every variant done; 1: some failed or timed out (see the table); 75: MAX_PARTS reached.
exit "$status"
