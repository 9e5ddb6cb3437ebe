"""The background worker: box proposals, saliency maps and other jobs on one model.

A :class:`ProposalWorker` lives in its own :class:`QThread`
(:mod:`desktop_app.background.worker_thread`). It loads the backbone and the proposer
there on its first job, so neither the app's start-up nor the GUI thread ever waits for
torch. The GUI thread calls :meth:`~ProposalWorker.submit`,
:meth:`~ProposalWorker.submit_task`, :meth:`~ProposalWorker.prioritize`,
:meth:`~ProposalWorker.cancel`, :meth:`~ProposalWorker.stop` and
:meth:`~ProposalWorker.saliency` directly (they only take short locks) and hears back
through signals whose arguments are plain ``int`` and ``str`` (``task_finished`` carries
the finished :class:`~desktop_app.background.jobs.Task`). Proposals are queued per image
and batched;
other jobs (maps of a chosen type, the image score, fine-tuning) are
:class:`~desktop_app.background.jobs.Task` objects run between batches, by priority (see
:mod:`desktop_app.background.jobs`).

The signals belong to a :class:`WorkerSignals` object that stays in the thread that created
the worker, so Qt queues them across threads and every receiver, even a lambda, runs in the
GUI thread.

For each image the worker stores its proposals (origin ``proposal``, state ``proposed``)
in one transaction, after removing the image's earlier still-``proposed`` proposals; moves
the image from ``new`` to ``proposed``; and keeps its ``(224, 224)`` map in memory (the
most recent :data:`CACHE_SIZE`) and in ``maps/<image id>.npy`` of the project's data folder
(float16), so a reopened project shows maps without recomputing them.

While the project has an active model version (``Project.active_model_version``, checked
before each batch), proposals come from that learned model
(:class:`~desktop_app.background.training.ActiveModel`, loaded once per version by
:mod:`desktop_app.background.model_slot`) and name it in their ``model_version_id``; a version that
cannot be loaded is reported once and proposals stay zero-shot. How a task or a batch of
proposals runs is in :mod:`desktop_app.background.runner`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, SignalInstance, Slot

from core.engine import defaults
from core.store import Project
from core.store.database import is_url
from desktop_app.background.jobs import NO_IMAGE, JobQueue, ProposeJob, Task
from desktop_app.background.model_slot import ActiveModelSlot
from desktop_app.background.parts import MapCache, WorkerSignals, maps_folder, reason_of
from desktop_app.background.runner import LABEL, JobRunner

if TYPE_CHECKING:  # torch is imported in the worker thread only, on the first job
    from core.engine.proposals import Proposer

#: How many maps :meth:`ProposalWorker.saliency` keeps in memory (``(224, 224)`` float32,
#: 200 kB each).
CACHE_SIZE = 500
#: Seconds between the worker loop's checks for cancel and stop while the queue is empty.
POLL = 0.05


class ProposalWorker(QObject):
    """Proposes boxes for queued images in the thread it is moved to.

    Args:
        project: an open :class:`Project` (shared: each call is its own transaction) or
            what :meth:`Project.open` takes (its ``location``: the SQLite file or the
            database URL), which the worker then opens and closes itself.
        backbone_name: a backbone of :data:`core.engine.backbones.BACKBONES`.
        method: a recipe of :data:`core.engine.proposals.RECIPES`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"`` ...
        batch_size: images per forward pass.
        weights_path: a weights file for the backbone (default: its usual place).
        cache_size: maps kept in memory.
        preload: open the project and load the model as soon as the thread starts (the
            app: the network loads while the window is built); else on the first job.
        root: the image folder to open the project with: this annotator's mount of a
            PostgreSQL project's folder (required for one); None for an SQLite file.
        user: the user name the worker's own :class:`Project` writes (default the login
            name; :meth:`set_user` changes it).

    Batches grow from one image to ``batch_size`` (doubling) after the queue was empty,
    so the first image's proposals (the one on screen) come after one image's pass, not a
    full batch's.

    Signals:
        proposals_ready(image_id): the image's proposals are stored and its map is ready.
        progress(label, done, total): after each image (or batch of skipped ones), counted
            over everything submitted since the queue was last empty; ``done == total``
            when the worker is idle again.
            A task reports ``(task.label, done, total)`` itself and ends with
            ``done == total`` (``0, 0`` when it reported nothing).
        step(label, text): a running task names its step, the text to show instead of
            its label ("Training model v3: fold 2 of 5").
        failed(image_id, reason): the image could not be read or its proposals not stored,
            or a task failed (``reason`` starts with its label); ``image_id`` is
            :data:`NO_IMAGE` when the model or the project failed to load (then the
            queued jobs are dropped; the next submission tries again) or the task concerns
            no single image.
        cancelled(): :meth:`cancel` of the proposals took effect; no proposals of the
            cancelled jobs follow.
        task_finished(task): a task ran (``task.result``), failed (``task.error``) or was
            cancelled, dropped or replaced before it ran (``task.was_cancelled``).
    """

    def __init__(
        self,
        project: Project | str | Path,
        backbone_name: str = "efficientnet_lite0",
        method: str = "default",
        device: str = defaults.DEVICE,
        batch_size: int = defaults.BATCH_SIZE,
        *,
        weights_path: str | Path | None = None,
        cache_size: int = CACHE_SIZE,
        preload: bool = False,
        root: str | Path | None = None,
        user: str | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, not {batch_size}")
        self._root = None if root is None else Path(root)
        self._user = user
        if isinstance(project, Project):
            self._project: Project | None = project
            self._location: str | Path = project.location
            self.maps_dir = project.data_folder / "maps"
        else:
            self._project = None
            self._location = project if is_url(project) else Path(project).expanduser().resolve()
            self.maps_dir = maps_folder(self._location, self._root)
        self._owns_project = self._project is None
        self.backbone_name = backbone_name
        self.method = method
        self.device = device
        self.batch_size = batch_size
        self.weights_path = weights_path
        self.preload = preload
        self._ramp = 1  # the next batch's size, up to batch_size
        self._proposer: Proposer | None = None
        self._queue = JobQueue()
        # _lock guards the counters, the generation and the pending cancel. A generation
        # change (cancel, stop) makes the batch in hand stop before its next image.
        self._lock = threading.Lock()
        self._generation = 0
        self._done = 0
        self._total = 0
        self._cancel_pending = False
        self._cancelled_total = 0
        self._stop = threading.Event()
        self._running: Task | None = None
        self._held: int | None = None  # the image on screen (see hold)
        self._deferred: set[int] = set()  # its re-proposals dropped while it was held
        self._load_error = ""
        self._dropped: list[Task] = []  # tasks cancelled before they ran, to report
        self._maps = MapCache(self.maps_dir, cache_size)
        self._cache: dict = {}  # TaskContext.cache: kept from task to task
        self._models = ActiveModelSlot()
        self.signals = WorkerSignals()
        self._runner = JobRunner(self, self._maps, self._cache, self._models)

    @property
    def proposals_ready(self) -> SignalInstance:
        """``proposals_ready(image_id: int)``"""
        return self.signals.proposals_ready

    @property
    def progress(self) -> SignalInstance:
        """``progress(label: str, done: int, total: int)``"""
        return self.signals.progress

    @property
    def step(self) -> SignalInstance:
        """``step(label: str, text: str)``"""
        return self.signals.step

    @property
    def failed(self) -> SignalInstance:
        """``failed(image_id: int, reason: str)``"""
        return self.signals.failed

    @property
    def cancelled(self) -> SignalInstance:
        """``cancelled()``"""
        return self.signals.cancelled

    @property
    def task_finished(self) -> SignalInstance:
        """``task_finished(task: Task)``"""
        return self.signals.task_finished

    # --- called from the GUI thread ------------------------------------------------------------

    def submit(self, jobs: Sequence[ProposeJob], force: bool = False) -> None:
        """Queue images behind those already waiting. Images with boxes, or that have left
        status ``new``, are skipped unless ``force`` (or the job's own ``force``)."""
        if force:
            jobs = [ProposeJob(j.image_id, j.path, True) for j in jobs]
        with self._lock:
            self._total += self._queue.put_many(jobs)

    def prioritize(self, image_ids: Sequence[int]) -> None:
        """Propose these images next, in this order (those already done are ignored)."""
        self._queue.prioritize(list(image_ids))

    def hold(self, image_id: int | None) -> None:
        """The image on screen: its boxes must not change under the annotator's hand, so
        a re-proposal (a forced job) of it is deferred until :meth:`take_deferred`."""
        with self._lock:
            self._held = image_id

    def is_held(self, image_id: int) -> bool:
        with self._lock:
            return image_id == self._held

    def defer(self, image_id: int) -> None:
        """A re-proposal of the held image was dropped; remember to ask for it again."""
        with self._lock:
            self._deferred.add(image_id)

    def take_deferred(self, image_id: int) -> bool:
        """Whether a re-proposal of ``image_id`` was deferred (and forget it)."""
        with self._lock:
            if image_id in self._deferred:
                self._deferred.discard(image_id)
                return True
            return False

    def submit_task(self, task: Task) -> None:
        """Queue a task (see :mod:`desktop_app.background.jobs`); a queued task with its key is
        replaced (and reported cancelled)."""
        replaced = self._queue.put_task(task)
        with self._lock:
            self._dropped.extend(replaced)

    def cancel(self, label: str | None = None) -> None:
        """Cancel every job (``label`` None), the proposals only (:data:`LABEL`) or the
        tasks with this label, running and queued. Cancelled proposals: the queue is
        emptied and the batch in hand abandoned before its next image; the worker then
        emits ``progress`` with ``done == total`` and ``cancelled``. A cancelled task
        stops at its next check and is reported through ``task_finished``."""
        with self._lock:
            if label in (None, LABEL):
                self._queue.clear()
                self._generation += 1
                self._cancelled_total = max(self._cancelled_total, self._total)
                self._done = self._total = 0
                self._cancel_pending = True
            if label != LABEL:
                self._dropped.extend(self._queue.clear_tasks(label))
                running = self._running
                if running is not None and label in (None, running.label):
                    running.cancel()

    def running_task(self) -> Task | None:
        """The task the worker thread is running now, if any (proposals are not tasks)."""
        with self._lock:
            return self._running

    def set_user(self, name: str) -> None:
        """Write ``name`` as the user of the worker's changes from now on."""
        self._user = name
        project = self._project
        if project is not None and self._owns_project:
            project.set_user(name)

    def stop(self) -> None:
        """End the worker loop (after the image in hand) so the thread can quit; then call
        ``thread.quit()`` and ``thread.wait()`` (or use
        :func:`~desktop_app.background.worker_thread.stop_worker`)."""
        with self._lock:
            self._stop.set()
            self._generation += 1
            self._queue.close()

    def pending(self) -> int:
        """How many images wait in the queue (not counting the batch in hand)."""
        return len(self._queue)

    def saliency(self, image_id: int) -> np.ndarray | None:
        """The image's proposals' map, ``(S, S)`` float32 0-1 (read-only), from memory or
        from its ``.npy`` file; None when it has none. Safe from any thread."""
        return self._maps.get(image_id)

    # --- the worker thread ---------------------------------------------------------------------

    @Slot()
    def run(self) -> None:
        """The loop, started by ``QThread.started``; returns after :meth:`stop`."""
        try:
            if self.preload and not self._stop.is_set():
                self.load(self._generation)
            while not self._stop.is_set():
                self._report_cancel()
                if not self._queue.wait(POLL):
                    self._ramp = 1
                    continue
                with self._lock:
                    item = self._queue.take_next(min(self._ramp, self.batch_size), 0)
                    generation = self._generation
                    if isinstance(item, Task):
                        self._running = item
                if isinstance(item, Task):
                    self._runner.run_task(item, generation)
                elif item:
                    self._runner.process(item, generation)
                    self._ramp = min(2 * self._ramp, self.batch_size)
        finally:
            if self._owns_project and self._project is not None:
                self._project.close()
                self._project = None
            self._proposer = None
            self._models.clear()
            self._cache.clear()
            app = QCoreApplication.instance()
            if app is not None:  # hand the object back so the GUI thread may delete it
                self.moveToThread(app.thread())

    # --- what the job runner uses (see desktop_app.background.runner.RunnerHost) ----------------

    @property
    def proposer(self) -> Proposer | None:
        """The loaded proposer, None until the first job loads it."""
        return self._proposer

    @property
    def load_error(self) -> str:
        """Why the project or the model last failed to load."""
        return self._load_error

    def is_current(self, generation: int) -> bool:
        """Whether work of ``generation`` should go on (no cancel or stop since)."""
        return generation == self._generation and not self._stop.is_set()

    def stopping(self) -> bool:
        return self._stop.is_set()

    def set_running(self, task: Task | None) -> None:
        with self._lock:
            self._running = task

    def counts(self) -> tuple[int, int]:
        """``(done, total)`` images of the current submission."""
        with self._lock:
            return self._done, self._total

    def _report_cancel(self) -> None:
        with self._lock:
            pending, total = self._cancel_pending, self._cancelled_total
            self._cancel_pending, self._cancelled_total = False, 0
            dropped, self._dropped = self._dropped, []
        for task in dropped:
            task.was_cancelled = task.error is None
            self.progress.emit(task.label, 0, 0)
            self.task_finished.emit(task)
        if pending:
            self.progress.emit(LABEL, total, total)
            self.cancelled.emit()

    def advance(self, generation: int, count: int) -> None:
        """Count ``count`` images of the current submission as done and report it."""
        with self._lock:
            if generation != self._generation:
                return
            self._done += count
            done, total = self._done, self._total
            if done >= total:
                self._done = self._total = 0
        self.progress.emit(LABEL, done, total)

    def _ensure_ready(self) -> Project:
        """Open the project and load the model, once."""
        if self._project is None:
            self._project = Project.open(self._location, self._root, user=self._user)
        if self._proposer is None:
            from core.engine.backbones import load_backbone
            from core.engine.device import keep_freed_memory, pick_device
            from core.engine.proposals import make_proposer

            keep_freed_memory()  # process-wide; the app's command line leaves it to here
            backbone = load_backbone(
                self.backbone_name, self.weights_path, pick_device(self.device)
            )
            self._proposer = make_proposer(backbone, self.method)
        return self._project

    def load(self, generation: int) -> Project | None:
        """The project, with the model loaded; on failure report once, drop every queued
        job (failing its tasks) and return None."""
        try:
            return self._ensure_ready()
        except Exception as exc:  # any failure to load must leave the loop running
            what = "project" if self._project is None else f"{self.backbone_name} model"
            reason = self._load_error = f"could not load the {what}: {reason_of(exc)}"
        self.failed.emit(NO_IMAGE, reason)
        with self._lock:
            tasks = self._queue.clear_tasks()
            for task in tasks:
                task.error = reason
            self._dropped.extend(tasks)
            if generation != self._generation:
                return None
            self._queue.clear()
            total = self._total
            self._done = self._total = 0
        self.progress.emit(LABEL, total, total)
        return None
