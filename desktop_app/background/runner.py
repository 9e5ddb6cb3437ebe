"""How the worker runs what it takes from its queue: a task, or a batch of proposals.

A task runs to its end with a :class:`~desktop_app.background.jobs.TaskContext`; whatever it raises
is reported, never raised. A batch of images is read (those that no longer need
proposals are skipped), shrunk to the network's size, proposed in one pass (by the active
model version, if any: see :mod:`desktop_app.background.model_slot`) and stored image by image,
with each image's map kept in memory and saved to its ``.npy`` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PySide6.QtCore import SignalInstance

from core.engine.images import ImageLoadError, load_rgb
from core.services.proposal_rows import store_proposals
from core.store import Project
from desktop_app.background.jobs import NO_IMAGE, ProposeJob, Task, TaskContext
from desktop_app.background.model_slot import ActiveModelSlot
from desktop_app.background.parts import MapCache, mark_unreadable, reason_of, should_propose

if TYPE_CHECKING:  # torch is imported in the worker thread only, on the first job
    from core.engine.proposals import Proposer
    from desktop_app.background.training import ActiveModel

#: The label of every :attr:`~desktop_app.background.worker.ProposalWorker.progress` signal of the
#: proposals.
LABEL = "Proposing boxes"


class RunnerHost(Protocol):
    """What the job runner needs of the worker that holds it."""

    @property
    def proposals_ready(self) -> SignalInstance: ...
    @property
    def progress(self) -> SignalInstance: ...
    @property
    def step(self) -> SignalInstance: ...
    @property
    def failed(self) -> SignalInstance: ...
    @property
    def task_finished(self) -> SignalInstance: ...
    @property
    def proposer(self) -> Proposer | None: ...
    @property
    def load_error(self) -> str: ...

    def load(self, generation: int) -> Project | None: ...
    def is_current(self, generation: int) -> bool: ...
    def advance(self, generation: int, count: int) -> None: ...
    def stopping(self) -> bool: ...
    def set_running(self, task: Task | None) -> None: ...
    def counts(self) -> tuple[int, int]: ...
    def is_held(self, image_id: int) -> bool: ...
    def defer(self, image_id: int) -> None: ...


class JobRunner:
    """Runs tasks and batches of proposals for
    :class:`~desktop_app.background.worker.ProposalWorker`,
    which holds it and gives it the loaded project and model, its signals and its counters.

    Args:
        worker: the worker (see :class:`RunnerHost`).
        maps: the proposals' map cache.
        cache: :attr:`~desktop_app.background.jobs.TaskContext.cache`, kept from task to task.
        models: the active model version, loaded once.
    """

    def __init__(
        self, worker: RunnerHost, maps: MapCache, cache: dict, models: ActiveModelSlot
    ) -> None:
        self.worker = worker
        self.maps = maps
        self.cache = cache
        self.models = models

    def run_task(self, task: Task, generation: int) -> None:
        """Run a task to its end; whatever it raises is reported, never raised."""
        label, totals = task.label, [0]

        def progress(done: int, total: int) -> None:
            totals[0] = total
            self.worker.progress.emit(label, done, total)

        def cancelled() -> bool:
            return task.cancel_requested or self.worker.stopping()

        try:
            project = self.worker.load(generation)
            if project is None:
                task.error = self.worker.load_error
                return
            proposer = self.worker.proposer
            assert proposer is not None

            def report(image_id: int, reason: str) -> None:
                self.worker.failed.emit(image_id, f"{label}: {reason}")

            def step(text: str) -> None:
                self.worker.step.emit(label, text)

            ctx = TaskContext(project, proposer, progress, cancelled, report, self.cache, step)
            try:
                result = task.run(ctx)
            except Exception as exc:  # a failed task must leave the loop running
                if not cancelled():
                    task.error = reason_of(exc)
                    self.worker.failed.emit(task.image_id, f"{label}: {task.error}")
            else:
                if not cancelled():
                    task.result = result
        finally:
            self.worker.set_running(None)
            task.was_cancelled = cancelled() and task.error is None
            self.worker.progress.emit(label, totals[0], totals[0])
            self.worker.task_finished.emit(task)

    def process(self, jobs: list[ProposeJob], generation: int) -> None:
        if self.worker.proposer is None:  # loading takes a while: show the counts at once
            self.worker.progress.emit(LABEL, *self.worker.counts())
        project = self.worker.load(generation)
        if project is None:
            return
        model = self.models.get(project, self.worker.proposer, self.worker.failed.emit)

        todo: list[tuple[ProposeJob, np.ndarray]] = []
        sizes: list[tuple[int, int]] = []
        finished = 0
        claimed = self._claimed_by_others(project, jobs)
        for job in jobs:
            if not self.worker.is_current(generation):
                return
            try:
                wanted = (
                    job.image_id not in claimed
                    and not (job.force and self.models.unloadable)  # would undo a model's
                    and should_propose(project, job)
                )
                if wanted:
                    path = job.path if Path(job.path).is_absolute() else project.root / job.path
                    todo.append((job, load_rgb(path).rgb))
                    # Keep only the network-size copy and the original size in the batch.
                    rgb = todo[-1][1]
                    sizes.append((rgb.shape[1], rgb.shape[0]))
                    todo[-1] = (job, self._shrink(rgb, model))
                    continue
            except ImageLoadError as exc:
                self.worker.failed.emit(job.image_id, str(exc))
                self._mark_unreadable(project, job.image_id)
            except Exception as exc:  # the store: locked, closed, full disk ...
                self.worker.failed.emit(
                    job.image_id, f"could not read its record: {reason_of(exc)}"
                )
            finished += 1
        if finished:
            self.worker.advance(generation, finished)
        if not todo or not self.worker.is_current(generation):
            return

        try:
            proposer = self.worker.proposer
            assert proposer is not None
            propose = proposer.propose if model is None else model.propose
            results = propose([rgb for _, rgb in todo], sizes)
        except Exception as exc:  # e.g. out of memory on the device
            for job, _ in todo:
                self.worker.failed.emit(job.image_id, f"proposing failed: {reason_of(exc)}")
            self.worker.advance(generation, len(todo))
            return

        for (job, _), result in zip(todo, results, strict=True):
            if not self.worker.is_current(generation):
                return
            if job.force and self.worker.is_held(job.image_id):
                self.worker.defer(job.image_id)  # on screen: proposed again once left
                self.worker.advance(generation, 1)
                continue
            try:
                version_id = None if model is None else model.version_id
                if not store_proposals(project, job.image_id, result, version_id):
                    self.worker.advance(generation, 1)  # someone claimed it meanwhile
                    continue
                self.maps.remember(job.image_id, result.saliency, replace=True)
            except Exception as exc:
                reason = f"could not store its proposals: {reason_of(exc)}"
                self.worker.failed.emit(job.image_id, reason)
            else:
                try:
                    self.maps.save(job.image_id, result.saliency)
                except OSError as exc:  # the map stays in memory for this session
                    self.worker.failed.emit(job.image_id, f"could not save its map: {exc}")
                self.worker.proposals_ready.emit(job.image_id)
            self.worker.advance(generation, 1)

    def _claimed_by_others(self, project: Project, jobs: list[ProposeJob]) -> set[int]:
        """The jobs' images another annotator is reviewing: their boxes must not change
        under that annotator's hand, so they are not proposed (their own app does)."""
        try:
            return set(project.claim_records.held_by_others([j.image_id for j in jobs]))
        except Exception as exc:  # the store: locked, closed ...; propose as before
            self.worker.failed.emit(NO_IMAGE, f"could not read the claims: {reason_of(exc)}")
            return set()

    def _mark_unreadable(self, project: Project, image_id: int) -> None:
        try:
            mark_unreadable(project, image_id)
        except Exception as exc:  # the store: locked, closed, full disk ...
            self.worker.failed.emit(
                image_id, f"could not record it as unreadable: {reason_of(exc)}"
            )
        else:
            self.worker.proposals_ready.emit(image_id)  # the list shows the new status

    def _shrink(self, rgb: np.ndarray, model: ActiveModel | None) -> np.ndarray:
        """The network-size copy of an image (a batch of 24 MP photos would take GBs)."""
        from core.engine.proposals import resize_for_network

        proposer = self.worker.proposer
        assert proposer is not None
        side = proposer.recipe.input_size if model is None else model.input_size
        return resize_for_network(rgb, side)
