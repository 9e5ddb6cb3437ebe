"""The proposal worker: box proposals and saliency maps computed in a background thread.

A :class:`ProposalWorker` lives in its own :class:`QThread` (see :func:`start_worker`). It
loads the backbone and the proposer there on its first job, so neither the app's start-up
nor the GUI thread ever waits for torch. The GUI thread calls :meth:`~ProposalWorker.submit`,
:meth:`~ProposalWorker.prioritize`, :meth:`~ProposalWorker.cancel`,
:meth:`~ProposalWorker.stop` and :meth:`~ProposalWorker.saliency` directly (they only take
short locks) and hears back through signals whose arguments are plain ``int`` and ``str``.
The signals belong to a :class:`WorkerSignals` object that stays in the thread that created
the worker, so Qt queues them across threads and every receiver, even a lambda, runs in the
GUI thread.

For each image the worker stores its proposals (origin ``proposal``, state ``proposed``)
in one transaction, after removing the image's earlier still-``proposed`` proposals; moves
the image from ``new`` to ``proposed``; and keeps its ``(224, 224)`` map in memory (the
most recent :data:`CACHE_SIZE`) and in ``<database folder>/maps/<image id>.npy``
(float16), so a reopened project shows maps without recomputing them.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QThread, SignalInstance, Slot

from core.images import ImageLoadError, load_rgb
from core.store import Project
from desktop_app.jobs import JobQueue, ProposeJob
from desktop_app.worker_parts import WorkerSignals, maps_folder, reason_of

if TYPE_CHECKING:  # torch is imported in the worker thread only, on the first job
    from core.proposals import ImageProposals, Proposer

#: The label of every :attr:`ProposalWorker.progress` signal.
LABEL = "Proposing boxes"
#: The image id of a :attr:`ProposalWorker.failed` signal that concerns no single image
#: (the model or the project could not be loaded).
NO_IMAGE = -1
#: How many maps :meth:`ProposalWorker.saliency` keeps in memory (``(224, 224)`` float32,
#: 200 kB each).
CACHE_SIZE = 500
#: Seconds between the worker loop's checks for cancel and stop while the queue is empty.
POLL = 0.05


class ProposalWorker(QObject):
    """Proposes boxes for queued images in the thread it is moved to.

    Args:
        project: an open :class:`Project` (shared: each call is its own transaction) or the
            path of its database, which the worker then opens and closes itself.
        backbone_name: a backbone of :data:`core.backbones.BACKBONES`.
        method: a recipe of :data:`core.proposals.RECIPES`.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"`` ...
        batch_size: images per forward pass.
        weights_path: a weights file for the backbone (default: its usual place).
        cache_size: maps kept in memory.

    Signals:
        proposals_ready(image_id): the image's proposals are stored and its map is ready.
        progress(label, done, total): after each image (or batch of skipped ones), counted
            over everything submitted since the queue was last empty; ``done == total``
            when the worker is idle again.
        failed(image_id, reason): the image could not be read or its proposals not stored;
            ``image_id`` is :data:`NO_IMAGE` when the model or the project failed to load
            (then the queued jobs are dropped; the next submission tries again).
        cancelled(): :meth:`cancel` took effect; no proposals of the cancelled jobs follow.
    """

    def __init__(
        self,
        project: Project | str | Path,
        backbone_name: str = "efficientnet_lite0",
        method: str = "default",
        device: str = "auto",
        batch_size: int = 8,
        *,
        weights_path: str | Path | None = None,
        cache_size: int = CACHE_SIZE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, not {batch_size}")
        if isinstance(project, Project):
            self._project: Project | None = project
            self._db_path: Path = project.db_path
        else:
            self._project = None
            self._db_path = Path(project).expanduser().resolve()
        self._owns_project = self._project is None
        self.backbone_name = backbone_name
        self.method = method
        self.device = device
        self.batch_size = batch_size
        self.weights_path = weights_path
        self.maps_dir = maps_folder(self._db_path)
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
        self._cache_size = cache_size
        self._maps: OrderedDict[int, np.ndarray] = OrderedDict()
        self._maps_lock = threading.Lock()
        self.signals = WorkerSignals()

    @property
    def proposals_ready(self) -> SignalInstance:
        """``proposals_ready(image_id: int)``"""
        return self.signals.proposals_ready

    @property
    def progress(self) -> SignalInstance:
        """``progress(label: str, done: int, total: int)``"""
        return self.signals.progress

    @property
    def failed(self) -> SignalInstance:
        """``failed(image_id: int, reason: str)``"""
        return self.signals.failed

    @property
    def cancelled(self) -> SignalInstance:
        """``cancelled()``"""
        return self.signals.cancelled

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

    def cancel(self) -> None:
        """Drop the queued jobs and abandon the batch in hand before its next image; the
        worker then emits ``progress`` with ``done == total`` and ``cancelled``."""
        with self._lock:
            self._queue.clear()
            self._generation += 1
            self._cancelled_total = max(self._cancelled_total, self._total)
            self._done = self._total = 0
            self._cancel_pending = True

    def stop(self) -> None:
        """End the worker loop (after the image in hand) so the thread can quit; then call
        ``thread.quit()`` and ``thread.wait()`` (or use :func:`stop_worker`)."""
        with self._lock:
            self._stop.set()
            self._generation += 1
            self._queue.close()

    def pending(self) -> int:
        """How many images wait in the queue (not counting the batch in hand)."""
        return len(self._queue)

    def saliency(self, image_id: int) -> np.ndarray | None:
        """The image's map, ``(S, S)`` float32 0-1 (read-only), from memory or from its
        ``.npy`` file; None when it has none. Safe from any thread."""
        with self._maps_lock:
            cached = self._maps.get(image_id)
            if cached is not None:
                self._maps.move_to_end(image_id)
                return cached
        try:
            loaded = np.load(self.maps_dir / f"{image_id}.npy", allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if loaded.ndim != 2:
            return None
        return self._remember(image_id, loaded, replace=False)

    def _remember(self, image_id: int, saliency: np.ndarray, replace: bool) -> np.ndarray:
        """Cache a read-only float32 copy; with ``replace=False`` a map cached meanwhile
        (a newer one from the worker) wins over this one (read from disk)."""
        value = np.array(saliency, dtype=np.float32)
        value.flags.writeable = False
        with self._maps_lock:
            if not replace and image_id in self._maps:
                self._maps.move_to_end(image_id)
                return self._maps[image_id]
            self._maps[image_id] = value
            self._maps.move_to_end(image_id)
            while len(self._maps) > self._cache_size:
                self._maps.popitem(last=False)
        return value

    # --- the worker thread ---------------------------------------------------------------------

    @Slot()
    def run(self) -> None:
        """The loop, started by ``QThread.started``; returns after :meth:`stop`."""
        try:
            while not self._stop.is_set():
                self._report_cancel()
                if not self._queue.wait(POLL):
                    continue
                with self._lock:
                    jobs = self._queue.take(self.batch_size, 0)
                    generation = self._generation
                if jobs:
                    self._process(jobs, generation)
        finally:
            if self._owns_project and self._project is not None:
                self._project.close()
                self._project = None
            self._proposer = None
            app = QCoreApplication.instance()
            if app is not None:  # hand the object back so the GUI thread may delete it
                self.moveToThread(app.thread())

    def _current(self, generation: int) -> bool:
        return generation == self._generation and not self._stop.is_set()

    def _report_cancel(self) -> None:
        with self._lock:
            pending, total = self._cancel_pending, self._cancelled_total
            self._cancel_pending, self._cancelled_total = False, 0
        if pending:
            self.progress.emit(LABEL, total, total)
            self.cancelled.emit()

    def _advance(self, generation: int, count: int) -> None:
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
            self._project = Project.open(self._db_path)
        if self._proposer is None:
            from core.backbones import load_backbone
            from core.device import pick_device
            from core.proposals import make_proposer

            backbone = load_backbone(
                self.backbone_name, self.weights_path, pick_device(self.device)
            )
            self._proposer = make_proposer(backbone, self.method)
        return self._project

    def _drop_all(self, generation: int, reason: str) -> None:
        """The model or project failed to load: report once, drop the queue."""
        self.failed.emit(NO_IMAGE, reason)
        with self._lock:
            if generation != self._generation:
                return
            self._queue.clear()
            total = self._total
            self._done = self._total = 0
        self.progress.emit(LABEL, total, total)

    def _process(self, jobs: list[ProposeJob], generation: int) -> None:
        if self._project is None or self._proposer is None:
            with self._lock:
                done, total = self._done, self._total
            self.progress.emit(LABEL, done, total)
        try:
            project = self._ensure_ready()
        except Exception as exc:  # any failure to load must leave the loop running
            what = "project" if self._project is None else f"{self.backbone_name} model"
            self._drop_all(generation, f"could not load the {what}: {reason_of(exc)}")
            return

        todo: list[tuple[ProposeJob, np.ndarray]] = []
        sizes: list[tuple[int, int]] = []
        finished = 0
        for job in jobs:
            if not self._current(generation):
                return
            try:
                wanted = self._wanted(project, job)
                if wanted:
                    path = job.path if Path(job.path).is_absolute() else project.root / job.path
                    todo.append((job, load_rgb(path).rgb))
                    # Keep only the network-size copy and the original size in the batch.
                    rgb = todo[-1][1]
                    sizes.append((rgb.shape[1], rgb.shape[0]))
                    todo[-1] = (job, self._shrink(rgb))
                    continue
            except ImageLoadError as exc:
                self.failed.emit(job.image_id, str(exc))
            except Exception as exc:  # the store: locked, closed, full disk ...
                self.failed.emit(job.image_id, f"could not read its record: {reason_of(exc)}")
            finished += 1
        if finished:
            self._advance(generation, finished)
        if not todo or not self._current(generation):
            return

        try:
            assert self._proposer is not None
            results = self._proposer.propose([rgb for _, rgb in todo], sizes)
        except Exception as exc:  # e.g. out of memory on the device
            for job, _ in todo:
                self.failed.emit(job.image_id, f"proposing failed: {reason_of(exc)}")
            self._advance(generation, len(todo))
            return

        for (job, _), result in zip(todo, results, strict=True):
            if not self._current(generation):
                return
            try:
                self._store(project, job, result)
            except Exception as exc:
                reason = f"could not store its proposals: {reason_of(exc)}"
                self.failed.emit(job.image_id, reason)
            else:
                try:
                    self._save_map(job.image_id, result.saliency)
                except OSError as exc:  # the map stays in memory for this session
                    self.failed.emit(job.image_id, f"could not save its map: {exc}")
                self.proposals_ready.emit(job.image_id)
            self._advance(generation, 1)

    def _shrink(self, rgb: np.ndarray) -> np.ndarray:
        """The network-size copy of an image (a batch of 24 MP photos would take GBs)."""
        from core.proposals import resize_for_network

        assert self._proposer is not None
        return resize_for_network(rgb, self._proposer.recipe.input_size)

    @staticmethod
    def _wanted(project: Project, job: ProposeJob) -> bool:
        """Whether to propose for the job's image: forced, or still ``new`` without boxes."""
        if job.force:
            return True
        try:
            row = project.image(job.image_id)
        except KeyError:  # removed from the project since it was queued
            return False
        return row.status == "new" and not project.boxes(job.image_id)

    def _store(self, project: Project, job: ProposeJob, result: ImageProposals) -> None:
        """Replace the image's still-proposed proposals, update its status, keep its map."""
        image_id = job.image_id
        specs: list[dict[str, Any]] = [
            {
                "class_name": p.class_name,
                "box": p.box,
                "origin": "proposal",
                "state": "proposed",
                "confidence": p.confidence,
                "method": p.method,
            }
            for p in result.proposals
        ]
        project.replace_proposals(image_id, specs)
        row = project.image(image_id)
        if row.width is None or row.height is None:
            project.set_image_size(image_id, *result.size)
        if row.status == "new":
            project.set_status(image_id, "proposed")
        self._remember(image_id, result.saliency, replace=True)

    def _save_map(self, image_id: int, saliency: np.ndarray) -> None:
        """Write ``maps/<id>.npy`` as float16 through a temporary file and a rename."""
        self.maps_dir.mkdir(parents=True, exist_ok=True)
        final = self.maps_dir / f"{image_id}.npy"
        temporary = final.with_name(f".{image_id}.npy.{os.getpid()}.tmp")
        try:
            with open(temporary, "wb") as f:
                np.save(f, np.asarray(saliency, dtype=np.float16), allow_pickle=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, final)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def start_worker(
    project: Project | str | Path,
    backbone_name: str = "efficientnet_lite0",
    method: str = "default",
    device: str = "auto",
    batch_size: int = 8,
    *,
    weights_path: str | Path | None = None,
    cache_size: int = CACHE_SIZE,
) -> tuple[QThread, ProposalWorker]:
    """Start a :class:`ProposalWorker` in a new thread (nothing is loaded until its first
    job). Keep both objects; end with :func:`stop_worker` (or ``worker.stop()``,
    ``thread.quit()``, ``thread.wait()``)."""
    worker = ProposalWorker(
        project,
        backbone_name,
        method,
        device,
        batch_size,
        weights_path=weights_path,
        cache_size=cache_size,
    )
    thread = QThread()
    thread.setObjectName("SaliBox proposals")
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    thread.start(QThread.Priority.LowPriority)
    return thread, worker


def stop_worker(thread: QThread, worker: ProposalWorker, timeout_ms: int = 60_000) -> bool:
    """Stop the worker and wait for its thread to end; True when it has."""
    worker.stop()
    thread.quit()
    return bool(thread.wait(timeout_ms))
