"""File → Export…: the dialog (ui.dialogs.export) driven with QTest, the runner on a real
project in a temporary folder, and start_export from the dialog to the summary box."""

from __future__ import annotations

import gc

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QMessageBox, QWidget

from core.formats.writers import WRITERS
from core.services.exporter import NOT_REVIEWED
from desktop_app.export_runner import ExportRunner, last_choice, start_export
from tests.unit.core.services.test_export import add_image
from ui.dialogs.export import FORMATS, ExportChoice, ExportDialog
from ui.main_window import MainWindow

OK = QDialogButtonBox.StandardButton.Ok


@pytest.fixture(autouse=True)
def _no_qt_garbage_for_the_export_thread():
    """Collect earlier tests' garbage here, in the main thread, before the export thread
    starts: a cycle holding Qt objects once got collected in that thread (inside
    SQLAlchemy's create_engine) and crashed the run with a segmentation fault."""
    gc.collect()


@pytest.fixture
def labelled(folder, project):
    """One reviewed image with two boxes, one reviewed without boxes, one not reviewed."""
    add_image(
        folder, project, "a.png", "done", boxes=[("cat", (1, 1, 9, 9)), ("dog", (2, 2, 30, 20))]
    )
    add_image(folder, project, "b.png", "done")
    add_image(folder, project, "c.png", "new", boxes=[("cat", (0, 0, 5, 5))])
    return project


def test_dialog_choose_yolo_type_a_folder_click_ok(qtbot, tmp_path):
    dialog = ExportDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    ok = dialog.buttons.button(OK)
    assert not ok.isEnabled()  # no folder yet
    qtbot.keyClicks(dialog.format_box, "Y")  # keyboard search picks "YOLO"
    assert dialog.format_box.currentText() == "YOLO"
    qtbot.keyClicks(dialog.folder_edit, str(tmp_path / "out"))
    assert ok.isEnabled()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.values() == ExportChoice("yolo", "devkit", tmp_path / "out", False)


def test_dialog_beside_needs_no_folder_and_restores_the_last_choice(qtbot, tmp_path):
    last = ExportChoice("coco", "devkit", tmp_path, include_unreviewed=True)
    dialog = ExportDialog(last)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.values() == last
    dialog.folder_edit.clear()
    assert not dialog.buttons.button(OK).isEnabled()
    dialog.format_box.setCurrentIndex(1)  # Pascal VOC — XML beside each image
    assert dialog.buttons.button(OK).isEnabled()
    assert not dialog.folder_edit.isEnabled() and not dialog.browse_button.isEnabled()
    qtbot.mouseClick(dialog.reviewed_only, Qt.MouseButton.LeftButton)
    assert dialog.values() == ExportChoice("voc", "beside", None, False)


def test_runner_writes_the_files_and_reports_the_summary(qtbot, labelled, tmp_path):
    out = tmp_path / "yolo out"
    runner = ExportRunner(labelled.db_path, ExportChoice("yolo", "devkit", out, False))
    steps: list[tuple[int, int]] = []
    runner.progress.connect(lambda done, total: steps.append((done, total)))
    with qtbot.waitSignal(runner.finished, timeout=20_000) as blocker:
        runner.start()
    assert runner.wait(5)
    summary = blocker.args[0]
    assert summary.images == 2 and summary.boxes == {"cat": 1, "dog": 1}
    assert summary.skipped == {NOT_REVIEWED: 1}
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["a.txt", "b.txt"]
    assert (out / "classes.txt").read_text().split() == labelled.class_records.classes()
    assert steps[-1] == (4, 4)


def test_copy_images_makes_a_voc_export_that_stands_on_its_own(qtbot, labelled, tmp_path):
    dialog = ExportDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.folder_edit, str(tmp_path / "voc"))
    qtbot.mouseClick(dialog.copy_images, Qt.MouseButton.LeftButton)
    choice = dialog.values()
    assert choice.copy_images and choice.fmt == "voc"
    dialog.format_box.setCurrentIndex(1)  # beside each image: nothing to copy
    assert not dialog.copy_images.isEnabled() and not dialog.values().copy_images
    runner = ExportRunner(labelled.db_path, choice)
    with qtbot.waitSignal(runner.finished, timeout=20_000):
        runner.start()
    assert runner.wait(5)
    out = tmp_path / "voc"
    assert sorted(p.name for p in (out / "JPEGImages").iterdir()) == ["a.png", "b.png"]
    xml = (out / "Annotations" / "a.xml").read_text(encoding="utf-8")
    assert "<path>JPEGImages/a.png</path>" in xml


def test_runner_cancelled_and_failed(qtbot, labelled, tmp_path):
    runner = ExportRunner(labelled.db_path, ExportChoice("coco", "devkit", tmp_path / "c", False))
    runner.cancel()
    with qtbot.waitSignal(runner.cancelled, timeout=20_000):
        runner.start()
    assert runner.wait(5) and not (tmp_path / "c").exists()
    blocked = tmp_path / "a file"
    blocked.write_text("")
    runner = ExportRunner(labelled.db_path, ExportChoice("yolo", "devkit", blocked, False))
    with qtbot.waitSignal(runner.failed, timeout=20_000) as blocker:
        runner.start()
    assert runner.wait(5) and "a file" in blocker.args[0]


def when_shown(kind: type[QWidget], act) -> None:
    """Call ``act`` with the first visible top-level ``kind`` widget once it is shown
    (a modal dialog's ``exec`` is running)."""

    def poll() -> None:
        shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]
        if shown:
            act(shown[0])
        else:
            QTimer.singleShot(10, poll)

    QTimer.singleShot(0, poll)


@pytest.fixture
def window(qtbot, isolated_settings):
    shown = MainWindow()
    qtbot.addWidget(shown)
    shown.show()
    return shown


def test_start_export_from_dialog_to_summary_box(qtbot, window, labelled, tmp_path):
    out = tmp_path / "coco out"

    def fill(dialog: ExportDialog) -> None:
        dialog.format_box.setCurrentIndex(3)  # COCO
        dialog.folder_edit.setText(str(out))
        dialog.buttons.button(OK).click()

    when_shown(ExportDialog, fill)
    runner = start_export(window, labelled)
    assert runner is not None

    def shown_boxes() -> list[QMessageBox]:
        return [b for b in window.findChildren(QMessageBox) if b.isVisible()]

    qtbot.waitUntil(lambda: bool(shown_boxes()), timeout=20_000)
    text = shown_boxes()[0].text()
    assert "Exported 2 images with 2 boxes" in text and "cat 1, dog 1" in text
    assert "1 not reviewed" in text
    assert (out / "annotations.json").is_file()
    assert runner.wait(5)
    assert last_choice(labelled) == ExportChoice("coco", "devkit", out, False)

    when_shown(ExportDialog, lambda dialog: (seen.append(dialog.values()), dialog.reject()))
    seen: list[ExportChoice] = []
    assert start_export(window, labelled) is None  # cancelled in the dialog
    assert seen == [ExportChoice("coco", "devkit", out, False)]  # the last choice again


def test_start_export_error_goes_to_the_window(qtbot, window, labelled, tmp_path):
    blocked = tmp_path / "not a folder"
    blocked.write_text("")

    def fill(dialog: ExportDialog) -> None:
        dialog.format_box.setCurrentIndex(0)  # VOCdevkit
        dialog.folder_edit.setText(str(blocked))
        dialog.buttons.button(OK).click()

    when_shown(ExportDialog, fill)
    runner = start_export(window, labelled)
    qtbot.waitUntil(lambda: "Export failed" in window.error_log.toPlainText(), timeout=20_000)
    assert runner is not None and runner.wait(5)
    assert str(blocked) in window.error_log.toPlainText()


def test_the_dialog_offers_every_registered_export_format_once():
    assert sorted((fmt, layout) for _label, fmt, layout in FORMATS) == sorted(WRITERS)
