"""File → Export…: the export dialog, one export in a thread of its own, its progress and
its summary.

The export runs in a :class:`threading.Thread` that opens the project store a second time
(each store call is its own transaction), so the window keeps repainting and answering;
:class:`ExportRunner` lives in the GUI thread, so Qt queues its signals to it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QDialog, QMessageBox, QProgressDialog

from core.services.exporter import ExportCancelled, ExportSummary, export_project
from core.store import Project, StoreError
from desktop_app.logs import log
from ui.dialogs.export import FORMATS, ExportChoice, ExportDialog
from ui.main_window import MainWindow

#: Project settings that remember the last export choice.
KEYS = {
    "fmt": "export.format",
    "voc_layout": "export.voc_layout",
    "out": "export.out",
    "include_unreviewed": "export.include_unreviewed",
    "copy_images": "export.copy_images",
}
#: Shortest time between two progress signals, in seconds.
PROGRESS_INTERVAL = 0.05


class ExportRunner(QObject):
    """One export of the project at ``db_path`` (what :meth:`Project.open` takes: the SQLite
    file or the database URL, with ``root`` this annotator's mount of a PostgreSQL
    project's images) as ``choice``; :meth:`start` runs it.

    Signals (delivered in the GUI thread): ``progress(done, total)`` in the exporter's
    steps, at most every :data:`PROGRESS_INTERVAL` s and at the end; then exactly one of
    ``finished(ExportSummary)``, ``failed(message)`` or ``cancelled()``.
    """

    progress = Signal(int, int)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(
        self,
        db_path: str | Path,
        choice: ExportChoice,
        parent: QObject | None = None,
        root: Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.db_path = db_path
        self.root = root
        self.choice = choice
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="salibox-export")
        self._last_report = 0.0

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        """Stop the export before its next image; ``cancelled`` follows (from any thread)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds for the thread to end; whether it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _report(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_report >= PROGRESS_INTERVAL:
            self._last_report = now
            self.progress.emit(done, total)

    def _run(self) -> None:
        c = self.choice
        try:
            with Project.open(self.db_path, self.root) as project:
                summary = export_project(
                    project,
                    c.fmt,
                    c.out,
                    "copy" if c.copy_images else "none",
                    voc_layout=c.voc_layout,
                    include_unreviewed=c.include_unreviewed,
                    progress=self._report,
                    cancelled=self._stop.is_set,
                )
        except ExportCancelled:
            self.cancelled.emit()
        except Exception as exc:  # the thread's end: every failure becomes a message
            self.failed.emit(str(exc) or type(exc).__name__)
        else:
            self.finished.emit(summary)


def last_choice(project: Project) -> ExportChoice:
    """The export choice stored in ``project``'s settings, or the defaults."""
    out = project.setting(KEYS["out"])
    return ExportChoice(
        fmt=project.setting(KEYS["fmt"]) or "voc",
        voc_layout=project.setting(KEYS["voc_layout"]) or "devkit",
        out=Path(out) if out else None,
        include_unreviewed=project.setting(KEYS["include_unreviewed"]) == "1",
        copy_images=project.setting(KEYS["copy_images"]) == "1",
    )


def save_choice(project: Project, choice: ExportChoice) -> None:
    """Store ``choice`` in ``project``'s settings; a folder given before stays when
    ``choice.out`` is None (VOC beside each image)."""
    project.set_setting(KEYS["fmt"], choice.fmt)
    project.set_setting(KEYS["voc_layout"], choice.voc_layout)
    project.set_setting(KEYS["include_unreviewed"], "1" if choice.include_unreviewed else "0")
    project.set_setting(KEYS["copy_images"], "1" if choice.copy_images else "0")
    if choice.out is not None:
        project.set_setting(KEYS["out"], str(choice.out))


def summary_text(choice: ExportChoice, summary: ExportSummary) -> str:
    """What the summary box says: images and boxes written, per class, what was skipped."""
    key = (choice.fmt, choice.voc_layout if choice.fmt == "voc" else "devkit")
    label = next((t for t, f, v in FORMATS if (f, v) == key), choice.fmt)
    where = "beside each image" if choice.beside else f"to {choice.out}"
    lines = [
        f"Exported {summary.images} images with {sum(summary.boxes.values())} boxes "
        f"{where} ({label})."
    ]
    if summary.boxes:
        lines.append("Boxes per class: " + ", ".join(f"{k} {n}" for k, n in summary.boxes.items()))
    if summary.skipped:
        lines.append("Skipped: " + ", ".join(summary.skipped_lines()) + ".")
    if notes := len(summary.problems) + len(summary.warnings):
        lines.append(f"{notes} notes, see the details.")
    return "\n".join(lines)


class _ExportProgress(QProgressDialog):
    """One export's progress over ``window`` with a Cancel button, then its summary box or
    its error in ``window``; deletes itself when the export ends."""

    def __init__(self, window: MainWindow, runner: ExportRunner) -> None:
        super().__init__("Exporting…", "Cancel", 0, 0, window)
        self._window, self._choice = window, runner.choice
        self.setWindowTitle("Export")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumDuration(300)
        self.setAutoReset(False)
        self.setAutoClose(False)
        self.canceled.connect(runner.cancel)
        runner.progress.connect(self._progress)
        runner.finished.connect(self._finished)
        runner.failed.connect(self._failed)
        runner.cancelled.connect(self._end)

    def _progress(self, done: int, total: int) -> None:
        if not self.wasCanceled():
            self.setMaximum(total)
            self.setValue(done)

    def _end(self) -> None:
        self.hide()
        self.deleteLater()

    def _finished(self, summary: ExportSummary) -> None:
        self._end()
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Export finished",
            summary_text(self._choice, summary),
            QMessageBox.StandardButton.Ok,
            self._window,
        )
        if details := [*summary.problems, *summary.warnings]:
            box.setDetailedText("\n".join(details))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def _failed(self, message: str) -> None:
        self._end()
        self._window.show_error(f"Export failed: {message}")


def start_export(window: MainWindow, project: Project) -> ExportRunner | None:
    """File → Export…: ask with :class:`ExportDialog` (starting from the project's last
    choice), store the choice in the project, and run the export in the background with a
    progress dialog whose Cancel stops it before the next image. It ends with a summary box
    (images, boxes per class, what was skipped and why), or the error through
    ``window.show_error``.

    Returns:
        The started runner (keep it while it runs; its signals say how it ends), or None
        when the dialog was cancelled.
    """
    dialog = ExportDialog(last_choice(project), window)
    accepted = dialog.exec() == QDialog.DialogCode.Accepted
    choice = dialog.values()
    dialog.deleteLater()
    if not accepted:
        return None
    try:
        save_choice(project, choice)
    except StoreError as exc:  # a read-only project still exports; it only forgets the choice
        log.warning("the export choice was not remembered: %s", exc)
    runner = ExportRunner(
        project.location, choice, root=project.root if project.is_server else None
    )
    _ExportProgress(window, runner)
    window.destroyed.connect(runner.cancel)
    runner.start()
    return runner
