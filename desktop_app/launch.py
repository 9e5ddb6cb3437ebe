"""Starting the app process: the window first, the project after its first paint, and a
quick exit (see :func:`run`)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication

from desktop_app.app import CLOSE_WAIT_MS, Session
from desktop_app.logs import unexpected
from desktop_app.timings import mark
from ui.canvas.view import Canvas
from ui.main_window import MainWindow


def run(target: str | None = None, classes_file: Path | None = None, db: str | None = None) -> int:
    """Start the app, opening ``target`` (a folder of images or a project file) if given
    and adding the classes of ``classes_file`` (one name a line) to it; with ``db`` (a
    database URL), that database with ``target`` as this annotator's image folder. The
    window shows first; the project opens after its first paint."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("SaliBox")
    app.setApplicationName("SaliBox")
    window = MainWindow()
    canvas = Canvas()
    window.set_canvas(canvas)
    session = Session(window, canvas)
    app.aboutToQuit.connect(lambda: session.close(CLOSE_WAIT_MS))

    def report(kind: type[BaseException], exc: BaseException, trace: TracebackType | None) -> None:
        """An exception no slot caught: one line in the window, the traceback in the log."""
        window.show_error(unexpected(exc.with_traceback(trace), "unexpected error"))

    def start() -> None:
        mark("window_shown")
        opened = (target or db) and session.open(target, db)
        if opened and classes_file is not None:
            session._open()[1].class_edits.import_classes_file(str(classes_file))

    sys.excepthook = report
    painted = _FirstPaint(window, start)
    window.show()
    code = app.exec()
    del painted
    if not session.still_training():
        # Only a batch of proposals is in hand (up to seconds of a forward pass): drop it.
        # Every accepted box was committed when it was made and SQLite's journal makes a
        # write cut short roll back, as after a kill (tests/unit/core/store/test_store_safety.py).
        mark("process_exit")
        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)
    session.wait_for_workers()
    return code


class _FirstPaint(QObject):
    """Calls ``then`` once, in the event loop's next turn after ``widget``'s first paint."""

    def __init__(self, widget: MainWindow, then) -> None:
        super().__init__(widget)
        self.then = then
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and self.then is not None:
            then, self.then = self.then, None
            watched.removeEventFilter(self)
            QTimer.singleShot(0, then)
        return False
