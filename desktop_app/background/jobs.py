"""Jobs for the background worker and the queue it takes them from (plain Python, no Qt).

The worker (:mod:`desktop_app.background.worker`) owns the model and runs two kinds of jobs in its
one thread, so the network is loaded once:

- :class:`ProposeJob`, one per image, batched. Ordered by priority, then by submission
  order: :meth:`JobQueue.prioritize` moves images (those near the one on screen) to the
  front; everything else waits in the order it was submitted. An image is queued at most
  once.
- :class:`Task`, any other job: :class:`MapJob` (one map of a chosen type for one image),
  :class:`ScoreJob` (the image score of every image) and
  :class:`desktop_app.background.training.TrainJob` (fine-tuning from the accepted boxes). A task
  runs between proposal batches: one whose :attr:`~Task.priority` is above
  :data:`PROPOSE` before the next batch, one at or below it only while no image is
  queued. Tasks of equal priority run in submission order; queuing a task with the
  :attr:`~Task.key` of a queued one replaces it.

A task's :meth:`~Task.run` gets a :class:`TaskContext`: the project (the worker's own
session), the loaded proposer and its backbone, ``progress(done, total)``,
``cancelled()``, ``report(image_id, reason)`` and a cache that outlives the task. It
returns its result, which the worker puts in :attr:`Task.result` before emitting
``task_finished(task)`` in the GUI thread. An exception is reported as
``failed(task.image_id, "<label>: <reason>")`` (and in :attr:`Task.error`); the worker
goes on with the next job. A task should call ``cancelled()`` between steps and return
(or raise anything) when it is true; its result is then dropped.

Adding a job is adding one class; :class:`~desktop_app.background.training.TrainJob` in outline::

    class TrainJob(Task):
        label = "Fine-tuning"
        priority = BACKGROUND  # only while no image waits for proposals
        key = "train"          # queuing it again replaces the queued one

        def run(self, ctx):
            for step in range(steps):
                if ctx.cancelled():
                    return None
                ...  # a step on ctx.backbone with boxes read from ctx.project
                ctx.progress(step + 1, steps)
            return version_id

and one ``worker.submit_task(TrainJob(...))`` from the GUI thread. Torch is imported
inside :meth:`Task.run` only, in the worker thread.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from core.engine import defaults

if TYPE_CHECKING:
    import numpy as np

    from core.engine.backbones import Backbone
    from core.engine.proposals import Proposer
    from core.store import Project

#: The image id of a report that concerns no single image.
NO_IMAGE = -1
#: Priorities: an on-demand map, a job the user asked for, proposal batches, background
#: work (fine-tuning). Higher runs first.
MAP, USER, PROPOSE, BACKGROUND = 20, 10, 0, -10


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


@dataclass
class TaskContext:
    """What a running :class:`Task` may use, in the worker thread.

    Attributes:
        project: the worker's project (each call is its own transaction).
        proposer: the loaded proposer of the project's settings.
        progress: ``progress(done, total)`` shows the task's progress in the status bar.
        cancelled: true once the task is cancelled or the worker is stopping.
        report: ``report(image_id, reason)`` reports a problem that does not end the task
            (shown as the worker's ``failed(image_id, "<label>: <reason>")``).
        cache: the worker's own dict, kept from task to task for as long as the worker
            (and so its backbone) lives: what a task may reuse next time.
    """

    project: Project
    proposer: Proposer
    progress: Callable[[int, int], None]
    cancelled: Callable[[], bool]
    report: Callable[[int, str], None] = lambda _image_id, _reason: None
    cache: dict[str, Any] = field(default_factory=dict)
    #: ``step(text)``: what the status bar shows instead of the label while the task runs
    #: ("Training model v3: fold 2 of 5"); the worker's ``step(label, text)`` signal.
    step: Callable[[str], None] = lambda _text: None

    @property
    def backbone(self) -> Backbone:
        """The loaded network (one per worker, shared by every job)."""
        return self.proposer.backbone


class Task:
    """A background job other than proposals; subclass it and implement :meth:`run`.

    Class attributes: ``label`` (shown with the progress), ``priority`` (:data:`MAP`,
    :data:`USER`, :data:`PROPOSE` or :data:`BACKGROUND`; an instance may set its own
    before it is queued, as a training the annotator asked for does), ``key`` (a queued
    task with the same key is replaced; None: never). After it ran: ``result``, ``error``
    (the reason it failed, or None) and ``was_cancelled``.
    """

    label: ClassVar[str] = "Working"
    priority: int = USER
    key: Hashable | None = None
    #: The image it concerns (named in failure reports), or :data:`NO_IMAGE`.
    image_id: int = NO_IMAGE

    def __init__(self) -> None:
        self.result: Any = None
        self.error: str | None = None
        self.was_cancelled = False
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Ask the task to stop (it checks between steps); safe from any thread."""
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def run(self, ctx: TaskContext) -> Any:
        """Do the work in the worker thread; return the result."""
        raise NotImplementedError


class MapJob(Task):
    """One saliency map of type ``kind`` (a recipe of :data:`core.engine.proposals.RECIPES`:
    ``cam``, ``gradcam``, ``sensitivity``, ``attention``) for one image; the result is
    ``(S, S)`` float32 0-1. One on-demand map is queued at a time: a newer request
    replaces the queued one (the annotator moved on)."""

    label = "Computing a map"
    priority = MAP
    key = "map"

    def __init__(self, image_id: int, path: str | Path, kind: str) -> None:
        super().__init__()
        self.image_id = image_id
        self.path = Path(path)
        self.kind = kind

    def run(self, ctx: TaskContext) -> np.ndarray:
        import numpy as np

        from core.engine.images import load_rgb
        from core.engine.proposals import Proposer

        ctx.progress(0, 1)
        path = self.path if self.path.is_absolute() else ctx.project.root / self.path
        proposer = Proposer(ctx.backbone, self.kind)
        result, _ = proposer.maps([load_rgb(path).rgb])
        ctx.progress(1, 1)
        return np.asarray(result.maps[0].cpu().numpy(), dtype=np.float32)


class ScoreJob(Task):
    """The image score and softmax confidence of every image of the project, stored
    (:func:`core.scoring.review_queue.score_project`); the result is how many were scored."""

    label = "Scoring images"
    priority = USER
    key = "score"

    def __init__(self, batch_size: int = defaults.BATCH_SIZE) -> None:
        super().__init__()
        self.batch_size = batch_size

    def run(self, ctx: TaskContext) -> int:
        import numpy as np

        from core.scoring.review_queue import score_project

        total = 2 * ctx.project.count_images()  # two passes; the first may read fewer
        done = 0

        def step(count: int) -> None:
            nonlocal done
            done += count
            ctx.progress(min(done, total), total)

        ctx.progress(0, total)
        scores = score_project(
            ctx.project, ctx.backbone, self.batch_size, progress=step, cancelled=ctx.cancelled
        )
        return int(np.isfinite(scores.result.scores).sum())


class JobQueue:
    """A thread-safe queue of :class:`ProposeJob` (one per image) and :class:`Task`.

    Images: those given to :meth:`prioritize` (latest call first, in the order given),
    then the others in submission order. Queuing an image that is already queued keeps
    its place (and keeps ``force`` if either job had it). Tasks: by priority, then in
    submission order; :meth:`take_next` says whether a task or a batch of images is next.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nonempty = threading.Condition(self._lock)
        # image id -> (sort key, job); the heap may hold stale keys, skipped when popped.
        self._entries: dict[int, tuple[tuple[int, int], ProposeJob]] = {}
        self._heap: list[tuple[tuple[int, int], int]] = []
        self._tasks: list[tuple[int, int, Task]] = []  # heap of (-priority, seq, task)
        self._seq = itertools.count()
        self._generation = 0
        self._closed = False

    def __len__(self) -> int:
        """How many images are queued (tasks not counted)."""
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

    def put_task(self, task: Task) -> list[Task]:
        """Queue a task; returns the queued tasks it replaced (same ``key``). Ignored
        after :meth:`close`."""
        with self._lock:
            if self._closed:
                return []
            replaced = [t for _, _, t in self._tasks if task.key is not None and t.key == task.key]
            if replaced:
                self._tasks = [e for e in self._tasks if e[2] not in replaced]
                heapq.heapify(self._tasks)
            heapq.heappush(self._tasks, (-task.priority, next(self._seq), task))
            self._nonempty.notify_all()
            return replaced

    def tasks(self) -> list[Task]:
        """The queued tasks, next first."""
        with self._lock:
            return [t for _, _, t in sorted(self._tasks, key=lambda e: e[:2])]

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

    def _wait(self, timeout: float) -> bool:
        """With the lock held: wait for an image or a task; False on timeout or close."""
        deadline = time.monotonic() + max(0.0, timeout)
        while not self._entries and not self._tasks and not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._nonempty.wait(remaining)
        return not self._closed

    def take(self, max_items: int, timeout: float) -> list[ProposeJob]:
        """Up to ``max_items`` image jobs from the front, waiting up to ``timeout`` seconds
        for the first one. Returns ``[]`` on timeout or once the queue is closed."""
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

    def take_next(self, max_items: int, timeout: float) -> Task | list[ProposeJob]:
        """What the worker runs next: the first task if its priority is above
        :data:`PROPOSE` or no image is queued, else up to ``max_items`` image jobs.
        Waits up to ``timeout`` seconds; ``[]`` on timeout or once closed."""
        with self._lock:
            if not self._wait(timeout):
                return []
            if self._tasks and (-self._tasks[0][0] > PROPOSE or not self._entries):
                return heapq.heappop(self._tasks)[2]
            jobs: list[ProposeJob] = []
            while len(jobs) < max_items and (job := self._pop()) is not None:
                jobs.append(job)
            return jobs

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until an image or a task is queued; True if one
        is (and the queue is open). Does not take it."""
        with self._lock:
            return self._wait(timeout)

    def clear(self) -> int:
        """Drop every queued image job (tasks stay); returns how many there were."""
        with self._lock:
            dropped = len(self._entries)
            self._entries.clear()
            self._heap.clear()
            return dropped

    def clear_tasks(self, label: str | None = None) -> list[Task]:
        """Drop the queued tasks (those with this ``label`` only, if given); returns them."""
        with self._lock:
            dropped = [t for _, _, t in self._tasks if label is None or t.label == label]
            self._tasks = [e for e in self._tasks if e[2] not in dropped]
            heapq.heapify(self._tasks)
            return dropped

    def close(self) -> None:
        """Drop every job and wake all waiters; from now on :meth:`take` returns ``[]``
        at once and :meth:`put_many` ignores its jobs."""
        with self._lock:
            self._closed = True
            self._entries.clear()
            self._heap.clear()
            self._tasks.clear()
            self._nonempty.notify_all()
