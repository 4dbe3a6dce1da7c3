"""Memory per node of the stage LP caches with 1, 2 and 4 ranks on one machine.

Each rank builds brazil4's 120 stage LPs with the same synthetic cut pools
(``--cuts`` per stage, as after a long training) and reports its cache bytes and
its proportional set size (PSS: shared pages count once per node in the sum).
Side by side: the node-shared cache (one copy per node, caudal's default) and
private caches (``CAUDAL_SHARED_CACHE=0``, one copy per rank, as Cobre's code
keeps them). ``--ranks-per-node K`` groups the ranks into emulated nodes of K
(``CAUDAL_RANKS_PER_NODE``): the host then holds one copy per emulated node.

    python benchmarks/cache_memory.py --ranks 1,2,4 --cuts 1000
    python benchmarks/cache_memory.py --ranks 4 --ranks-per-node 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from machine import describe_machine

WORKER = r"""
import json, sys
import numpy as np
import psutil
from caudal.examples import brazil4
from caudal.parallel.comm import world
from caudal.sddp.shared_stage_cache import SharedStageCache, private_cache_bytes
from caudal.sddp.training import TrainingState

cuts = int(sys.argv[1])
comm = world()
state = TrainingState.fresh(brazil4(stages=120).compile(), comm)
rng = np.random.default_rng(0)
for t, pool in enumerate(state.pools[:-1]):
    pool.add(rng.random(cuts) * 1e6, -rng.random((cuts, pool.n_states)) * 100, 0, np.arange(cuts))
    state.cache.refresh(t)
comm.barrier()
shared = isinstance(state.cache, SharedStageCache)
row = {
    "rank": comm.rank,
    "cache_bytes": private_cache_bytes(state.cache),
    "shared_window_bytes": state.cache.shared_bytes() if shared and comm.node_rank == 0 else 0,
    "shared": shared,
    "pss": psutil.Process().memory_full_info().pss,
    "nodes": comm.n_nodes,
}
rows = comm.allgather_rows(np.frombuffer(json.dumps(row).ljust(400).encode(), dtype=np.uint8)[None, :])
if comm.rank == 0:
    print(json.dumps([json.loads(bytes(r).decode()) for r in rows]))
"""


def measure(ranks: int, cuts: int, shared: bool, ranks_per_node: str = "") -> list[dict]:
    env = dict(os.environ, CAUDAL_SHARED_CACHE="1" if shared else "0", CAUDAL_RANKS_PER_NODE=ranks_per_node)
    if ranks == 1:
        env["CAUDAL_COMM"] = "single"
    command = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), sys.executable, "-c", WORKER, str(cuts)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", default="1,2,4")
    parser.add_argument("--cuts", type=int, default=1000, help="cuts per stage")
    parser.add_argument("--ranks-per-node", default="", metavar="K", help="emulated nodes of K ranks")
    args = parser.parse_args()
    print(describe_machine())
    print(f"brazil4, 120 stages, {args.cuts} cuts per stage; memory per node and on this host (all its ranks)")
    print(f"{'ranks':>5} {'nodes':>5} {'cache':>8} {'stage LP cache MB/node':>23} {'MB/host':>8} {'PSS MB/host':>12}")
    for ranks in (int(r) for r in args.ranks.split(",")):
        for shared in (True, False):
            if ranks == 1 and not shared:
                continue
            rows = measure(ranks, args.cuts, shared, args.ranks_per_node)
            in_use = any(r["shared"] for r in rows)
            cache = (
                sum(r["shared_window_bytes"] for r in rows) if in_use else sum(r["cache_bytes"] for r in rows)
            )
            pss = sum(r["pss"] for r in rows)
            nodes = rows[0]["nodes"]
            label = "shared" if in_use else "private"
            print(f"{ranks:>5} {nodes:>5} {label:>8} {cache / nodes / 2**20:>23.2f} {cache / 2**20:>8.2f} "
                  f"{pss / 2**20:>12.1f}")


if __name__ == "__main__":
    main()
