"""The thread pool: placement, first touch, block dealing, errors, and layout-free results."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
from hydro_problems import first_steps, random_hydro

import caudal
from caudal.parallel.blocks import blocks
from caudal.parallel.pool import SerialPool
from caudal.parallel.threads import (
    SPIN_NS,
    ThreadPool,
    available_cores,
    numa_nodes,
    parse_cpulist,
    place_workers,
)
from caudal.parallel.workers import make_pool
from caudal.sddp.passes import default_opening_chunk
from caudal.solver.choice import resolve_solver
from caudal.solver.highspy_workspace import HighspyWorkspace
from caudal.solver.native_workspace import NATIVE_AVAILABLE, NativeWorkspace

needs_native = pytest.mark.skipif(not NATIVE_AVAILABLE, reason="native extension not built")


class Recorder:
    """A stand-in workspace that remembers the thread and CPUs it was created on."""

    def __init__(self, node: int):
        self.node = node
        self.thread = threading.get_ident()
        self.cpus = os.sched_getaffinity(0)
        self.items: list[tuple[int, int]] = []


# -- placement -----------------------------------------------------------------------


def test_parse_cpulist() -> None:
    assert parse_cpulist("0-3,8-9,12\n") == {0, 1, 2, 3, 8, 9, 12}
    assert parse_cpulist("5") == {5}
    assert parse_cpulist("") == set()


def test_place_workers_spreads_contiguous_groups_over_nodes() -> None:
    nodes = {0: {0, 1, 2, 3}, 1: {4, 5, 6, 7}, 2: {8, 9}}
    placement = place_workers(4, allowed={0, 1, 2, 3, 4, 5, 6, 7}, nodes=nodes)  # node 2 not allowed
    assert [node for node, _ in placement] == [0, 0, 1, 1]
    assert placement[2][1] == {4, 5, 6, 7}
    assert place_workers(3, allowed={0, 1}, nodes={}) == [(0, {0, 1})] * 3


def test_this_machine_has_node_information_or_falls_back() -> None:
    nodes = numa_nodes()
    allowed = os.sched_getaffinity(0)
    placement = place_workers(2, allowed, nodes)
    assert all(cpus and cpus <= allowed for _, cpus in placement)


# -- the pool --------------------------------------------------------------------------


def test_workers_pin_themselves_then_create_their_workspace() -> None:
    with ThreadPool(2, Recorder, "recorder") as pool:
        workspaces = pool.workspaces
        assert pool.size == 2 and pool.solver_name == "recorder"
        assert len({ws.thread for ws in workspaces}) == 2
        assert threading.get_ident() not in {ws.thread for ws in workspaces}
        allowed = os.sched_getaffinity(0)
        for ws, (node, cpus) in zip(workspaces, place_workers(2, allowed, numa_nodes()), strict=True):
            assert ws.node == node and ws.cpus == cpus
        assert pool.nodes == tuple(ws.node for ws in workspaces)
    assert os.sched_getaffinity(0) == allowed  # the caller is not pinned


def test_run_deals_contiguous_blocks_and_reuses_the_threads() -> None:
    def task(ws: Recorder, start: int, stop: int) -> None:
        assert threading.get_ident() == ws.thread
        ws.items.append((start, stop))

    with ThreadPool(3, Recorder, "recorder") as pool:
        pool.run(task, 10, 17)
        pool.run(task, 0, 2)  # fewer items than workers: the last worker idles
        got = [ws.items for ws in pool.workspaces]
    expected = [[(10 + a, 10 + b)] for a, b in blocks(7, 3)]
    for w, (a, b) in enumerate(blocks(2, 3)):
        if b > a:
            expected[w].append((a, b))
    assert got == expected


def test_one_at_a_time_gives_every_item_once_to_whichever_worker_is_free() -> None:
    def task(ws: Recorder, start: int, stop: int) -> None:
        assert threading.get_ident() == ws.thread and stop == start + 1
        time.sleep(0.1 if start == 3 else 0.0)  # one slow item: the other worker takes all the rest
        ws.items.append(start)

    with ThreadPool(2, Recorder, "recorder") as pool:
        pool.run(task, 3, 11, one_at_a_time=True)
        got = [list(ws.items) for ws in pool.workspaces]
        pool.run(task, 0, 1, one_at_a_time=True)  # fewer items than workers
        assert sum(ws.items.count(0) for ws in pool.workspaces) == 1
    assert sorted(got[0] + got[1]) == list(range(3, 11))
    slow = 0 if 3 in got[0] else 1
    assert got[slow] == [3] and len(got[1 - slow]) == 7


def test_one_at_a_time_raises_the_lowest_failing_item() -> None:
    def task(ws: Recorder, start: int, stop: int) -> None:
        if start in (2, 4):
            time.sleep(0.02 if start == 2 else 0.0)  # item 4 fails first, item 2 is still the one raised
            raise KeyError(f"item {start}")

    with ThreadPool(2, Recorder, "recorder") as pool:
        for _ in range(3):
            with pytest.raises(KeyError, match="item 2"):
                pool.run(task, 0, 8, one_at_a_time=True)
        pool.run(lambda ws, a, b: None, 0, 4, one_at_a_time=True)  # still usable


def test_an_exception_in_a_worker_is_raised_in_the_caller() -> None:
    def task(ws: Recorder, start: int, stop: int) -> None:
        raise KeyError(f"items {start}..{stop}")

    with ThreadPool(2, Recorder, "recorder") as pool:
        with pytest.raises(KeyError, match="items 0..2"):  # the lowest worker's error
            pool.run(task, 0, 4)
        pool.run(lambda ws, a, b: None, 0, 4)  # still usable
    with pytest.raises(RuntimeError, match="closed"):
        pool.run(lambda ws, a, b: None, 0, 4)
    pool.close()  # idempotent


def test_a_run_interrupted_while_waiting_leaves_the_pool_usable() -> None:
    """Ctrl-C while the caller waits: the workers finish, and their late reports do not confuse the next run."""

    class Interrupted(Exception):
        pass

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    def slow(ws: Recorder, start: int, stop: int) -> None:
        time.sleep(0.2)
        ws.items.append((start, stop))

    def fast(ws: Recorder, start: int, stop: int) -> None:
        ws.items.append((-start, -stop))

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        with ThreadPool(2, Recorder, "recorder") as pool:
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            with pytest.raises(Interrupted):
                pool.run(slow, 0, 2)
            pool.run(fast, 0, 2)  # waits for its own reports, not the slow run's
            assert [ws.items for ws in pool.workspaces] == [[(0, 1), (0, -1)], [(1, 2), (-1, -2)]]
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_a_failing_factory_fails_the_constructor() -> None:
    def factory(node: int) -> Recorder:
        raise OSError("no memory on this node")

    with pytest.raises(OSError, match="no memory"):
        ThreadPool(2, factory, "broken")


def test_the_caller_does_worker_0s_share_with_its_workspace() -> None:
    """``caller_works``: block 0 and a share of the claims run in the caller, with workspace 0."""
    caller = threading.get_ident()

    def task(ws: Recorder, start: int, stop: int) -> None:
        assert threading.get_ident() == (caller if ws is pool.workspaces[0] else ws.thread)
        ws.items.append((start, stop))

    with ThreadPool(3, Recorder, "recorder", caller_works=True) as pool:
        assert pool.caller_works
        pool.run(task, 10, 17)
        assert [ws.items for ws in pool.workspaces] == [[(10 + a, 10 + b)] for a, b in blocks(7, 3)]
        for ws in pool.workspaces:
            ws.items.clear()
        pool.run(task, 0, 1, one_at_a_time=True)  # a single item never leaves the caller
        assert [ws.items for ws in pool.workspaces] == [[(0, 1)], [], []]
        pool.run(task, 0, 9, one_at_a_time=True)
        assert sorted(item for ws in pool.workspaces for item in ws.items) == [(0, 1)] + [(k, k + 1) for k in range(9)]


def test_with_the_caller_working_the_lowest_failure_is_still_the_one_raised() -> None:
    def task(ws: Recorder, start: int, stop: int) -> None:
        if start in (0, 2):
            time.sleep(0.02 if start == 0 else 0.0)  # the caller's block fails last and is still the one raised
            raise KeyError(f"items {start}..{stop}")

    with ThreadPool(2, Recorder, "recorder", caller_works=True) as pool:
        with pytest.raises(KeyError, match="items 0..2"):
            pool.run(task, 0, 4)
        pool.run(lambda ws, a, b: None, 0, 4)  # still usable


@pytest.mark.skipif(not NATIVE_AVAILABLE, reason="the spinning waits are native")
def test_a_pool_spins_between_close_runs_and_sleeps_when_idle() -> None:
    """Workers and caller spin for at most SPIN_NS before they block: many quick runs, then no core burnt."""
    threads = min(2, available_cores())
    with ThreadPool(threads, Recorder, "recorder", caller_works=True) as pool:
        for _ in range(500):  # hand-overs every few microseconds: the spinning path, items still dealt once
            pool.run(lambda ws, a, b: ws.items.append(a), 0, threads, one_at_a_time=True)
        assert sorted(item for ws in pool.workspaces for item in ws.items) == sorted(list(range(threads)) * 500)
        time.sleep(5 * SPIN_NS * 1e-9)
        cpu = time.process_time()
        time.sleep(0.3)
        assert time.process_time() - cpu < 0.03  # asleep on their queues, not spinning


@pytest.mark.skipif(not NATIVE_AVAILABLE, reason="the spinning waits are native")
def test_a_woken_worker_waits_for_a_free_gil_a_bounded_time() -> None:
    """After its job is posted, a worker spins until another thread leaves the GIL free, or GIL_WAIT_NS-like."""
    from caudal.solver.native_workspace import SPIN_WHILE_TOTAL_IS as spin

    posted = np.ones(1, dtype=np.int64)  # the job is there already
    started = time.perf_counter()
    assert spin(posted, 0, 10**9, 100_000_000) == 1
    assert time.perf_counter() - started >= 0.09  # nothing left the GIL free: the whole wait

    reports = np.zeros(1, dtype=np.int64)  # a caller spinning for reports leaves the GIL free
    collector = threading.Thread(target=spin, args=(reports, 0, 30 * 10**9))
    collector.start()
    try:
        time.sleep(0.05)
        started = time.perf_counter()
        assert spin(posted, 0, 10**9, 30 * 10**9) == 1
        assert time.perf_counter() - started < 10
    finally:
        reports[0] = 1
        collector.join()


def test_only_pools_of_kernels_that_leave_the_gil_free_wait_for_it() -> None:
    with ThreadPool(2, Recorder, "recorder", caller_works=True) as pool:
        assert not pool.waits_for_free_gil
    if NATIVE_AVAILABLE and available_cores() >= 2:
        with ThreadPool(2, lambda node: NativeWorkspace(node), "native", caller_works=True) as pool:
            assert pool.waits_for_free_gil


@pytest.mark.skipif(not NATIVE_AVAILABLE or available_cores() < 2, reason="the spinning waits are native")
def test_a_worker_whose_wait_fails_reports_it_on_every_run_instead_of_hanging(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stale compiled kernel (a wait that takes fewer arguments) once killed a worker and hung the caller."""
    import caudal.parallel.threads as threads

    def stale_spin(counters: np.ndarray, total: int, limit_ns: int) -> int:
        return int(counters.sum())

    monkeypatch.setattr(threads, "SPIN_WHILE_TOTAL_IS", stale_spin)
    with ThreadPool(2, Recorder, "recorder", caller_works=True) as pool:
        assert pool.spins
        for _ in range(2):
            with pytest.raises(TypeError, match="positional argument"):
                pool.run(lambda ws, a, b: ws.items.append(a), 0, 2)
        assert pool.workspaces[0].items == [0, 0]  # the caller's share still ran


def test_caller_works_is_refused_across_numa_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    import caudal.parallel.threads as threads

    monkeypatch.setattr(threads, "place_workers", lambda n, allowed, nodes: [(w % 2, allowed) for w in range(n)])
    assert not threads.workers_share_one_node(2)
    with pytest.raises(ValueError, match="one NUMA node"):
        ThreadPool(2, Recorder, "recorder", caller_works=True)


# -- choosing the pool ---------------------------------------------------------------------


def test_make_pool_choices() -> None:
    assert resolve_solver("auto") == ("native" if NATIVE_AVAILABLE else "highspy")
    serial = make_pool(1, "highspy")
    assert isinstance(serial, SerialPool) and isinstance(serial.workspaces[0], HighspyWorkspace)
    pool = make_pool(None, "auto")
    try:
        assert pool.size == available_cores()
        if NATIVE_AVAILABLE:
            assert pool.solver_name == "native" and isinstance(pool.workspaces[0], NativeWorkspace)
        if pool.size > 1:  # the caller solves worker 0's share when the workers share a node (this machine's case)
            assert pool.caller_works == (len(set(pool.nodes)) == 1)
    finally:
        pool.close()
    with pytest.raises(ValueError):
        make_pool(0, "auto")
    with pytest.raises(ValueError):
        make_pool(2, "gurobi")


@needs_native
def test_native_workspaces_record_their_node() -> None:
    pool = make_pool(2, "native")
    try:
        assert [ws.numa_node for ws in pool.workspaces] == list(pool.nodes)
    finally:
        pool.close()


# -- same seed, any number of threads: the same bits ---------------------------------------


@needs_native
@pytest.mark.parametrize(
    "build, passes",
    [(first_steps, 3), (lambda: random_hydro(4, 6, 5, seed=7), 5)],
    ids=["first_steps", "random"],
)
def test_one_and_two_threads_give_bit_identical_cuts_and_bounds(build, passes: int) -> None:
    one = caudal.train(build(), iterations=6, forward_passes=passes, seed=3, threads=1, solver="native")
    two = caudal.train(build(), iterations=6, forward_passes=passes, seed=3, threads=2, solver="native")
    for mine, theirs in zip(one.policy.cut_pools, two.policy.cut_pools, strict=True):
        assert np.array_equal(mine.intercepts, theirs.intercepts)
        assert np.array_equal(mine.coefficients, theirs.coefficients)
    assert [r.lower_bound for r in one.history] == [r.lower_bound for r in two.history]
    assert [r.upper_bound_mean for r in one.history] == [r.upper_bound_mean for r in two.history]
    assert one.solver_stats["solves"] == two.solver_stats["solves"]


@needs_native
@pytest.mark.parametrize("passes", [1, 3])
def test_split_openings_give_bit_identical_cuts_and_bounds_on_one_and_two_threads(passes: int) -> None:
    """Chunks of a trial state's openings on whichever thread: the same bits, and not the unsplit run's."""
    runs = {
        (threads, chunk): caudal.train(
            random_hydro(4, 6, 5, seed=7), iterations=6, forward_passes=passes, seed=3, threads=threads,
            solver="native", opening_chunk=chunk,
        )
        for threads in (1, 2)
        for chunk in (0, 2)
    }
    for chunk in (0, 2):
        one, two = runs[(1, chunk)], runs[(2, chunk)]
        for mine, theirs in zip(one.policy.cut_pools, two.policy.cut_pools, strict=True):
            assert np.array_equal(mine.intercepts, theirs.intercepts)
            assert np.array_equal(mine.coefficients, theirs.coefficients)
        assert [r.lower_bound for r in one.history] == [r.lower_bound for r in two.history]
        assert one.solver_stats["solves"] == two.solver_stats["solves"]
    # every chunk starts from the forward basis: another path than one walk through all openings,
    # so the comparison above is between split runs, not unsplit ones by accident
    assert runs[(1, 2)].solver_stats["simplex_iterations"] != runs[(1, 0)].solver_stats["simplex_iterations"]


def test_default_opening_chunk_reads_the_openings_alone() -> None:
    """Two halves from 10 openings on, rounded up so the first chunk is the longer; fewer stay whole."""
    assert [default_opening_chunk(n) for n in (0, 1, 9, 10, 11, 82, 83)] == [0, 0, 0, 5, 6, 41, 42]


@needs_native
def test_auto_split_gives_bit_identical_cuts_on_one_and_two_threads() -> None:
    """With ``opening_chunk="auto"`` a stage of 12 openings is solved in two chunks of 6, whatever the threads."""
    def run(threads: int, **chunk: int | str) -> caudal.TrainingResult:
        return caudal.train(random_hydro(3, 5, 12, seed=5), iterations=5, forward_passes=1, seed=2,
                            threads=threads, solver="native", **chunk)

    default_one, default_two = run(1, opening_chunk="auto"), run(2, opening_chunk="auto")
    halves, whole = run(1, opening_chunk=6), run(1)
    for mine, theirs, halved in zip(default_one.policy.cut_pools, default_two.policy.cut_pools,
                                    halves.policy.cut_pools, strict=True):
        assert np.array_equal(mine.intercepts, theirs.intercepts)
        assert np.array_equal(mine.coefficients, theirs.coefficients)
        assert np.array_equal(mine.intercepts, halved.intercepts)
    assert [r.lower_bound for r in default_one.history] == [r.lower_bound for r in default_two.history]
    for count in ("solves", "simplex_iterations"):
        assert default_one.solver_stats[count] == default_two.solver_stats[count]
    # auto splits and the default does not: chunks restart from the forward basis, so the unsplit run differs
    assert default_one.solver_stats["simplex_iterations"] == halves.solver_stats["simplex_iterations"]
    assert default_one.solver_stats["simplex_iterations"] != whole.solver_stats["simplex_iterations"]


@pytest.mark.skipif(not NATIVE_AVAILABLE, reason="the spinning waits are native")
def test_waiting_threads_spin_only_on_cores_of_their_own() -> None:
    """Ranks of a node that share its cores (own_cores) must not spin against each other."""
    cores = available_cores()
    with ThreadPool(2, Recorder, "recorder", caller_works=True) as pool:
        assert pool.spins == (cores >= 2)
    with ThreadPool(2, Recorder, "recorder", caller_works=True, own_cores=1) as pool:
        assert not pool.spins
        pool.run(lambda ws, a, b: ws.items.append(a), 0, 2)  # the queues alone still hand the work over
        assert sorted(item for ws in pool.workspaces for item in ws.items) == [0, 1]
