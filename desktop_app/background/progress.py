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
        self._steps: dict[str, str] = {}  # label → the running step's text

    def step(self, label: str, text: str) -> Shown | None:
        """Record the text a running job shows instead of its label ("Training model v3:
        fold 2 of 5"), until it ends; return what to show, as :meth:`update`."""
        self._steps[label] = text
        return self._latest()

    def share(self, label: str) -> float | None:
        """How much of the job with this label is done (0-1), or None when it is not
        running."""
        done, total = self._jobs.get(label, (0, 0))
        return done / total if total > 0 else None

    def update(self, label: str, done: int, total: int) -> Shown | None:
        """Record a report; return the latest running job's ``(text, done, total, eta)``
        (``text`` its step's, else its label; ``eta`` None before anything is done), or
        None when every job is finished."""
        self._jobs.pop(label, None)
        if total <= 0 or done >= total:
            self._started.pop(label, None)
            self._steps.pop(label, None)
        else:
            self._jobs[label] = (done, total)
            self._started.setdefault(label, time.monotonic())
        return self._latest()

    def _latest(self) -> Shown | None:
        if not self._jobs:
            return None
        label, (done, total) = next(reversed(self._jobs.items()))
        elapsed = time.monotonic() - self._started[label]
        eta = elapsed / done * (total - done) if done else None
        return self._steps.get(label, label), done, total, eta

    def shown(self) -> str | None:
        """The label of the latest running job, or None."""
        return next(reversed(self._jobs), None)
