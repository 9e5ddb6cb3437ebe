"""Jobs for the proposal worker and the queue it takes them from (plain Python, no Qt).

The queue is ordered by priority, then by submission order: :meth:`JobQueue.prioritize`
moves images (those near the one on screen) to the front; everything else waits in the
order it was submitted. An image is queued at most once.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path


@dataclass(frozen=True)
class ProposeJob:
    """Propose boxes for one image.

    Attributes:
        image_id: the image's id in the project.
        path: its file (absolute, or relative to the project's image folder).
        force: propose even if the image already has boxes or has left status ``new``;
            its previous still-``proposed`` proposals are then replaced.
    """

    image_id: int
    path: Path
    force: bool = False


class JobQueue:
    """A thread-safe queue of :class:`ProposeJob`, one per image, front first.

    Order: images given to :meth:`prioritize` (latest call first, in the order given),
    then the others in submission order. Queuing an image that is already queued keeps
    its place (and keeps ``force`` if either job had it).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nonempty = threading.Condition(self._lock)
        # image id -> (sort key, job); the heap may hold stale keys, skipped when popped.
        self._entries: dict[int, tuple[tuple[int, int], ProposeJob]] = {}
        self._heap: list[tuple[tuple[int, int], int]] = []
        self._seq = itertools.count()
        self._generation = 0
        self._closed = False

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._closed

    def _push(self, key: tuple[int, int], job: ProposeJob) -> None:
        self._entries[job.image_id] = (key, job)
        heapq.heappush(self._heap, (key, job.image_id))

    def put_many(self, jobs: Iterable[ProposeJob]) -> int:
        """Queue jobs behind those already waiting; returns how many images were new to
        the queue. Ignored (returns 0) after :meth:`close`."""
        added = 0
        with self._lock:
            if self._closed:
                return 0
            for job in jobs:
                queued = self._entries.get(job.image_id)
                if queued is None:
                    self._push((0, next(self._seq)), job)
                    added += 1
                elif job.force and not queued[1].force:
                    self._entries[job.image_id] = (queued[0], replace(queued[1], force=True))
            if added:
                self._nonempty.notify_all()
        return added

    def prioritize(self, image_ids: Sequence[int]) -> None:
        """Move the queued ones of ``image_ids`` to the front, in this order (ahead of
        earlier prioritized images). Ids not in the queue are ignored."""
        with self._lock:
            self._generation += 1
            rank = -self._generation
            seen: set[int] = set()
            for position, image_id in enumerate(image_ids):
                queued = self._entries.get(image_id)
                if queued is None or image_id in seen:
                    continue
                seen.add(image_id)
                self._push((rank, position), queued[1])
            if len(self._heap) > 2 * len(self._entries) + 64:
                self._heap = [(key, i) for i, (key, _) in self._entries.items()]
                heapq.heapify(self._heap)

    def _pop(self) -> ProposeJob | None:
        while self._heap:
            key, image_id = heapq.heappop(self._heap)
            queued = self._entries.get(image_id)
            if queued is not None and queued[0] == key:
                del self._entries[image_id]
                return queued[1]
        return None

    def take(self, max_items: int, timeout: float) -> list[ProposeJob]:
        """Up to ``max_items`` jobs from the front, waiting up to ``timeout`` seconds for
        the first one. Returns ``[]`` on timeout or once the queue is closed."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            while not self._entries and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._nonempty.wait(remaining)
            if self._closed:
                return []
            jobs: list[ProposeJob] = []
            while len(jobs) < max_items and (job := self._pop()) is not None:
                jobs.append(job)
            return jobs

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until a job is queued; True if one is (and the
        queue is open). Does not take it."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._lock:
            while not self._entries and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._nonempty.wait(remaining)
            return not self._closed

    def clear(self) -> int:
        """Drop every queued job; returns how many there were."""
        with self._lock:
            dropped = len(self._entries)
            self._entries.clear()
            self._heap.clear()
            return dropped

    def close(self) -> None:
        """Drop every job and wake all waiters; from now on :meth:`take` returns ``[]``
        at once and :meth:`put_many` ignores its jobs."""
        with self._lock:
            self._closed = True
            self._entries.clear()
            self._heap.clear()
            self._nonempty.notify_all()
