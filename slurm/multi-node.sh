#!/bin/bash
# caudal on several nodes: NODES x RANKS_PER_NODE ranks x THREADS threads.
#
#   sbatch slurm/multi-node.sh study.toml [RUN_DIR]
#
# One rank per socket (here 2 per node) with a thread per core of the socket is
# a good start: the threads of a rank share its stage LP cache, which lives
# once per node in shared memory. Ranks exchange cuts once per stage of the
# backward pass (Allgatherv of flat arrays), so more forward passes per
# iteration (forward-passes in the study) keep more ranks busy.
#
# Forward passes are dealt to ranks in contiguous blocks: the same seed gives
# the same policy, bit for bit, whatever the layout, so a study may move between
# one node and many without changing its results.
#
#SBATCH --job-name=caudal-nodes
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=32
#SBATCH --exclusive
#SBATCH --time=08:00:00
#SBATCH --output=%x-%j.out

set -euo pipefail
STUDY=${1:?usage: sbatch multi-node.sh STUDY.toml [RUN_DIR]}
RUN_DIR=${2:-runs/$SLURM_JOB_NAME-$SLURM_JOB_ID}

# module load openmpi/4.1
# source "$HOME/caudal/.venv/bin/activate"

# block:block keeps consecutive ranks on the same node and socket.
srun --cpus-per-task="$SLURM_CPUS_PER_TASK" --cpu-bind=cores --distribution=block:block \
    caudal train --config "$STUDY" --threads "$SLURM_CPUS_PER_TASK" --output "$RUN_DIR"
