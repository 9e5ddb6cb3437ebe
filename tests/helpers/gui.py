"""A real main window with its canvas, as the app builds them, for the GUI tests."""

from __future__ import annotations

from contextlib import ExitStack

from ui.canvas.view import Canvas
from ui.main_window import MainWindow


def main_window(
    qtbot, size: tuple[int, int] | None = None, active: bool = False
) -> tuple[MainWindow, Canvas]:
    """A shown :class:`MainWindow` and the :class:`Canvas` it holds, closed with the
    test; ``active``: also wait until the window has the keyboard."""
    window = MainWindow()
    canvas = Canvas()
    window.set_canvas(canvas)
    qtbot.addWidget(window)
    if size is not None:
        window.resize(*size)
    with ExitStack() as waits:
        waits.enter_context(qtbot.waitExposed(window))
        if active:
            waits.enter_context(qtbot.waitActive(window))
        window.show()
    return window, canvas
