"""The desktop application: a window, one open project, its controller and its worker.

Startup is ordered so the window shows first: this module imports Qt and the window
only; the store (SQLAlchemy), the controller and torch load after the window's first
paint, while the status bar says what is being opened, and the worker starts loading the
network (in its thread) before the controller is built. With ``SALIBOX_TIMINGS=FILE`` the
app appends ``EVENT SECONDS`` lines (seconds since the process started) to ``FILE``:
``window_shown`` (first paint), ``project_open``, ``first_proposals`` (the image on screen
shows its proposals), ``close_requested`` and ``worker_stopped``; ``bench/startup.py``
reads them.

Closing the window cancels every job and stops the worker; only while a training is past
half its work does it ask first.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QMetaObject, QObject, QThread, QTimer
from PySide6.QtWidgets import QMessageBox

from desktop_app.background.jobs import NO_IMAGE, ProposeJob, Task
from desktop_app.logs import log, log_to_file, log_to_project, shared_log_file, stop_project_log
from desktop_app.model_versions import ModelVersionsWindow
from desktop_app.timings import TIMINGS, mark
from ui.canvas.view import Canvas
from ui.dialogs.settings import ProposalSettings, SettingsDialog
from ui.main_window import MainWindow

if TYPE_CHECKING:  # the store, the controller and torch load after the first paint
    from core.store import Project
    from desktop_app.background.worker import ProposalWorker
    from desktop_app.controller import Controller
    from desktop_app.export_runner import ExportRunner

#: How long closing the window waits for the worker to stop (ms); the window is gone
#: meanwhile, and a worker still busy after it is waited for before the process ends.
CLOSE_WAIT_MS = 1000
#: Share of a training's work after which closing the window asks first.
ASK_AFTER = 0.5


#: Image statuses whose proposals are made again when the model changes.
UNREVIEWED = ("new", "proposed")
#: Settings that do not need a new worker when they change.
NO_RESTART = ("retrain_after", "align_saliency", "pseudo_labels")


class Session:
    """What is open: a project with its controller and proposal worker (at most one)."""

    def __init__(self, window: MainWindow, canvas: Canvas) -> None:
        self.window = window
        self.canvas = canvas
        self.project: Project | None = None
        self.controller: Controller | None = None
        self.thread: QThread | None = None
        self.worker: ProposalWorker | None = None
        self._cancel: QMetaObject.Connection | None = None
        self.versions = ModelVersionsWindow(window, lambda: self.project, self.repropose_unreviewed)
        window.open_folder_requested.connect(self.open)
        window.open_project_requested.connect(self.open)
        window.settings_requested.connect(self.edit_settings)
        window.model_versions_requested.connect(self.versions.show)
        window.export_requested.connect(self.export)
        window.user_name_requested.connect(self.edit_user_name)
        self.export_runner: ExportRunner | None = None
        self._held: int | None = None  # the image on screen, proposed again once left
        self._busy: list[tuple[QThread, ProposalWorker]] = []  # workers still stopping
        self._close_guard = _CloseGuard(self)

    def closing(self) -> bool:
        """The window is asked to close: False to keep it open (a training past half its
        work that the annotator keeps); else every job is cancelled and the worker told to
        stop, without waiting (the window goes at once; :meth:`close` waits)."""
        if not self.may_close():
            return False
        mark("close_requested")
        self.stop_jobs()
        return True

    def may_close(self) -> bool:
        """True unless a training is past half its work and the annotator keeps it."""
        share = None if self.controller is None else self.controller.jobs.training_share()
        if share is None or share <= ASK_AFTER:
            return True
        answer = QMessageBox.question(
            self.window,
            "Close SaliBox",
            f"A training is {share:.0%} done. Closing cancels it (the active model version "
            "stays as it is). Close anyway?",
        )
        return answer == QMessageBox.StandardButton.Yes

    def stop_jobs(self) -> None:
        """Cancel every job and ask the worker to stop; :meth:`close` waits for it."""
        if self.worker is not None:
            self.worker.cancel()
            self.worker.stop()

    def open(self, target: str | None, db: str | None = None) -> bool:
        """Open a folder of images (creating its project and importing VOC files beside
        the images), a project database file or a database URL (the recent list's
        entry); with ``db`` (a database URL or file), that database with ``target`` as
        this annotator's image folder. Errors are shown, never raised."""
        from core.store import StoreError
        from desktop_app.opening import open_target

        self._say(f"Opening {target if db is None else db}…")
        try:
            project = open_target(target, db, self.window.show_error)
        except (StoreError, ValueError, OSError) as exc:
            self.window.statusBar().clearMessage()
            self.window.show_error(str(exc))
            return False
        self.close()
        self.project = project
        mark("project_open")
        if project.is_server:
            log_file = log_to_file(shared_log_file(project.data_folder))
        else:
            log_file = log_to_project(project.db_path)
        self.window.set_log_file(None if log_file is None else str(log_file))
        log.info("opened %s (images in %s) as %s", project.where.name, project.root, project.user)
        self._launch_worker()  # the network loads in its thread meanwhile
        self._say("Loading the network…")
        # A busy bar until the worker's first report replaces it: the first proposals can
        # take seconds, and a silent window looks broken.
        self.window.set_job("Loading the network…")
        from desktop_app.controller import Controller  # torch

        self.controller = Controller(
            project, self.window, self.canvas, self._saliency, self._prioritize, self._submit
        )
        self.controller.model_changed.connect(self.repropose_unreviewed)
        self.controller.image_mended.connect(self.propose_image)
        self.controller.image_left.connect(self._propose_held)
        from desktop_app.statistics import watch_statistics  # Tools > Statistics (Ctrl+G)

        watch_statistics(self.window, project, self.controller)
        self._feed_worker()
        from desktop_app.shared_project import public_location, remember_mount

        remember_mount(project)
        self.window.add_recent(public_location(project))
        self._show_title()
        self.window.statusBar().clearMessage()
        if os.environ.get(TIMINGS):
            self._mark_first_proposals()
        return True

    def _show_title(self) -> None:
        from desktop_app.opening import window_title

        assert self.project is not None
        self.window.setWindowTitle(window_title(self.project))

    def edit_user_name(self) -> None:
        """File > User name…: ask for this app's user name and use it from now on."""
        from PySide6.QtWidgets import QInputDialog, QLineEdit

        from desktop_app.shared_project import user_name

        name, accepted = QInputDialog.getText(
            self.window,
            "User name",
            "The name written on every box change and event of this app:",
            QLineEdit.EchoMode.Normal,
            user_name(),
        )
        if accepted:
            self.set_user_name(name)

    def set_user_name(self, name: str) -> bool:
        """Remember ``name`` as this app's user name and write it from now on (the open
        project and its worker); False (the error shown) when it is not a valid name."""
        from desktop_app.shared_project import save_user_name

        try:
            name = save_user_name(name)
        except ValueError as exc:
            self.window.show_error(str(exc))
            return False
        if self.controller is not None:
            self.controller.team.rename(name)  # its claims move to the new name
        if self.project is not None:
            self.project.set_user(name)
            self._show_title()
        if self.worker is not None:
            self.worker.set_user(name)
        return True

    def _say(self, message: str) -> None:
        """A status message painted at once (the GUI thread is busy until the next)."""
        self.window.statusBar().showMessage(message)
        self.window.statusBar().repaint()

    def _mark_first_proposals(self) -> None:
        """Mark ``first_proposals`` once the image on screen shows proposals."""
        controller, worker = self.controller, self.worker
        assert controller is not None and worker is not None
        shown = controller.current_id()
        if shown is None:
            return
        if self.project is not None and self.project.box_records.boxes(shown):
            QTimer.singleShot(0, lambda: mark("first_proposals"))
            return

        def ready(image_id: int) -> None:
            if image_id == controller.current_id():
                worker.proposals_ready.disconnect(ready)
                QTimer.singleShot(0, lambda: mark("first_proposals"))

        worker.proposals_ready.connect(ready)

    def _saliency(self, image_id: int):
        return self.worker.saliency(image_id) if self.worker is not None else None

    def _prioritize(self, image_ids: list[int]) -> None:
        """The controller shows ``image_ids[0]`` and will show the next ones soon."""
        if self.worker is not None:
            self.worker.hold(image_ids[0] if image_ids else None)
            self.worker.prioritize(image_ids)

    def _submit(self, task: Task) -> None:
        if self.worker is not None:
            self.worker.submit_task(task)

    def _cancel_shown_job(self) -> None:
        """Cancel the job the status bar shows (every job when it shows none)."""
        if self.worker is not None and self.controller is not None:
            self.worker.cancel(self.controller.shown_job())

    def _show_failure(self, image_id: int, reason: str) -> None:
        message = reason if image_id == NO_IMAGE else f"image {image_id}: {reason}"
        log.warning("%s", message)
        self.window.show_error(message)

    def _open(self) -> tuple[Project, Controller]:
        """The open project and its controller (only called while one is open)."""
        assert self.project is not None and self.controller is not None
        return self.project, self.controller

    def settings(self) -> ProposalSettings:
        """The open project's proposal settings (defaults where none are stored)."""
        from desktop_app.project_settings import DEFAULTS, load_settings

        return DEFAULTS if self.project is None else load_settings(self.project)

    def _start_worker(self, force: bool = False) -> None:
        """Start a worker with the project's settings and give it every listed image."""
        self._launch_worker()
        self._feed_worker(force)

    def _launch_worker(self) -> None:
        """Start a worker with the project's settings; it loads the network at once."""
        from desktop_app.background.worker_thread import start_worker

        chosen = self.settings()
        project = self.project
        assert project is not None
        self.thread, worker = start_worker(
            project.location,  # the worker opens the project again in its thread
            chosen.backbone,
            chosen.method,
            chosen.device,
            chosen.batch_size,
            preload=True,
            root=project.root if project.is_server else None,
            user=project.user,
        )
        self.worker = worker
        worker.failed.connect(self._show_failure)

    def _feed_worker(self, force: bool = False) -> None:
        """Connect the worker to the controller and give it every listed image."""
        project, controller = self._open()
        worker = self.worker
        assert worker is not None
        worker.proposals_ready.connect(controller.proposals_ready)
        worker.progress.connect(controller.job_progress)
        worker.step.connect(controller.jobs.step)
        worker.task_finished.connect(controller.task_finished)
        self._cancel = self.window.cancel_requested.connect(self._cancel_shown_job)
        rows = controller.rows
        worker.submit([ProposeJob(r.id, project.root / r.path) for r in rows], force)

    def _stop_worker(self, timeout_ms: int = 60_000) -> None:
        """Cancel every job, stop the worker and wait up to ``timeout_ms`` for its thread;
        one still running then is kept (see :meth:`wait_for_workers`)."""
        from desktop_app.background.worker_thread import stop_worker

        if self.worker is not None and self.thread is not None:
            if self._cancel is not None:
                QObject.disconnect(self._cancel)
                self._cancel = None
            self.worker.cancel()  # a running task stops at its next check
            if not stop_worker(self.thread, self.worker, timeout_ms):
                self._busy.append((self.thread, self.worker))
            else:
                mark("worker_stopped")
        self.worker = self.thread = None

    def still_training(self) -> bool:
        """Whether a worker still stopping runs a training (which records its cancel)."""
        from desktop_app.background.training import TrainJob

        return any(isinstance(w.running_task(), TrainJob) for _t, w in self._busy)

    def wait_for_workers(self) -> None:
        """Wait for workers that were still finishing a step when their session closed
        (a forward pass in hand, a training recording its cancel)."""
        for thread, _worker in self._busy:
            thread.wait()
        if self._busy:
            mark("worker_stopped")
        self._busy.clear()

    def edit_settings(self) -> None:
        """Show the settings dialog; on OK apply what was chosen."""
        if self.project is None:
            return
        from core.engine.backbones import BACKBONES  # torch loads only when the dialog opens
        from core.engine.proposals import RECIPES

        dialog = SettingsDialog(list(BACKBONES), list(RECIPES), self.settings(), self.window)
        if dialog.exec():
            self.apply_settings(dialog.values())

    def apply_settings(self, chosen: ProposalSettings) -> None:
        """Store new proposal settings in the project and restart the worker with them;
        proposals not yet reviewed are made again with the new settings."""
        from desktop_app.project_settings import save_settings

        before = self.settings()
        if self.project is None or chosen == before:
            return
        save_settings(self.project, chosen)
        old, new = asdict(before), asdict(chosen)
        if all(old[k] == new[k] for k in old if k not in NO_RESTART):
            return  # only when to retrain changed: the worker goes on
        self._stop_worker()
        self._open()[1].forget_maps()  # maps of another network
        self._start_worker(force=True)

    def propose_image(self, image_id: int) -> None:
        """Propose again for one image (its file was mended on disk)."""
        if self.project is not None and self.worker is not None:
            row = self.project.image(image_id)
            self.worker.submit([ProposeJob(row.id, self.project.root / row.path, True)], False)

    def export(self) -> None:
        """File > Export…: the export dialog, then the export off the GUI thread."""
        if self.project is None:
            self.window.statusBar().showMessage("Open a folder or a project first", 4000)
            return
        from desktop_app.export_runner import start_export

        self.export_runner = start_export(self.window, self.project)

    def repropose_unreviewed(self) -> None:
        """Propose again, with the active model, for images nobody has reviewed yet; the
        image on screen keeps its boxes while it is shown (they must not change under the
        annotator's hand) and is proposed again once left."""
        if self.project is None or self.worker is None:
            return
        shown = None
        if self.controller is not None:
            shown = self.controller.current_id()
            self.controller.team.note_active()
        rows = [r for r in self.project.images() if r.status in UNREVIEWED and r.id != shown]
        self._held = shown
        self.worker.submit([ProposeJob(r.id, self.project.root / r.path) for r in rows], True)

    def _propose_held(self, image_id: int) -> None:
        """The annotator left an image held back from re-proposal (the one on screen when
        the model changed, or one the worker reached while it was shown): propose it now
        if still unreviewed."""
        if self.project is None or self.worker is None:
            return
        deferred = self.worker.take_deferred(image_id)
        if image_id == self._held:
            self._held, deferred = None, True
        if deferred and self.project.image(image_id).status in UNREVIEWED:
            self.propose_image(image_id)

    def close(self, timeout_ms: int = 60_000) -> None:
        """Cancel every job, stop the worker (waiting up to ``timeout_ms`` for it) and
        close the project (everything is already saved). A cancelled training leaves the
        active model version as it was."""
        self.versions.close()
        self._stop_worker(timeout_ms)
        if self.controller is not None:
            self.controller.disconnect_all()
            self.controller.deleteLater()
        if self.project is not None:
            self.project.close()
            stop_project_log()
            self.window.set_log_file(None)
        self.project = self.controller = self.worker = self.thread = None
        self._held = None


class _CloseGuard(QObject):
    """Hands the window's close event to :meth:`Session.closing` before the window's own
    handler (which saves the layout) runs."""

    def __init__(self, session: Session) -> None:
        super().__init__(session.window)
        self.session = session
        session.window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        closing = watched is self.session.window and event.type() == QEvent.Type.Close
        if closing and not self.session.closing():
            event.ignore()
            return True
        return False
