"""``trace.json``: one iteration as a Chrome / Perfetto trace, one track per rank and thread.

The Trace Event Format's JSON object form opens as is in ``chrome://tracing``
and ``ui.perfetto.dev``. Each worker (``pid`` = rank, ``tid`` = thread) gets
complete events (``"ph": "X"``) nested three deep:

* ``iteration N`` spans the rank's whole iteration;
* the rank's phases (forward, each backward stage, communication, cache, bound,
  stopping, checkpoint) repeat on every thread of the rank, so that
* the thread's own tasks (its block of forward passes or trial states at one
  stage) sit inside the phase that ran them; the gaps between tasks are the
  thread's idle time.

Spans travel between ranks as float64 rows of ``TRACE_WIDTH`` columns:
``rank, kind, thread (-1: every thread), start, end (seconds from the common
origin), name code, stage (-1: none)``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from caudal.profiling.columns import PHASES

ITERATION, PHASE, TASK = 0, 1, 2
TRACE_NAMES = (*PHASES, "other")
TRACE_WIDTH = 7
_TASK_NAMES = {"forward": "forward solves", "backward": "backward solves", "bound": "first-stage solve",
               "stopping": "simulation solves"}


def trace_events(spans: np.ndarray, threads: int, iteration: int) -> list[dict]:
    """The trace events of every rank's spans (see the module docstring for the rows)."""
    events: list[dict] = []
    origin = float(spans[:, 3].min()) if spans.size else 0.0
    by_rank: dict[int, list[np.ndarray]] = defaultdict(list)
    for row in spans:
        by_rank[int(row[0])].append(row)
    for rank in sorted(by_rank):
        events.append({"ph": "M", "name": "process_name", "pid": rank, "tid": 0, "args": {"name": f"rank {rank}"}})
        events.append({"ph": "M", "name": "process_sort_index", "pid": rank, "tid": 0, "args": {"sort_index": rank}})
        for thread in range(threads):
            events.append({"ph": "M", "name": "thread_name", "pid": rank, "tid": thread,
                           "args": {"name": f"thread {thread}"}})
        for row in by_rank[rank]:
            kind, thread = int(row[1]), int(row[2])
            event = _event(row, iteration, origin)
            for tid in (range(threads) if thread < 0 else (thread,)):
                events.append({**event, "pid": rank, "tid": tid, "cat": ("iteration", "phase", "task")[kind]})
    return events


def _event(row: np.ndarray, iteration: int, origin: float) -> dict:
    kind, start, end, code, stage = int(row[1]), float(row[3]), float(row[4]), int(row[5]), int(row[6])
    if kind == ITERATION:
        name = f"iteration {iteration}"
    elif kind == PHASE:
        name = TRACE_NAMES[code]
    else:
        name = _TASK_NAMES.get(TRACE_NAMES[code], "task")
    ts = round((start - origin) * 1e6, 3)
    event: dict = {"name": name, "ph": "X", "ts": ts, "dur": round(round((end - origin) * 1e6, 3) - ts, 3)}
    if stage >= 0:
        event["args"] = {"stage": stage}
    return event


def write_trace(path: Path, spans: np.ndarray, threads: int, iteration: int, metadata: dict[str, str]) -> Path:
    """Write ``trace.json``; returns ``path``."""
    document = {
        "traceEvents": trace_events(spans, threads, iteration),
        "displayTimeUnit": "ms",
        "otherData": {"iteration": str(iteration), **metadata},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
    return path


def validate_trace(document: dict, tolerance_us: float = 0.01) -> list[str]:
    """Problems with a trace document (empty when it is well formed and its events nest on every track)."""
    problems: list[str] = []
    events = document.get("traceEvents")
    if not isinstance(events, list):
        return ["no traceEvents list"]
    tracks: dict[tuple[int, int], list[tuple[float, float, str]]] = defaultdict(list)
    for event in events:
        if event.get("ph") == "M":
            continue
        if event.get("ph") != "X":
            problems.append(f"unexpected event phase {event.get('ph')!r}")
            continue
        try:
            ts, dur = float(event["ts"]), float(event["dur"])
            key = (int(event["pid"]), int(event["tid"]))
            name = str(event["name"])
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"malformed event {event}: {exc}")
            continue
        if dur < 0:
            problems.append(f"{name} on {key}: negative duration")
        tracks[key].append((ts, ts + dur, name))
    for key, spans in tracks.items():
        open_spans: list[tuple[float, float, str]] = []
        for start, end, name in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
            while open_spans and start >= open_spans[-1][1] - tolerance_us:
                open_spans.pop()
            if open_spans and end > open_spans[-1][1] + tolerance_us:
                problems.append(f"{name} on {key} overlaps {open_spans[-1][2]} without nesting in it")
            open_spans.append((start, end, name))
    return problems
