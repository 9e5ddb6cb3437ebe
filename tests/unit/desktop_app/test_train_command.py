"""``python main.py train``: a model version trained headless on a project's accepted
boxes, made active; Ctrl+C stops it and leaves the active version as it was."""

from __future__ import annotations

import os
import signal
import threading
import time

from core.store import Project
from desktop_app.cli.main import main
from tests.helpers.training import CLASS, labelled_blobs


def test_train_makes_an_active_version_of_the_users_classes(folder, project, capsys):
    labelled_blobs(project, folder, 6)
    assert main(["train", "--project", str(folder)]) == 0
    out = capsys.readouterr().out
    version = project.learning_records.active_model_version()
    assert version is not None and version.classes == (CLASS,)
    assert f"model version {version.id} trained on 6 images and made active" in out
    assert version.file.is_file()
    assert [r.status for r in project.learning_records.training_runs()] == ["done"]


def test_train_without_accepted_boxes_says_so(folder, project, capsys):
    project.register_images(["a.png"])
    assert main(["train", "--project", str(folder)]) == 2
    assert "no accepted boxes to learn from" in capsys.readouterr().err


def test_ctrl_c_stops_training_and_keeps_the_active_version(folder, project, capsys):
    labelled_blobs(project, folder, 12)
    db = project.db_path

    def interrupt_once_running() -> None:  # Ctrl+C as soon as the run has started
        with Project.open(db) as watcher:
            deadline = time.monotonic() + 120
            while not watcher.learning_records.training_runs() and time.monotonic() < deadline:
                time.sleep(0.005)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt_once_running, daemon=True).start()
    assert main(["train", "--project", str(folder)]) == 130
    assert "the active model version is unchanged" in capsys.readouterr().err
    assert project.learning_records.active_model_version() is None
    assert [r.status for r in project.learning_records.training_runs()] == ["cancelled"]
    assert not list((db.parent / "models").glob("*.pt"))


def test_train_on_a_shared_database_writes_the_model_under_the_folder(
    folder, postgres_server, capsys
):
    url = postgres_server.clean_database()
    with Project.open(url, folder) as shared:
        labelled_blobs(shared, folder, 6)
    assert main(["train", "--project", str(folder), "--db", url]) == 0
    assert "trained on 6 images and made active" in capsys.readouterr().out
    with Project.open(url, folder) as shared:
        version = shared.learning_records.active_model_version()
        assert version is not None and version.file.is_file()
        assert version.file.parent == folder.resolve() / ".salibox" / "models"
    assert not (folder / ".salibox" / "project.db").exists()
    logged = "".join(p.read_text() for p in (folder / ".salibox").glob("salibox-*.log"))
    assert "train --project" in logged  # this annotator's log in the shared folder
    assert main(["train", "--project", str(folder / "blob0.png"), "--db", url]) == 2
