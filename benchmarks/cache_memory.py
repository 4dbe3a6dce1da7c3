"""Memory per node of the cut pools and stage LP caches with 1, 2 and 4 ranks on one machine.

Each rank builds brazil4's 120 stages with the same synthetic cut pools (``--cuts``
per stage, as after a long training) and as many visited states per stage, then
its stage LPs (working cuts as rows, the rest the LPs' reserve), and reports the
bytes of its pools and visited-state archives, of its stage LP cache, and its
proportional set size (PSS: shared pages count once per node in the sum).
Side by side: node-shared pools and caches (one copy per node, caudal's default)
and private ones (``CAUDAL_SHARED_POOLS=0 CAUDAL_SHARED_CACHE=0``, one copy per
rank, as Cobre's code keeps them). ``--ranks-per-node K`` groups the ranks into
emulated nodes of K (``CAUDAL_RANKS_PER_NODE``): the host then holds one copy per
emulated node. "PSS growth" is what building the pools and caches added to the
ranks' PSS (the interpreter and the compiled case left out; freed heap memory
handed back to the OS with ``malloc_trim`` first, where glibc has it). The last column is
the node's pools plus caches over the 1-rank run's: 1.00 is one copy per node.

    python benchmarks/cache_memory.py --ranks 1,2,4 --cuts 1000
    python benchmarks/cache_memory.py --ranks 1,2,4 --cuts 10000 --visited 500
    python benchmarks/cache_memory.py --ranks 4 --ranks-per-node 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from machine import describe_machine, load_average

WORKER = r"""
import ctypes, json, sys
import numpy as np
import psutil
from caudal.examples import brazil4
from caudal.parallel.comm import world
from caudal.sddp.cuts import pool_comm
from caudal.sddp.shared_stage_cache import SharedStageCache, private_cache_bytes
from caudal.sddp.training import TrainingState

cuts, n_visited = int(sys.argv[1]), int(sys.argv[2])
comm = world()
state = TrainingState.fresh(brazil4(stages=120).compile(), comm)
pss_before = psutil.Process().memory_full_info().pss
rng = np.random.default_rng(0)
for t, pool in enumerate(state.pools[:-1]):
    # every rank adds the same rows (as after the gather); the node leader writes them
    pool.add(rng.random(cuts) * 1e6, -rng.random((cuts, pool.n_states)) * 100, 0, np.arange(cuts))
    state.visited[t].add(rng.random((n_visited, pool.n_states)) * 100)
    state.cache.refresh(t)
comm.barrier()
try:  # hand the heap the temporaries freed back to the OS, so PSS counts what is held
    ctypes.CDLL("libc.so.6").malloc_trim(0)
except OSError:
    pass
shared = isinstance(state.cache, SharedStageCache)
pools_shared = pool_comm(comm) is comm
holds_pools = comm.node_rank == 0 or not pools_shared  # a node-shared pool counts once, on its leader
row = {
    "rank": comm.rank,
    "cache_bytes": private_cache_bytes(state.cache),
    "shared_window_bytes": state.cache.shared_bytes() if shared and comm.node_rank == 0 else 0,
    "pool_bytes": sum(p.nbytes + a.nbytes for p, a in zip(state.pools, state.visited)) if holds_pools else 0,
    "pools_shared": pools_shared,
    "shared": shared,
    "pss": psutil.Process().memory_full_info().pss,
    "pss_growth": psutil.Process().memory_full_info().pss - pss_before,
    "nodes": comm.n_nodes,
}
rows = comm.allgather_rows(np.frombuffer(json.dumps(row).ljust(400).encode(), dtype=np.uint8)[None, :])
if comm.rank == 0:
    print(json.dumps([json.loads(bytes(r).decode()) for r in rows]))
"""


def measure(ranks: int, cuts: int, visited: int, shared: bool, ranks_per_node: str = "") -> list[dict]:
    flag = "1" if shared else "0"
    env = dict(os.environ, CAUDAL_SHARED_CACHE=flag, CAUDAL_SHARED_POOLS=flag, CAUDAL_RANKS_PER_NODE=ranks_per_node)
    if ranks == 1:
        env["CAUDAL_COMM"] = "single"
    command = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks), sys.executable, "-c", WORKER, str(cuts),
               str(visited)]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", default="1,2,4")
    parser.add_argument("--cuts", type=int, default=1000, help="cuts per stage")
    parser.add_argument("--visited", type=int, help="visited states per stage (default: as many as cuts)")
    parser.add_argument("--ranks-per-node", default="", metavar="K", help="emulated nodes of K ranks")
    args = parser.parse_args()
    visited = args.cuts if args.visited is None else args.visited
    print(describe_machine())
    print(f"brazil4, 120 stages, {args.cuts} cuts and {visited} visited states per stage; load average "
          f"{' '.join(f'{x:.2f}' for x in load_average())}; MB per node and on this host (all its ranks)")
    print(f"{'ranks':>5} {'nodes':>5} {'memory':>8} {'pools MB/node':>14} {'caches MB/node':>15} "
          f"{'both MB/node':>13} {'both MB/host':>13} {'PSS MB/host':>12} {'PSS growth MB/host':>19} "
          f"{'node/1 rank':>12}")
    one_copy = None
    counts = [int(r) for r in args.ranks.split(",")]
    for ranks in counts if 1 in counts else [1, *counts]:  # 1 rank is the reference: one copy
        for shared in (True, False):
            if ranks == 1 and not shared:
                continue
            rows = measure(ranks, args.cuts, visited, shared, args.ranks_per_node if ranks > 1 else "")
            in_use = any(r["shared"] for r in rows)
            cache = (
                sum(r["shared_window_bytes"] for r in rows) if in_use else sum(r["cache_bytes"] for r in rows)
            )
            pools = sum(r["pool_bytes"] for r in rows)
            pss = sum(r["pss"] for r in rows)
            pss_growth = sum(r["pss_growth"] for r in rows)
            nodes = rows[0]["nodes"]
            per_node = (pools + cache) / nodes
            one_copy = one_copy or per_node
            if ranks > 1 and not (in_use == shared == all(r["pools_shared"] for r in rows)):
                raise SystemExit(f"{ranks} ranks: asked for shared={shared}, got cache {in_use}, pools {rows}")
            label = "private" if not shared else "shared" if ranks > 1 else "one"
            print(f"{ranks:>5} {nodes:>5} {label:>8} {pools / nodes / 2**20:>14.2f} {cache / nodes / 2**20:>15.2f} "
                  f"{per_node / 2**20:>13.2f} {(pools + cache) / 2**20:>13.2f} {pss / 2**20:>12.1f} "
                  f"{pss_growth / 2**20:>19.1f} "
                  f"{per_node / one_copy:>12.2f}")

if __name__ == "__main__":
    main()
