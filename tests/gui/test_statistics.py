"""The statistics dock on a real window and controller: built on first use, refreshed
after a review made with the real keys, at most once a second, and only while shown."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from core.store import Project
from desktop_app.controller import Controller
from desktop_app.statistics import REFRESH_MS, StatisticsView, watch_statistics
from tests.helpers.gui import main_window


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = ["a.png", "b.png", "c.png"]
    for name in names:
        Image.fromarray(rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)).save(folder / name)
    with Project.open(Project.default_db_path(folder), folder) as opened:
        opened.register_images(names)
        for name in names:
            image_id = opened.image_by_path(name).id
            for x in (10, 100):  # two zero-shot proposals per image
                opened.box_records.add_box(
                    image_id, None, (x, 20, x + 60, 70), origin="proposal", state="proposed"
                )
        opened.class_records.ensure_class("raccoon")
        yield opened


@pytest.fixture
def app(qtbot, project):
    window, canvas = main_window(qtbot, (1200, 800), active=True)
    controller = Controller(project, window, canvas)
    watch_statistics(window, project, controller)
    view = window.findChild(StatisticsView, "statistics")
    assert isinstance(view, StatisticsView)
    return window, controller, view


def fates_bars(view: StatisticsView) -> list[float]:
    """Heights of the accepted / edited / rejected bars of the drawn figure."""
    assert view.panel is not None
    return [p.get_height() for p in view.panel.figure.axes[2].patches]


def test_the_dock_is_built_on_first_use_and_shows_the_project(qtbot, app):
    window, _controller, view = app
    assert view.dock is None  # matplotlib is not imported until the view is opened
    qtbot.keyClick(window, Qt.Key_G, Qt.ControlModifier)
    assert view.visible() and view.panel is not None
    assert view.panel.images_label.text() == "3 images: 3 new"
    assert view.panel.review_label.text().startswith("0 proposals reviewed")
    assert len(view.panel.figure.axes) == 5
    qtbot.keyClick(window, Qt.Key_G, Qt.ControlModifier)
    assert not view.visible()


def test_an_accept_and_a_reject_update_the_view_once_within_a_second(qtbot, app, project):
    window, controller, view = app
    qtbot.keyClick(window, Qt.Key_G, Qt.ControlModifier)
    before = view.refreshes
    qtbot.keyClick(window, Qt.Key_Space)  # accept the selected proposal as "raccoon"
    qtbot.keyClick(window, Qt.Key_X)  # reject the other one
    assert view.refreshes == before  # debounced: not yet
    qtbot.waitUntil(lambda: view.refreshes > before, timeout=REFRESH_MS + 2000)
    assert view.refreshes == before + 1  # one refresh for both changes
    assert view.panel is not None
    assert view.panel.review_label.text().startswith(
        "2 proposals reviewed: 50% accepted as is, 0% edited, 50% rejected"
    )
    assert view.panel.boxes_label.text() == "1 accepted box: raccoon 1"
    assert fates_bars(view) == pytest.approx([0.5, 0.0, 0.5])
    first = project.image_by_path("a.png").id
    assert [b.state for b in project.box_records.boxes(first)] == ["accepted", "rejected"]

    controller.undo_stack.undo()  # the reject is taken back
    qtbot.waitUntil(lambda: view.refreshes == before + 2, timeout=REFRESH_MS + 2000)
    assert fates_bars(view) == pytest.approx([1.0, 0.0, 0.0])


def test_a_hidden_view_does_not_refresh_until_shown_again(qtbot, app):
    window, _controller, view = app
    qtbot.keyClick(window, Qt.Key_G, Qt.ControlModifier)
    qtbot.keyClick(window, Qt.Key_G, Qt.ControlModifier)  # hidden
    before = view.refreshes
    qtbot.keyClick(window, Qt.Key_Space)
    qtbot.wait(REFRESH_MS + 300)
    assert view.refreshes == before
    qtbot.keyClick(window, Qt.Key_G, Qt.ControlModifier)
    qtbot.waitUntil(lambda: view.refreshes > before, timeout=REFRESH_MS + 2000)
    assert view.panel is not None
    assert view.panel.review_label.text().startswith("1 proposal reviewed: 100% accepted")


def test_opening_another_project_reuses_the_one_view(qtbot, app, project):
    window, controller, view = app
    watch_statistics(window, project, controller)
    assert window.findChildren(StatisticsView) == [view]


def test_a_new_model_version_is_drawn_without_any_edit(qtbot, app, project, tmp_path):
    window, controller, view = app
    qtbot.keyClick(window, Qt.Key_G, Qt.ControlModifier)
    before = view.refreshes
    metrics = {"images": 9, "classes": {"raccoon": {"choice": "cam", "cv_corloc": {"cam": 0.8}}}}
    project.learning_records.add_model_version(tmp_path / "m.pt", "b", ["raccoon"], metrics)
    controller.model_changed.emit()  # what a finished training does
    qtbot.waitUntil(lambda: view.refreshes > before, timeout=REFRESH_MS + 2000)
    assert view.panel is not None
    corloc = view.panel.figure.axes[3]
    assert [list(line.get_ydata()) for line in corloc.get_lines()] == [[0.8]]
