"""The classes panel and the class field, driven through the real window: add, rename,
merge, delete (with its confirmation), reorder, classes files; the store follows and the
screen shows what the store holds."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QMessageBox

from core.store import Project
from desktop_app.controller import Controller
from tests.helpers.gui import main_window

pytestmark = pytest.mark.usefixtures("isolated_settings")


@pytest.fixture
def project(folder):
    Image.fromarray(np.full((100, 160, 3), 120, np.uint8)).save(folder / "a.png")
    with Project.open(Project.default_db_path(folder), folder) as opened:
        opened.register_images(["a.png"])
        image = opened.image_by_path("a.png").id
        opened.box_records.add_box(image, "racoon", (10, 10, 60, 60))
        opened.box_records.add_box(image, "racoon", (70, 10, 120, 60))
        opened.box_records.add_box(
            image, None, (5, 5, 150, 90), origin="proposal", state="proposed", hint="Arctic fox"
        )
        yield opened


@pytest.fixture
def window(qtbot, project):
    window, canvas = main_window(qtbot)
    window.controller = Controller(project, window, canvas)
    return window


def answer(qtbot, reply) -> list[bool]:
    """Answer the next modal dialog with ``reply(dialog)``; returns a list that holds True
    once it was answered."""
    answered: list[bool] = []

    def act() -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(50, act)
            return
        reply(dialog)
        answered.append(True)

    QTimer.singleShot(50, act)
    return answered


def type_into(qtbot, text: str):
    def reply(dialog: QInputDialog) -> None:
        field = dialog.findChild(QLineEdit)
        field.selectAll()
        qtbot.keyClicks(field, text)
        qtbot.keyClick(field, Qt.Key.Key_Return)

    return reply


def click(button: QMessageBox.StandardButton):
    return lambda box: box.button(button).click()


def panel_rows(window) -> list[str]:
    panel = window.classes_panel.list
    return [panel.item(i).text() for i in range(panel.count())]


def select(qtbot, window, name: str) -> None:
    panel = window.classes_panel
    row = panel.names().index(name)
    rect = panel.list.visualItemRect(panel.list.item(row))
    qtbot.mouseClick(panel.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_rename_merge_delete_and_reorder_from_the_panel(qtbot, window, project):
    panel = window.classes_panel
    assert panel_rows(window) == ["1  racoon (2)"]
    # Add two classes with the Add… button.
    for name in ("raccoon", "dog"):
        answered = answer(qtbot, type_into(qtbot, name))
        qtbot.mouseClick(panel.buttons["Add…"], Qt.MouseButton.LeftButton)
        assert answered == [True]
    assert project.class_records.classes() == ["racoon", "raccoon", "dog"]
    assert window.current_class() == "dog"  # the class added last is chosen

    # Rename the misspelt class onto an existing name: refused, nothing changes.
    select(qtbot, window, "racoon")
    answer(qtbot, type_into(qtbot, "raccoon"))
    qtbot.mouseClick(panel.buttons["Rename…"], Qt.MouseButton.LeftButton)
    assert "merge" in window.statusBar().currentMessage()
    assert project.class_records.classes() == ["racoon", "raccoon", "dog"]
    # Merge it instead: both boxes follow.
    select(qtbot, window, "racoon")
    answered = answer(qtbot, lambda d: (d.setTextValue("raccoon"), d.accept()))
    qtbot.mouseClick(panel.buttons["Merge into…"], Qt.MouseButton.LeftButton)
    assert answered == [True]
    assert project.class_records.classes() == ["raccoon", "dog"]
    assert panel_rows(window) == ["1  raccoon (2)", "2  dog (0)"]

    # Delete a class boxes use: the question says how many; No keeps everything.
    select(qtbot, window, "raccoon")
    asked: list[str] = []
    answer(qtbot, lambda box: (asked.append(box.text()), click(QMessageBox.StandardButton.No)(box)))
    qtbot.mouseClick(panel.buttons["Delete"], Qt.MouseButton.LeftButton)
    assert asked and "2 boxes" in asked[0]
    assert project.class_records.classes() == ["raccoon", "dog"]
    # Move dog up: keys follow the order.
    select(qtbot, window, "dog")
    qtbot.mouseClick(panel.buttons["Up"], Qt.MouseButton.LeftButton)
    assert project.class_records.classes() == ["dog", "raccoon"]
    assert panel_rows(window) == ["1  dog (0)", "2  raccoon (2)"]
    # Yes deletes the class and its two labels; the proposal only loses its tentative class.
    select(qtbot, window, "raccoon")
    answer(qtbot, click(QMessageBox.StandardButton.Yes))
    qtbot.mouseClick(panel.buttons["Delete"], Qt.MouseButton.LeftButton)
    image = project.image_by_path("a.png").id
    assert project.class_records.classes() == ["dog"]
    assert [(b.class_name, b.state) for b in project.box_records.boxes(image)] == [
        (None, "proposed")
    ]
    shown = window.controller.canvas.boxes()
    assert [(v.class_name, v.tentative) for v in shown] == [("dog", True)]


def test_invalid_names_get_a_message_not_a_class(qtbot, window, project):
    field = window.class_combo.lineEdit()
    qtbot.mouseClick(field, Qt.MouseButton.LeftButton)
    qtbot.wait(20)
    qtbot.keyClicks(field, "x" * 129)
    qtbot.keyClick(field, Qt.Key.Key_Return)
    assert project.class_records.classes() == ["racoon"]
    assert "at most 128" in window.statusBar().currentMessage()
    assert window.class_combo.currentText() == "racoon"  # the typed text is dropped


def test_escape_in_the_class_field_drops_what_was_typed(qtbot, window, project):
    field = window.class_combo.lineEdit()
    qtbot.mouseClick(field, Qt.MouseButton.LeftButton)
    qtbot.wait(20)
    qtbot.keyClicks(field, "zebra")
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    assert window.class_combo.currentText() == "racoon"
    assert QApplication.focusWidget() is window.controller.canvas
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_A)  # a review key, not a letter
    assert project.class_records.classes() == ["racoon"]


def test_a_classes_file_adds_its_classes_in_order(qtbot, window, project, tmp_path):
    path = tmp_path / "predefined_classes.txt"
    path.write_text("dog\nperson\n\ncat\nbad\tname\n", encoding="utf-8")
    window.classes_file_chosen.emit(str(path))  # what File → Import classes file… sends
    assert project.class_records.classes() == ["racoon", "dog", "person", "cat"]
    assert "line 5" in window.error_log.toPlainText()
    assert window.classes_panel.names() == project.class_records.classes()
