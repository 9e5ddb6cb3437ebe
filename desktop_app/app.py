"""The desktop application: a window, one open project, its controller and its worker."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from core.importer import import_folder
from core.store import Project, StoreError
from desktop_app.controller import Controller
from desktop_app.jobs import ProposeJob
from desktop_app.worker import start_worker
from ui.canvas import Canvas
from ui.main_window import MainWindow


class Session:
    """What is open: a project with its controller and proposal worker (at most one)."""

    def __init__(self, window: MainWindow, canvas: Canvas) -> None:
        self.window = window
        self.canvas = canvas
        self.project: Project | None = None
        self.controller: Controller | None = None
        self.thread = None
        self.worker = None
        window.open_folder_requested.connect(self.open)
        window.open_project_requested.connect(self.open)

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
        self.thread, self.worker = start_worker(project.db_path)
        self.controller = Controller(
            project, self.window, self.canvas, self.worker.saliency, self.worker.prioritize
        )
        self.worker.proposals_ready.connect(self.controller.proposals_ready)
        self.worker.progress.connect(self.controller.job_progress)
        self.worker.failed.connect(
            lambda image_id, reason: self.window.show_error(f"image {image_id}: {reason}")
        )
        self.window.cancel_requested.connect(self.worker.cancel)
        self.worker.submit([ProposeJob(r.id, project.root / r.path) for r in self.controller.rows])
        self.window.set_heatmap_methods([self.worker.method])
        self.window.add_recent(str(project.db_path))
        self.window.setWindowTitle(f"SaliBox — {project.root}")
        return True

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
        if self.worker is not None:
            self.worker.stop()
            self.thread.quit()
            self.thread.wait()
        if self.controller is not None:
            self.controller.disconnect_all()
            self.controller.deleteLater()
        if self.project is not None:
            self.project.close()
        self.project = self.controller = self.worker = self.thread = None


def run(target: str | None = None) -> int:
    """Start the app, opening ``target`` (a folder of images or a project file) if given."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("SaliBox")
    app.setApplicationName("SaliBox")
    window = MainWindow()
    canvas = Canvas()
    window.set_canvas(canvas)
    session = Session(window, canvas)
    app.aboutToQuit.connect(session.close)
    window.show()
    if target:
        session.open(target)
    return app.exec()
