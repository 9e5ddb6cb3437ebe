"""The desktop application: a window, one open project, its controller and its worker."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from PySide6.QtCore import QMetaObject, QObject, QThread
from PySide6.QtWidgets import QApplication

from core.services.importer import import_folder
from core.store import ModelVersionRow, Project, StoreError
from desktop_app.background.jobs import NO_IMAGE, ProposeJob, Task
from desktop_app.background.worker import ProposalWorker, start_worker, stop_worker
from desktop_app.controller import Controller
from desktop_app.logs import log, log_to_project, stop_project_log, unexpected
from desktop_app.project_settings import DEFAULTS, load_settings, save_settings
from ui.canvas.view import Canvas
from ui.dialogs.settings import ProposalSettings, SettingsDialog
from ui.main_window import MainWindow
from ui.panels.model_versions import ModelVersionsDialog, VersionView

if TYPE_CHECKING:
    from desktop_app.export_runner import ExportRunner

#: Image statuses whose proposals are made again when the model changes.
UNREVIEWED = ("new", "proposed")
#: Settings that do not need a new worker when they change.
NO_RESTART = ("retrain_after", "align_saliency", "pseudo_labels")


def version_view(row: ModelVersionRow) -> VersionView:
    """What the model versions dialog lists of a version."""
    per_class = row.metrics.get("classes") or {}
    choices = {}
    for name, figures in per_class.items():
        chosen = figures.get("choice", "")
        choices[name] = (chosen, (figures.get("cv_corloc") or {}).get(chosen))
    return VersionView(row.id, row.created_at, row.classes, row.metrics.get("images"), choices)


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
        self.versions_dialog: ModelVersionsDialog | None = None
        window.open_folder_requested.connect(self.open)
        window.open_project_requested.connect(self.open)
        window.settings_requested.connect(self.edit_settings)
        window.model_versions_requested.connect(self.show_model_versions)
        window.export_requested.connect(self.export)
        self.export_runner: ExportRunner | None = None
        self._held: int | None = None  # the image on screen, proposed again once left

    def open(self, target: str) -> bool:
        """Open a folder of images (creating its project and importing VOC files beside
        the images) or a project database. Errors are shown, never raised."""
        path = Path(target)
        try:
            project = self._open_project(path)
        except (StoreError, ValueError, OSError) as exc:
            self.window.show_error(str(exc))
            return False
        self.close()
        self.project = project
        log_file = log_to_project(project.db_path)
        self.window.set_log_file(None if log_file is None else str(log_file))
        log.info("opened %s (images in %s)", project.db_path, project.root)
        self.controller = Controller(
            project, self.window, self.canvas, self._saliency, self._prioritize, self._submit
        )
        self.controller.model_changed.connect(self.repropose_unreviewed)
        self.controller.image_mended.connect(self.propose_image)
        self.controller.image_left.connect(self._propose_held)
        from desktop_app.statistics import watch_statistics  # Tools > Statistics (Ctrl+G)

        watch_statistics(self.window, project, self.controller)
        self._start_worker()
        self.window.add_recent(str(project.db_path))
        self.window.setWindowTitle(f"SaliBox — {project.root}")
        return True

    def _saliency(self, image_id: int):
        return self.worker.saliency(image_id) if self.worker is not None else None

    def _prioritize(self, image_ids: list[int]) -> None:
        if self.worker is not None:
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
        return DEFAULTS if self.project is None else load_settings(self.project)

    def _start_worker(self, force: bool = False) -> None:
        """Start a worker with the project's settings and give it every listed image."""
        chosen = self.settings()
        project, controller = self._open()
        self.thread, worker = start_worker(
            project.db_path, chosen.backbone, chosen.method, chosen.device, chosen.batch_size
        )
        self.worker = worker
        worker.proposals_ready.connect(controller.proposals_ready)
        worker.progress.connect(controller.job_progress)
        worker.failed.connect(self._show_failure)
        worker.task_finished.connect(controller.task_finished)
        self._cancel = self.window.cancel_requested.connect(self._cancel_shown_job)
        rows = controller.rows
        worker.submit([ProposeJob(r.id, project.root / r.path) for r in rows], force)

    def _stop_worker(self) -> None:
        if self.worker is not None and self.thread is not None:
            if self._cancel is not None:
                QObject.disconnect(self._cancel)
            stop_worker(self.thread, self.worker)
        self.worker = self.thread = None

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
        shown = self.controller.current_id() if self.controller is not None else None
        rows = [r for r in self.project.images() if r.status in UNREVIEWED and r.id != shown]
        self._held = shown
        self.worker.submit([ProposeJob(r.id, self.project.root / r.path) for r in rows], True)

    def _propose_held(self, image_id: int) -> None:
        """The annotator left the image held back from re-proposal: propose it now if
        still unreviewed."""
        if image_id != self._held or self.project is None:
            return
        self._held = None
        if self.project.image(image_id).status in UNREVIEWED:
            self.propose_image(image_id)

    def show_model_versions(self) -> None:
        """Show the model versions (non-modal); choosing one makes it active."""
        if self.project is None:
            return
        if self.versions_dialog is not None:
            self.versions_dialog.close()
            self.versions_dialog.deleteLater()
        active = self.project.learning_records.active_model_version()
        self.versions_dialog = ModelVersionsDialog(
            [version_view(v) for v in self.project.learning_records.model_versions()],
            None if active is None else active.id,
            self.window,
        )
        self.versions_dialog.version_chosen.connect(self.use_model_version)
        self.versions_dialog.show()

    def use_model_version(self, version_id: int | None) -> None:
        """Propose with this model version (None: zero-shot) from now on; unreviewed
        images are proposed again."""
        if self.project is None:
            return
        try:
            self.project.learning_records.set_active_model_version(version_id)
        except (KeyError, StoreError) as exc:
            self.window.show_error(str(exc))
            return
        what = "zero-shot" if version_id is None else f"model version {version_id}"
        self.window.statusBar().showMessage(f"Proposing with {what}", 4000)
        self.repropose_unreviewed()

    def _open_project(self, path: Path) -> Project:
        if path.is_dir():
            db = Project.default_db_path(path)
            fresh = not db.exists()
            project = Project.open(db, root=path.resolve() if fresh else None)
            if fresh:
                report = import_folder(project, path)
                for line in report.problems[:20]:
                    self.window.show_error(line)
            return project
        return Project.open(path)

    def close(self) -> None:
        """Stop the worker and close the project (everything is already saved)."""
        if self.versions_dialog is not None:
            self.versions_dialog.close()
            self.versions_dialog.deleteLater()
            self.versions_dialog = None
        self._stop_worker()
        if self.controller is not None:
            self.controller.disconnect_all()
            self.controller.deleteLater()
        if self.project is not None:
            self.project.close()
            stop_project_log()
            self.window.set_log_file(None)
        self.project = self.controller = self.worker = self.thread = None
        self._held = None


def run(target: str | None = None, classes_file: Path | None = None) -> int:
    """Start the app, opening ``target`` (a folder of images or a project file) if given
    and adding the classes of ``classes_file`` (one name a line) to it."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("SaliBox")
    app.setApplicationName("SaliBox")
    window = MainWindow()
    canvas = Canvas()
    window.set_canvas(canvas)
    session = Session(window, canvas)
    app.aboutToQuit.connect(session.close)

    def report(kind: type[BaseException], exc: BaseException, trace: TracebackType | None) -> None:
        """An exception no slot caught: one line in the window, the traceback in the log."""
        window.show_error(unexpected(exc.with_traceback(trace), "unexpected error"))

    sys.excepthook = report
    window.show()
    if target and session.open(target) and classes_file is not None:
        session._open()[1].class_edits.import_classes_file(str(classes_file))
    return app.exec()
