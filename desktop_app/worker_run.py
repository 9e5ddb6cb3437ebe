"""How the worker runs what it takes from its queue: a task, or a batch of proposals.

A task runs to its end with a :class:`~desktop_app.jobs.TaskContext`; whatever it raises
is reported, never raised. A batch of images is read (those that no longer need
proposals are skipped), shrunk to the network's size, proposed in one pass (by the active
model version, if any: see :mod:`desktop_app.worker_model`) and stored image by image,
with each image's map kept in memory and saved to its ``.npy`` file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import SignalInstance

from core.images import ImageLoadError, load_rgb
from core.store import Project
from desktop_app.jobs import ProposeJob, Task, TaskContext
from desktop_app.worker_model import ActiveModelSlot
from desktop_app.worker_parts import (
    MapCache,
    mark_unreadable,
    reason_of,
    should_propose,
    store_proposals,
)

if TYPE_CHECKING:  # torch is imported in the worker thread only, on the first job
    from core.proposals import Proposer
    from desktop_app.training import ActiveModel

#: The label of every :attr:`~desktop_app.worker.ProposalWorker.progress` signal of the
#: proposals.
LABEL = "Proposing boxes"


class JobRunner:
    """Runs tasks and batches of proposals; mixed into
    :class:`~desktop_app.worker.ProposalWorker`, which provides the attributes and
    methods declared here (its signals, locks, counters, caches and model)."""

    proposals_ready: SignalInstance
    progress: SignalInstance
    failed: SignalInstance
    task_finished: SignalInstance
    _project: Project | None
    _proposer: Proposer | None
    _lock: threading.Lock
    _stop: threading.Event
    _running: Task | None
    _load_error: str
    _done: int
    _total: int
    _maps: MapCache
    _cache: dict
    _models: ActiveModelSlot
    _load: Callable[[int], Project | None]
    _current: Callable[[int], bool]
    _advance: Callable[[int, int], None]

    def _run_task(self, task: Task, generation: int) -> None:
        """Run a task to its end; whatever it raises is reported, never raised."""
        label, totals = task.label, [0]

        def progress(done: int, total: int) -> None:
            totals[0] = total
            self.progress.emit(label, done, total)

        def cancelled() -> bool:
            return task.cancel_requested or self._stop.is_set()

        try:
            project = self._load(generation)
            if project is None:
                task.error = self._load_error
                return
            assert self._proposer is not None

            def report(image_id: int, reason: str) -> None:
                self.failed.emit(image_id, f"{label}: {reason}")

            ctx = TaskContext(project, self._proposer, progress, cancelled, report, self._cache)
            try:
                result = task.run(ctx)
            except Exception as exc:  # a failed task must leave the loop running
                if not cancelled():
                    task.error = reason_of(exc)
                    self.failed.emit(task.image_id, f"{label}: {task.error}")
            else:
                if not cancelled():
                    task.result = result
        finally:
            with self._lock:
                self._running = None
            task.was_cancelled = cancelled() and task.error is None
            self.progress.emit(label, totals[0], totals[0])
            self.task_finished.emit(task)

    def _process(self, jobs: list[ProposeJob], generation: int) -> None:
        if self._project is None or self._proposer is None:
            with self._lock:
                done, total = self._done, self._total
            self.progress.emit(LABEL, done, total)
        project = self._load(generation)
        if project is None:
            return
        model = self._models.get(project, self._proposer, self.failed.emit)

        todo: list[tuple[ProposeJob, np.ndarray]] = []
        sizes: list[tuple[int, int]] = []
        finished = 0
        for job in jobs:
            if not self._current(generation):
                return
            try:
                wanted = should_propose(project, job)
                if wanted:
                    path = job.path if Path(job.path).is_absolute() else project.root / job.path
                    todo.append((job, load_rgb(path).rgb))
                    # Keep only the network-size copy and the original size in the batch.
                    rgb = todo[-1][1]
                    sizes.append((rgb.shape[1], rgb.shape[0]))
                    todo[-1] = (job, self._shrink(rgb, model))
                    continue
            except ImageLoadError as exc:
                self.failed.emit(job.image_id, str(exc))
                self._mark_unreadable(project, job.image_id)
            except Exception as exc:  # the store: locked, closed, full disk ...
                self.failed.emit(job.image_id, f"could not read its record: {reason_of(exc)}")
            finished += 1
        if finished:
            self._advance(generation, finished)
        if not todo or not self._current(generation):
            return

        try:
            assert self._proposer is not None
            propose = self._proposer.propose if model is None else model.propose
            results = propose([rgb for _, rgb in todo], sizes)
        except Exception as exc:  # e.g. out of memory on the device
            for job, _ in todo:
                self.failed.emit(job.image_id, f"proposing failed: {reason_of(exc)}")
            self._advance(generation, len(todo))
            return

        for (job, _), result in zip(todo, results, strict=True):
            if not self._current(generation):
                return
            try:
                version_id = None if model is None else model.version_id
                store_proposals(project, job.image_id, result, version_id)
                self._maps.remember(job.image_id, result.saliency, replace=True)
            except Exception as exc:
                reason = f"could not store its proposals: {reason_of(exc)}"
                self.failed.emit(job.image_id, reason)
            else:
                try:
                    self._maps.save(job.image_id, result.saliency)
                except OSError as exc:  # the map stays in memory for this session
                    self.failed.emit(job.image_id, f"could not save its map: {exc}")
                self.proposals_ready.emit(job.image_id)
            self._advance(generation, 1)

    def _mark_unreadable(self, project: Project, image_id: int) -> None:
        try:
            mark_unreadable(project, image_id)
        except Exception as exc:  # the store: locked, closed, full disk ...
            self.failed.emit(image_id, f"could not record it as unreadable: {reason_of(exc)}")
        else:
            self.proposals_ready.emit(image_id)  # the list shows the new status

    def _shrink(self, rgb: np.ndarray, model: ActiveModel | None) -> np.ndarray:
        """The network-size copy of an image (a batch of 24 MP photos would take GBs)."""
        from core.proposals import resize_for_network

        assert self._proposer is not None
        side = self._proposer.recipe.input_size if model is None else model.input_size
        return resize_for_network(rgb, side)
