"""One line describing the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe_machine() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    try:
        import psutil

        memory = f", {psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:
        pass
    return (
        f"machine: {platform.node()} {platform.machine()}, {cpu_model()}, {cores} cores{memory}; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}"
    )
