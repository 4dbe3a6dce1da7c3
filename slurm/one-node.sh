#!/bin/bash
# caudal on one node: RANKS MPI ranks x THREADS worker threads each.
#
#   sbatch slurm/one-node.sh study.toml [RUN_DIR]
#
# study.toml holds the study's options (see docs/cli.md), e.g.
#   case = "brazil4"
#   stages = 120
#   iterations = 300
#   forward-passes = 16
# and the results land in RUN_DIR (default runs/<job name>-<job id>).
#
# Layout: --ntasks ranks, each given --cpus-per-task cores for its threads. Fill
# the node (ranks x threads = cores); a rank per NUMA domain or per socket is a
# good start, and slurm/scaling.sh measures the alternatives. Options given to
# sbatch win over these lines: sbatch --ntasks=4 --cpus-per-task=16 slurm/one-node.sh ...
#
#SBATCH --job-name=caudal
#SBATCH --nodes=1
#SBATCH --ntasks=8
#SBATCH --cpus-per-task=8
#SBATCH --time=04:00:00
#SBATCH --output=%x-%j.out

set -euo pipefail
STUDY=${1:?usage: sbatch one-node.sh STUDY.toml [RUN_DIR]}
RUN_DIR=${2:-runs/$SLURM_JOB_NAME-$SLURM_JOB_ID}

# Your site's MPI and your caudal (built against that MPI: see docs/cluster.md), e.g.
#   module load openmpi/4.1
#   source "$HOME/caudal/.venv/bin/activate"

# srun starts one caudal per task. --cpus-per-task is repeated because srun does
# not inherit it from sbatch in every slurm release; --cpu-bind=cores pins each
# rank to its own cores, so its threads stay on them (first-touch memory too).
srun --cpus-per-task="$SLURM_CPUS_PER_TASK" --cpu-bind=cores \
    caudal train --config "$STUDY" --threads "$SLURM_CPUS_PER_TASK" --output "$RUN_DIR"
