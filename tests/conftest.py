"""Fixtures shared by the test modules: an image folder, a project store opened on it, a
PostgreSQL server, and for the worker tests six registered images and a worker starter."""

from __future__ import annotations

import pytest

from core.store import Project


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "my images"
    path.mkdir()
    return path


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the session (:mod:`tests.helpers.postgres`; skips, naming
    what to install, when none can be started here)."""
    from tests.helpers import postgres

    reason = postgres.missing()
    if reason:
        pytest.skip(reason)
    server = postgres.start_server()
    yield server
    server.stop()


@pytest.fixture
def project(folder):
    with Project.open(Project.default_db_path(folder), folder) as opened:
        yield opened


@pytest.fixture
def image_ids(folder, project) -> list[int]:
    """Six registered images of 64×48 to 300×200 pixels, ids in path order."""
    from tests.helpers.worker import SIZES, write_image

    names = []
    for i, size in enumerate(SIZES):
        write_image(folder / f"img{i}.png", size, seed=i)
        names.append(f"img{i}.png")
    project.register_images(names)
    return [project.image_by_path(n).id for n in names]


@pytest.fixture
def start(qtbot, project):
    """Starts workers (``start_worker`` arguments) and stops every one after the test."""
    from desktop_app.background.worker_thread import start_worker, stop_worker

    started: list[tuple] = []

    def _start(target=None, **kwargs):
        thread, worker = start_worker(project.db_path if target is None else target, **kwargs)
        started.append((thread, worker))
        return thread, worker

    yield _start
    for thread, worker in started:
        assert stop_worker(thread, worker)


@pytest.fixture
def isolated_settings(tmp_path):
    """QSettings (recent projects, window layout) in a folder of the test's own."""
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))


@pytest.fixture
def session(qtbot, isolated_settings):
    """The app's Session on a real main window and canvas, closed after the test."""
    from desktop_app.app import Session
    from ui.canvas.view import Canvas
    from ui.main_window import MainWindow

    window = MainWindow()
    canvas = Canvas()
    window.set_canvas(canvas)
    qtbot.addWidget(window)
    opened = Session(window, canvas)
    yield opened
    opened.close()
