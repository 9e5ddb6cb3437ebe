"""The keyboard shortcuts, listed once, and the dialog that shows them (F1).

Each key is written as ``QKeySequence`` reads it; alternatives are separated by `` / `` and
``1 – 9`` stands for the nine digit keys.
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

#: (key, what it does), in the order the help shows them.
KEYS: list[tuple[str, str]] = [
    ("D", "next image"),
    ("A", "previous image"),
    ("Ctrl+Shift+D", "next image that needs review"),
    (
        "Space / Return",
        "accept the selected box and select the next one to review; with none left, mark "
        "the image reviewed and go on to the next image that needs review",
    ),
    ("Shift+Space / Shift+Return", "accept every proposal of the image"),
    ("X", "reject the selected box and select the next one to review"),
    ("Tab", "select the next box"),
    ("Shift+Tab", "select the previous box"),
    ("W", "draw a box"),
    ("Ctrl+D", "copy the previous image's boxes onto this one"),
    ("Ctrl+I", "mark the selected box difficult (or not)"),
    ("Ctrl+T", "mark the selected box truncated (or not)"),
    ("1 – 9", "choose the n-th class of the classes panel (for the selected box and new boxes)"),
    ("R", "show or hide the rejected proposals"),
    ("Ctrl+H", "show or hide every box"),
    ("H", "show or hide the heatmap"),
    ("Ctrl+0 / F", "fit the image in the view"),
    ("Ctrl+= / Ctrl++", "zoom in"),
    ("Ctrl+-", "zoom out"),
    ("Ctrl+1", "zoom to 1:1 (one image pixel per screen pixel)"),
    ("Ctrl+Z", "undo"),
    ("Ctrl+Shift+Z / Ctrl+Y", "redo"),
    ("Ctrl+S", "save"),
    ("Ctrl+U", "open a folder of images"),
    ("Ctrl+O", "open a project database"),
    ("Ctrl+E", "export…"),
    ("Ctrl+G", "show or hide the statistics view"),
    ("Ctrl+Q", "quit (every change is already saved)"),
    ("F1", "list of keys"),
]


#: Keys and gestures the image itself handles (no menu action), shown after :data:`KEYS`.
CANVAS_KEYS: list[tuple[str, str]] = [
    ("click / drag", "select / move a box"),
    ("drag a handle", "resize the selected box"),
    ("arrows / Shift+arrows", "nudge the selected box by 1 / 10 px"),
    ("Delete / Backspace", "delete the selected box"),
    ("Escape", "stop drawing; else select no box (so 1 – 9 only choose the class of new boxes)"),
    ("drag a corner", "resize that box, selected or not"),
    ("click again in place", "select the next box under the pointer"),
    ("wheel / middle drag", "zoom around the cursor (¼ to 16 × the fitting size) / pan"),
]


class HelpDialog(QDialog):
    """A table of every shortcut in ``KEYS``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SaliBox keys")
        rows = KEYS + CANVAS_KEYS
        self.table = QTableWidget(len(rows), 2, self)
        self.table.setHorizontalHeaderLabels(["key", "what it does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for row, (key, text) in enumerate(rows):
            self.table.setItem(row, 0, QTableWidgetItem(key))
            self.table.setItem(row, 1, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.resizeColumnsToContents()
        self.table.resizeRowsToContents()
        frame = 2 * self.table.frameWidth()
        height = self.table.horizontalHeader().height() + frame
        height += sum(self.table.rowHeight(r) for r in range(len(rows)))
        width = frame + sum(self.table.columnWidth(c) for c in range(2))
        self.table.setMinimumSize(width + 24, height)  # every row visible, no scrolling
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(buttons)
        self.resize(460, 440)
