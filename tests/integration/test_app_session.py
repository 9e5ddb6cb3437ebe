"""Opening a folder in the app: import, proposals from the worker, proposal settings, and
the worker jobs the window starts (maps of a chosen type, ranking by image score)."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from desktop_app.background.jobs import ScoreJob
from desktop_app.map_selector import MAP_TYPES
from desktop_app.project_settings import DEFAULTS, load_settings
from tests.helpers.worker import write_image
from ui.canvas import graphics
from ui.canvas.view import Canvas
from ui.dialogs.settings import SettingsDialog

LONG = 120_000  # ms: the first job also loads the network


pytestmark = pytest.mark.usefixtures("isolated_settings")


def methods_in_store(session) -> set[str | None]:
    project = session.project
    return {b.method for r in project.images() for b in project.box_records.boxes(r.id)}


def all_proposed(session) -> bool:
    project = session.project
    return all(project.box_records.boxes(r.id) for r in project.images())


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

    session.apply_settings(replace(DEFAULTS, method="cam", batch_size=2))
    assert session.settings() == replace(DEFAULTS, method="cam", batch_size=2)
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
    dialog = SettingsDialog(["a", "b"], ["default", "cam"], replace(DEFAULTS, backbone="b"))
    qtbot.addWidget(dialog)
    assert dialog.values().backbone == "b"
    dialog.method.setCurrentText("cam")
    dialog.batch_size.setValue(4)
    assert dialog.values() == replace(DEFAULTS, backbone="b", method="cam", batch_size=4)
    dialog.align_saliency.setChecked(True)
    dialog.pseudo_labels.setChecked(True)
    assert dialog.values().align_saliency and dialog.values().pseudo_labels


# --- worker jobs from the window: the map selector and ranking by image score ---------------


@pytest.fixture
def opened(qtbot, tmp_path, session):
    """The session on a folder of four generated photos, every image proposed."""
    folder = tmp_path / "shots"
    folder.mkdir()
    for i, size in enumerate([(160, 120), (200, 150), (120, 90), (240, 180)]):
        write_image(folder / f"shot {i}.png", size, seed=i)
    assert session.open(str(folder))
    qtbot.waitUntil(lambda: all_proposed(session), timeout=LONG)
    return session


def heatmap_shown(canvas: Canvas) -> QImage:
    return canvas.heatmap_item.pixmap().toImage()


def test_map_selector_shows_a_map_of_the_chosen_type(qtbot, opened):
    window, canvas, controller = opened.window, opened.canvas, opened.controller
    window.heatmap_box.setChecked(True)
    assert [window.method_combo.itemText(i) for i in range(window.method_combo.count())] == list(
        MAP_TYPES
    )
    image_id = controller.current_id()
    proposals_map = opened.worker.saliency(image_id)
    assert heatmap_shown(canvas) == graphics.to_pixmap(graphics.colorize(proposals_map)).toImage()

    window.method_combo.setCurrentText("Grad-CAM")
    assert canvas.heatmap_item.pixmap().isNull()  # nothing stale while the worker computes
    qtbot.waitUntil(lambda: not canvas.heatmap_item.pixmap().isNull(), timeout=LONG)
    gradcam = controller.typed_map(image_id, "gradcam")
    assert gradcam is not None and gradcam.shape == (224, 224)
    assert not np.allclose(gradcam, proposals_map, atol=0.05)
    assert heatmap_shown(canvas) == graphics.to_pixmap(graphics.colorize(gradcam)).toImage()
    assert canvas.heatmap_item.isVisible()

    # Another image, then back: the first image's map comes from the cache at once.
    window.navigate_requested.emit(1)
    qtbot.waitUntil(lambda: controller.typed_map(controller.current_id(), "gradcam") is not None)
    window.navigate_requested.emit(-1)
    assert heatmap_shown(canvas) == graphics.to_pixmap(graphics.colorize(gradcam)).toImage()

    window.method_combo.setCurrentText("Proposals' map")
    assert heatmap_shown(canvas) == graphics.to_pixmap(graphics.colorize(proposals_map)).toImage()


def test_rank_by_score_stores_scores_and_sorts_the_list(qtbot, opened):
    window, controller, project = opened.window, opened.controller, opened.project
    with qtbot.waitSignal(opened.worker.task_finished, timeout=LONG) as finished:
        window.rank_action.trigger()
    assert finished.args[0].result == 4
    scores = [project.image(r.id).image_score for r in controller.rows]
    assert None not in scores
    assert scores == sorted(scores, reverse=True)  # best first
    assert controller.order == ("image_score", True)
    assert window.image_list.sort_order() == ("image_score", True)
    model = window.image_model
    shown = [model.data(model.index(i, 3)) for i in range(model.rowCount())]
    assert shown == [f"{s:.2f}" for s in scores]


def test_cancel_button_cancels_the_score_job_it_shows(qtbot, opened):
    window, controller, worker, project = (
        opened.window,
        opened.controller,
        opened.worker,
        opened.project,
    )
    entered, release = threading.Event(), threading.Event()

    def hold(label: str, done: int, total: int) -> None:  # in the worker thread
        if label == ScoreJob.label and done > 0 and not entered.is_set():
            entered.set()
            release.wait(60)

    worker.progress.connect(hold, Qt.ConnectionType.DirectConnection)
    try:
        window.rank_action.trigger()
        qtbot.waitUntil(entered.is_set, timeout=LONG)
        qtbot.waitUntil(lambda: controller.shown_job() == ScoreJob.label, timeout=LONG)
        assert window.job_label.text().startswith(ScoreJob.label)
        with qtbot.waitSignal(worker.task_finished, timeout=LONG) as finished:
            window.cancel_button.click()
            release.set()
    finally:
        release.set()
    assert finished.args[0].was_cancelled
    assert all(project.image(r.id).image_score is None for r in controller.rows)
    qtbot.waitUntil(lambda: controller.shown_job() is None, timeout=LONG)
    assert not window.job_label.isVisibleTo(window)


def test_settings_stored_in_a_form_that_does_not_parse_take_their_defaults(project):
    """A hand-edited database: each field that does not parse falls back on its own."""
    project.set_setting("proposals.batch_size", "many")
    project.set_setting("proposals.align_saliency", "yes")
    project.set_setting("proposals.retrain_after", "-4")
    project.set_setting("proposals.method", "cam")
    assert load_settings(project) == replace(DEFAULTS, method="cam", retrain_after=0)
