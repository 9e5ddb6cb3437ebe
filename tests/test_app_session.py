"""Opening a folder in the app: import, proposals from the worker, proposal settings."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QSettings

from desktop_app.app import Session
from ui.canvas import Canvas
from ui.main_window import MainWindow
from ui.settings_dialog import ProposalSettings, SettingsDialog

LONG = 120_000  # ms: the first job also loads the network


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path):
    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))


@pytest.fixture
def session(qtbot, tmp_path):
    window = MainWindow()
    canvas = Canvas()
    window.set_canvas(canvas)
    qtbot.addWidget(window)
    opened = Session(window, canvas)
    yield opened
    opened.close()


def methods_in_store(session) -> set[str | None]:
    project = session.project
    return {b.method for r in project.images() for b in project.boxes(r.id)}


def all_proposed(session) -> bool:
    project = session.project
    return all(project.boxes(r.id) for r in project.images())


def test_open_folder_proposes_and_settings_restart_the_worker(qtbot, tmp_path, session):
    folder = tmp_path / "new photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        pixels = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img {i}.png")
    assert session.open(str(folder))
    assert (folder / ".salibox" / "project.db").is_file()
    assert [r.path for r in session.controller.rows] == ["img 0.png", "img 1.png", "img 2.png"]
    qtbot.waitUntil(lambda: all_proposed(session), timeout=LONG)
    assert methods_in_store(session) == {"default"}

    session.apply_settings(ProposalSettings(method="cam", batch_size=2))
    assert session.settings() == ProposalSettings(method="cam", batch_size=2)
    assert session.project.setting("proposals.method") == "cam"
    qtbot.waitUntil(lambda: methods_in_store(session) == {"cam"}, timeout=LONG)
    assert all_proposed(session)


def test_opening_something_that_is_not_a_project_shows_an_error(tmp_path, session):
    bogus = tmp_path / "notes.db"
    bogus.write_text("not a database")
    assert not session.open(str(bogus))
    assert session.project is None
    assert "notes.db" in session.window.statusBar().currentMessage()


def test_settings_dialog_returns_what_was_chosen(qtbot):
    dialog = SettingsDialog(["a", "b"], ["default", "cam"], ProposalSettings(backbone="b"))
    qtbot.addWidget(dialog)
    assert dialog.values().backbone == "b"
    dialog.method.setCurrentText("cam")
    dialog.batch_size.setValue(4)
    assert dialog.values() == ProposalSettings("b", "auto", "cam", 4)
