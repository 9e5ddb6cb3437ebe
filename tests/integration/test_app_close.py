"""Train now and closing in the real app session: the status bar names the training's
step, and closing the window while a training runs cancels it (recorded as cancelled),
leaves the active model version as it was and stops the worker; real window, worker,
backbone and SQLite."""

from __future__ import annotations

import re
import threading

import pytest
from PySide6.QtCore import Qt

from core.store import Project
from desktop_app.background.training import TrainJob
from tests.helpers.training import labelled_blobs

LONG = 120_000  # ms: the first job also loads the network

pytestmark = pytest.mark.usefixtures("isolated_settings")


def test_closing_the_window_cancels_a_running_training(qtbot, tmp_path, session):
    folder = tmp_path / "blobs"
    folder.mkdir()
    with Project.open(Project.default_db_path(folder), folder) as project:
        labelled_blobs(project, folder, 8)
    assert session.open(str(folder))
    project, worker, window = session.project, session.worker, session.window
    shown: list[str] = []  # the status bar's job text after each report
    worker.progress.connect(lambda *_: shown.append(window.job_label.text()))

    def is_training(task) -> bool:
        return isinstance(task, TrainJob)

    with qtbot.waitSignal(worker.task_finished, timeout=LONG, check_params_cb=is_training):
        session.controller.train_now()
    first = project.learning_records.active_model_version()
    assert first is not None
    assert any(re.match(r"Training model v1: fold 2 of 5 \d+/14\b", t) for t in shown), shown

    # The second training waits inside its third image until the window has closed.
    with Project.open(project.db_path) as other:
        labelled_blobs(other, folder, 12, start=8)
    held, release = threading.Event(), threading.Event()

    def hold(label: str, text: str) -> None:  # in the worker thread
        if text.endswith("image 10 of 20"):
            held.set()
            release.wait(LONG / 1000)

    worker.step.connect(hold, Qt.ConnectionType.DirectConnection)
    session.controller.train_now()
    qtbot.waitUntil(held.is_set, timeout=LONG)
    qtbot.waitUntil(lambda: session.controller.jobs.training_share() is not None, timeout=LONG)
    assert session.controller.jobs.training_share() < 0.5  # so closing asks nothing

    window.close()
    assert not window.isVisible()
    release.set()
    db = project.db_path
    session.close()

    assert session.worker is None and session.project is None
    with Project.open(db) as reopened:
        assert reopened.learning_records.active_model_version().id == first.id
        assert [v.id for v in reopened.learning_records.model_versions()] == [first.id]
        runs = reopened.learning_records.training_runs()
        assert [r.status for r in runs] == ["cancelled", "done"]
