"""The running worker jobs' progress, as the status bar shows it: the latest job, with an ETA."""

from __future__ import annotations

import time

#: What the status bar shows: ``(label, done, total, eta)``, ``eta`` in seconds or None.
Shown = tuple[str, int, int, float | None]


class JobProgress:
    """Tracks the worker's ``progress(label, done, total)`` reports of running jobs."""

    def __init__(self) -> None:
        self._jobs: dict[str, tuple[int, int]] = {}  # label → (done, total), latest last
        self._started: dict[str, float] = {}

    def update(self, label: str, done: int, total: int) -> Shown | None:
        """Record a report; return the latest running job's ``(label, done, total, eta)``
        (``eta`` None before anything is done), or None when every job is
        finished."""
        self._jobs.pop(label, None)
        if total <= 0 or done >= total:
            self._started.pop(label, None)
        else:
            self._jobs[label] = (done, total)
            self._started.setdefault(label, time.monotonic())
        if not self._jobs:
            return None
        label, (done, total) = next(reversed(self._jobs.items()))
        elapsed = time.monotonic() - self._started[label]
        eta = elapsed / done * (total - done) if done else None
        return label, done, total, eta

    def shown(self) -> str | None:
        """The label of the latest running job, or None."""
        return next(reversed(self._jobs), None)
