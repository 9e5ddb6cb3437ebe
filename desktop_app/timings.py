"""Startup timings for benchmarks: with ``SALIBOX_TIMINGS=FILE`` the app appends
``event seconds-since-process-start`` lines (window_shown, project_open, first_proposals,
process_exit) that ``bench/startup.py`` reads."""

from __future__ import annotations

import os
import time

#: Environment variable naming the file startup timings are appended to.
TIMINGS = "SALIBOX_TIMINGS"
_STARTED = time.monotonic()


def process_seconds() -> float:
    """Seconds since this process started (from /proc on Linux; else since this module
    was imported)."""
    try:
        with open("/proc/self/stat") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as uptime:
            return float(uptime.read().split()[0]) - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _STARTED


def mark(event: str) -> None:
    """Append ``event seconds-since-process-start`` to the ``SALIBOX_TIMINGS`` file."""
    path = os.environ.get(TIMINGS)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as out:
            out.write(f"{event} {process_seconds():.3f}\n")
    except OSError:
        pass
