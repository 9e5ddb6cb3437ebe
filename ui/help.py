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
    QLabel,
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
    ("Space / Return", "accept the selected box"),
    ("Shift+Space / Shift+Return", "accept every proposal of the image"),
    ("X", "reject the selected box"),
    ("W", "draw a box"),
    ("1 – 9", "choose the n-th class of the classes panel (for the selected box and new boxes)"),
    ("H", "show or hide the heatmap"),
    ("Ctrl+Z", "undo"),
    ("Ctrl+Shift+Z / Ctrl+Y", "redo"),
    ("Ctrl+S", "save"),
    ("Ctrl+U", "open a folder of images"),
    ("Ctrl+O", "open a project database"),
    ("Ctrl+E", "export…"),
    ("F1", "list of keys"),
]


class HelpDialog(QDialog):
    """A table of every shortcut in ``KEYS``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SaliBox keys")
        self.table = QTableWidget(len(KEYS), 2, self)
        self.table.setHorizontalHeaderLabels(["key", "what it does"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for row, (key, text) in enumerate(KEYS):
            self.table.setItem(row, 0, QTableWidgetItem(key))
            self.table.setItem(row, 1, QTableWidgetItem(text))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        note = QLabel("On the image, Delete removes the selected box.", self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.resize(460, 440)
