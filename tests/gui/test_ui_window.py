"""The main window, image list and help, driven with real key and mouse events on shown widgets.

Settings go to a temporary INI file, never to the user's real SaliBox settings.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget

from tests.gui.test_ui_image_list import rows
from ui.box_view import BoxView
from ui.dialogs.help import CANVAS_KEYS, KEYS, HelpDialog
from ui.main_window import MainWindow
from ui.panels.recent_projects import MAX_RECENT

SIGNALS = (
    "open_folder_requested",
    "open_project_requested",
    "navigate_requested",
    "next_unreviewed_requested",
    "accept_requested",
    "reject_requested",
    "draw_requested",
    "undo_requested",
    "redo_requested",
    "save_requested",
    "class_chosen",
    "heatmap_toggled",
    "heatmap_method_changed",
    "heatmap_opacity_changed",
    "sort_requested",
    "filter_requested",
    "image_activated",
    "cancel_requested",
    "rank_requested",
)
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier
NONE = Qt.KeyboardModifier.NoModifier


@pytest.fixture(autouse=True)
def settings_dir(tmp_path):
    """Every QSettings of the test lives in tmp_path."""
    old_format = QSettings.defaultFormat()
    path = tmp_path / "settings"
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(path))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    yield path
    QSettings.setDefaultFormat(old_format)


def focusable() -> QWidget:
    widget = QWidget()
    widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return widget


def new_window(qtbot, canvas: QWidget | None = None) -> MainWindow:
    """A shown, active window with ``canvas`` (a plain focusable widget by default) installed."""
    window = MainWindow()
    qtbot.addWidget(window)
    window.set_canvas(canvas or focusable())
    with qtbot.waitExposed(window), qtbot.waitActive(window):
        window.show()
    return window


@pytest.fixture
def canvas():
    return focusable()


@pytest.fixture
def window(qtbot, canvas):
    return new_window(qtbot, canvas)


@pytest.fixture
def emitted(window):
    """Every signal the window emits, as (name, args), in order."""
    calls: list[tuple[str, tuple]] = []
    for name in SIGNALS:
        getattr(window, name).connect(lambda *args, name=name: calls.append((name, args)))
    return calls


# --- keys -------------------------------------------------------------------------------------

SHORTCUTS = [
    (Qt.Key.Key_D, NONE, "navigate_requested", (1,)),
    (Qt.Key.Key_A, NONE, "navigate_requested", (-1,)),
    (Qt.Key.Key_D, CTRL | SHIFT, "next_unreviewed_requested", ()),
    (Qt.Key.Key_Space, NONE, "accept_requested", (False,)),
    (Qt.Key.Key_Return, NONE, "accept_requested", (False,)),
    (Qt.Key.Key_Space, SHIFT, "accept_requested", (True,)),
    (Qt.Key.Key_Return, SHIFT, "accept_requested", (True,)),
    (Qt.Key.Key_X, NONE, "reject_requested", ()),
    (Qt.Key.Key_W, NONE, "draw_requested", ()),
    (Qt.Key.Key_Z, CTRL, "undo_requested", ()),
    (Qt.Key.Key_Z, CTRL | SHIFT, "redo_requested", ()),
    (Qt.Key.Key_Y, CTRL, "redo_requested", ()),
    (Qt.Key.Key_S, CTRL, "save_requested", ()),
    (Qt.Key.Key_H, NONE, "heatmap_toggled", (True,)),
]


@pytest.mark.parametrize(("key", "modifiers", "name", "args"), SHORTCUTS)
def test_each_shortcut_emits_exactly_its_signal(
    window, canvas, emitted, qtbot, key, modifiers, name, args
):
    assert QApplication.focusWidget() is canvas
    qtbot.keyClick(window, key, modifiers)
    assert emitted == [(name, args)]


def test_shortcuts_work_while_the_table_has_the_focus(window, emitted, qtbot):
    window.table.setFocus()
    qtbot.keyClick(window.table, Qt.Key.Key_D)
    qtbot.keyClick(window.table, Qt.Key.Key_Space)
    assert emitted == [("navigate_requested", (1,)), ("accept_requested", (False,))]


def test_h_toggles_the_heatmap_checkbox_both_ways(window, emitted, qtbot):
    qtbot.keyClick(window, Qt.Key.Key_H)
    assert window.heatmap_box.isChecked()
    qtbot.keyClick(window, Qt.Key.Key_H)
    assert not window.heatmap_box.isChecked()
    assert emitted == [("heatmap_toggled", (True,)), ("heatmap_toggled", (False,))]


def test_delete_is_left_to_the_canvas(window):
    bound = {seq.toString() for action in window.actions() for seq in action.shortcuts()}
    assert "Del" not in bound


def key_alternatives(key: str) -> list[str]:
    """The key sequences one KEYS entry stands for."""
    if key == "1 – 9":
        return [str(digit) for digit in range(1, 10)]
    return key.split(" / ")


def test_every_documented_key_has_an_action_and_every_action_is_documented(window):
    bound = {seq.toString() for action in window.actions() for seq in action.shortcuts()}
    documented = {
        QKeySequence(alternative).toString()
        for key, _ in KEYS
        for alternative in key_alternatives(key)
    }
    assert "" not in documented
    assert documented == bound
    for action in window.actions():
        if action.shortcuts():
            assert action.shortcutContext() == Qt.ShortcutContext.WindowShortcut


def test_f1_opens_the_help_listing_every_key(window, qtbot):
    qtbot.keyClick(window, Qt.Key.Key_F1)
    dialog = window.findChild(HelpDialog)
    assert dialog is not None and dialog.isVisible()
    assert not dialog.isModal()
    listed = [
        (dialog.table.item(r, 0).text(), dialog.table.item(r, 1).text())
        for r in range(dialog.table.rowCount())
    ]
    assert listed == KEYS + CANVAS_KEYS
    table = dialog.table  # every row fits: nothing to scroll
    assert not table.verticalScrollBar().isVisible()


def test_keys_reach_the_window_while_a_real_canvas_has_the_focus(qtbot):
    from ui.canvas.view import Canvas

    canvas = Canvas()
    window = new_window(qtbot, canvas)
    canvas.set_image(np.zeros((60, 80, 3), np.uint8))
    canvas.set_boxes([BoxView(7, (10, 10, 40, 40), "cat", "proposal", "proposed", 0.9)])
    canvas.select(7)
    canvas.setFocus()
    calls = []
    window.navigate_requested.connect(lambda step: calls.append(("navigate", step)))
    window.accept_requested.connect(lambda every: calls.append(("accept", every)))
    canvas.delete_requested.connect(lambda box_id: calls.append(("delete", box_id)))
    for key in (Qt.Key.Key_D, Qt.Key.Key_Space, Qt.Key.Key_Delete):
        qtbot.keyClick(canvas, key)
    assert calls == [("navigate", 1), ("accept", False), ("delete", 7)]


# --- classes ----------------------------------------------------------------------------------


def test_digits_choose_the_nth_class(window, emitted, qtbot):
    window.set_classes(dict.fromkeys(["cat", "dog", "bird"], 0), None)
    assert emitted == []
    qtbot.keyClick(window, Qt.Key.Key_2)
    assert emitted == [("class_chosen", ("dog",))]
    assert window.current_class() == "dog"
    qtbot.keyClick(window, Qt.Key.Key_3)
    qtbot.keyClick(window, Qt.Key.Key_9)  # no ninth class: nothing happens
    assert emitted == [("class_chosen", ("dog",)), ("class_chosen", ("bird",))]
    assert window.current_class() == "bird"


def test_set_classes_keeps_the_current_class_when_it_stays(window, emitted, qtbot):
    window.set_classes(dict.fromkeys(["cat", "dog"], 0), None)
    qtbot.keyClick(window, Qt.Key.Key_2)
    window.set_classes(dict.fromkeys(["ant", "bee", "dog"], 0), None)
    assert window.current_class() == "dog"
    window.set_classes(dict.fromkeys(["ant", "bee"], 0), None)
    assert window.current_class() == "ant"
    window.set_classes({}, None)
    assert window.current_class() == ""
    assert emitted == [("class_chosen", ("dog",))]


@pytest.mark.parametrize(("typed", "chosen"), [("DOG", "dog"), (" bird ", "bird"), ("fox", "fox")])
def test_return_in_the_class_box_chooses_the_typed_class_not_accept(
    window, emitted, qtbot, typed, chosen
):
    window.set_classes(dict.fromkeys(["cat", "dog", "bird"], 0), None)
    combo = window.class_combo
    combo.setFocus()
    combo.lineEdit().selectAll()
    qtbot.keyClicks(combo.lineEdit(), typed)
    qtbot.keyClick(combo, Qt.Key.Key_Return)
    assert emitted == [("class_chosen", (chosen,))]
    # A known class is chosen at once; a new name only once the application added it.
    assert window.current_class() == (chosen if chosen != "fox" else "cat")
    assert combo.currentText() == window.current_class()  # what was typed is not left over


def test_picking_a_class_from_the_list_emits_it(window, emitted):
    window.set_classes(dict.fromkeys(["cat", "dog"], 0), None)
    window.class_combo.activated.emit(1)  # what a click in the drop-down list sends
    assert emitted == [("class_chosen", ("dog",))]
    assert window.current_class() == "dog"


# --- heatmap controls -------------------------------------------------------------------------


def test_heatmap_method_and_opacity_emit_their_values(window, emitted):
    window.set_heatmap_methods(["cam", "gradcam", "saliency"])
    assert emitted == []
    window.method_combo.setCurrentIndex(2)
    window.opacity_slider.setValue(25)
    assert emitted == [
        ("heatmap_method_changed", ("saliency",)),
        ("heatmap_opacity_changed", (0.25,)),
    ]
    window.set_heatmap_methods(["saliency", "cam"])
    assert window.method_combo.currentText() == "saliency"


def test_tools_menu_asks_to_rank_images_by_score(window, emitted):
    tools = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Tools")
    [rank] = [a for a in tools.actions() if a.text() == "Rank images by image score"]
    rank.trigger()
    assert emitted == [("rank_requested", ())]


# --- status bar -------------------------------------------------------------------------------


def test_position_label(window):
    window.set_position(3, 120, 45)
    assert window.position_label.text() == "Image 3 of 120 · reviewed 45"


def test_set_job_shows_and_hides_progress_and_cancel_emits(window, emitted, qtbot):
    job_widgets = (window.job_label, window.progress, window.cancel_button)
    assert not any(widget.isVisible() for widget in job_widgets)
    window.set_job("Scoring", 12, 40, 8.2)
    assert all(widget.isVisible() for widget in job_widgets)
    assert window.job_label.text() == "Scoring 12/40 · ETA 8 s"
    assert (window.progress.value(), window.progress.maximum()) == (12, 40)
    window.set_job("Scoring", 13, 40, 125)
    assert window.job_label.text() == "Scoring 13/40 · ETA 2 min 05 s"
    window.set_job("Loading model")
    assert window.job_label.text() == "Loading model"
    assert window.progress.maximum() == 0  # busy indicator
    qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
    assert emitted == [("cancel_requested", ())]
    window.set_job(None)
    assert not any(widget.isVisible() for widget in job_widgets)


def test_show_error_puts_the_message_in_the_status_bar_and_the_log(window):
    window.show_error("Cannot read broken.jpg")
    window.show_error("Disk full")
    assert window.statusBar().currentMessage() == "Disk full"
    log = window.error_log.toPlainText()
    assert "Cannot read broken.jpg" in log and "Disk full" in log
    assert QApplication.activeModalWidget() is None
    assert "color" in window.statusBar().styleSheet()  # red
    window.statusBar().showMessage("Saved")
    assert window.statusBar().styleSheet() == ""  # an ordinary message is not red


# --- image list panel -------------------------------------------------------------------------


def test_sort_combo_and_descending_checkbox_emit_sort_requested(window, emitted):
    combo = window.image_list.sort_combo
    keys = [combo.itemData(i) for i in range(combo.count())]
    assert keys == ["path", "status", "image_score", "confidence", "random"]
    combo.setCurrentIndex(keys.index("image_score"))
    window.image_list.descending.setChecked(True)
    combo.setCurrentIndex(keys.index("random"))
    assert emitted == [
        ("sort_requested", ("image_score", False)),
        ("sort_requested", ("image_score", True)),
        ("sort_requested", ("random", True)),
    ]
    assert window.table.isSortingEnabled() is False


def test_status_filter_emits_the_status_or_none(window, emitted):
    combo = window.image_list.filter_combo
    combo.setCurrentIndex(combo.findData("in_review"))
    combo.setCurrentIndex(0)
    assert emitted == [("filter_requested", ("in_review",)), ("filter_requested", (None,))]


def test_clicking_a_row_emits_its_image_id(window, emitted, qtbot):
    window.image_model.set_rows(rows(5))
    rect = window.table.visualRect(window.image_model.index(3, 0))
    qtbot.mouseClick(window.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert emitted == [("image_activated", (1003,))]
    qtbot.keyClick(window.table, Qt.Key.Key_Down)
    assert emitted[-1] == ("image_activated", (1004,))


def test_select_image_selects_and_scrolls_without_emitting(window, emitted):
    window.image_model.set_rows(rows(100_000))
    window.select_image(1000 + 90_000)
    index = window.image_model.index(90_000, 0)
    assert [i.row() for i in window.table.selectionModel().selectedRows()] == [90_000]
    assert window.table.viewport().rect().intersects(window.table.visualRect(index))
    window.select_image(12345678)  # not listed: the selection clears
    assert window.table.selectionModel().selectedRows() == []
    assert emitted == []


# --- files, recent projects, window state -----------------------------------------------------


def test_open_folder_and_project_ask_for_a_path(window, emitted, qtbot, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: "/data/photos")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("/p/project.db", ""))
    qtbot.keyClick(window, Qt.Key.Key_U, CTRL)
    qtbot.keyClick(window, Qt.Key.Key_O, CTRL)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: "")  # cancelled
    qtbot.keyClick(window, Qt.Key.Key_U, CTRL)
    assert emitted == [
        ("open_folder_requested", ("/data/photos",)),
        ("open_project_requested", ("/p/project.db",)),
    ]


def test_recent_projects_are_capped_deduplicated_and_open_on_click(
    window, emitted, qtbot, settings_dir
):
    for i in range(10):
        window.add_recent(f"/projects/{i}.db")
    window.add_recent("/projects/5.db")
    expected = ["/projects/5.db", "/projects/9.db", "/projects/8.db", "/projects/7.db"]
    expected += ["/projects/6.db", "/projects/4.db", "/projects/3.db", "/projects/2.db"]
    assert window.recent_projects() == expected
    assert len(expected) == MAX_RECENT
    assert any(settings_dir.rglob("*.ini"))  # the temporary settings, not the real ones
    menu_actions = window.recent_menu.actions()
    assert [action.text() for action in menu_actions] == expected
    menu_actions[1].trigger()
    assert emitted == [("open_project_requested", ("/projects/9.db",))]
    assert new_window(qtbot).recent_projects() == expected


def test_a_single_recent_project_reads_back_as_a_list(window):
    window.add_recent("/only.db")
    assert window.recent_projects() == ["/only.db"]


def test_window_size_and_splitter_are_restored_after_close(qtbot):
    first = new_window(qtbot)
    first.resize(first.minimumSizeHint().width(), 450)  # the offscreen screen is 800 x 600
    first.splitter.setSizes([0, 820])  # the image list collapsed
    sizes = first.splitter.sizes()
    assert sizes[0] == 0
    first.close()
    second = new_window(qtbot)
    assert second.size() == first.size()
    assert second.splitter.sizes() == sizes
