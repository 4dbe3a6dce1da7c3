"""What a measurement ran on: the machine, and how busy it was.

Scaling numbers mean little without the cores they ran on and the load other
users put on them, so every sweep and benchmark records both.
"""

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


def cores_available() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def describe_machine() -> str:
    """One line: host, CPU, cores this process may use, memory, OS, Python."""
    memory = ""
    try:
        import psutil

        memory = f", {psutil.virtual_memory().total / 2**30:.1f} GiB"
    except ImportError:
        pass
    return (
        f"machine: {platform.node()} {platform.machine()}, {cpu_model()}, {cores_available()} cores{memory}; "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}"
    )


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (runnable processes; compare with the core count)."""
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3
