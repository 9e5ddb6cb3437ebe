"""The model versions dialog: the fine-tuned versions of a project, and which one proposes.

It shows plain values the app gives it (no store rows, no torch) and reports the choice
through :attr:`ModelVersionsDialog.version_chosen`: a version id, or None for zero-shot
proposals (no learned model).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True)
class VersionView:
    """One version as the dialog lists it.

    Attributes:
        choices: class name → (its chosen localizer, that localizer's cross-validated
            CorLoc or None).
    """

    id: int
    created: datetime
    classes: tuple[str, ...]
    images: int | None
    choices: dict[str, tuple[str, float | None]] = field(default_factory=dict)


COLUMNS = ("Version", "Trained", "Classes", "Images", "Per class: method (CV CorLoc)")


def choices_text(choices: dict[str, tuple[str, float | None]]) -> str:
    parts = []
    for name, (method, corloc) in sorted(choices.items()):
        figure = "" if corloc is None else f" ({corloc:.2f})"
        parts.append(f"{name}: {method}{figure}")
    return "; ".join(parts)


class ModelVersionsDialog(QDialog):
    """Lists versions newest first; the active one is marked in bold.

    Signals:
        version_chosen(object): "Use this version" (its id) or "Use no model" (None).
    """

    version_chosen = Signal(object)

    def __init__(
        self, versions: list[VersionView], active: int | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model versions")
        self.versions = list(versions)
        self.table = QTableWidget(len(self.versions), len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        for row, v in enumerate(self.versions):
            when = v.created.astimezone().strftime("%Y-%m-%d %H:%M")
            images = "" if v.images is None else str(v.images)
            values = (str(v.id), when, ", ".join(v.classes), images, choices_text(v.choices))
            for column, text in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.setWordWrap(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.status = QLabel(self)
        self.use_button = QPushButton("Use this version", self)
        self.none_button = QPushButton("Use no model (zero-shot)", self)
        close = QPushButton("Close", self)
        self.use_button.clicked.connect(self._use_selected)
        self.none_button.clicked.connect(lambda: self._choose(None))
        close.clicked.connect(self.reject)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        buttons = QHBoxLayout()
        for button in (self.use_button, self.none_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        self.resize(760, 320)
        self.set_active(active)
        self.table.resizeColumnsToContents()  # after the active row turned bold

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return self.versions[rows[0].row()].id if rows else None

    def select_version(self, version_id: int) -> None:
        """Select the row of a version (as a click would)."""
        for row, v in enumerate(self.versions):
            if v.id == version_id:
                self.table.selectRow(row)

    def set_active(self, active: int | None) -> None:
        """Mark the active version (None: proposals are zero-shot)."""
        self.active = active
        for row, v in enumerate(self.versions):
            for column in range(len(COLUMNS)):
                item = self.table.item(row, column)
                if item is None:
                    continue
                font = item.font()
                font.setBold(v.id == active)
                item.setFont(font)
        if active is None:
            text = "Proposals are zero-shot (no learned model)."
        else:
            text = f"Proposals come from version {active}."
        if not self.versions:
            text += " No version yet: Tools → Train now trains one."
        self.status.setText(text)
        self._update_buttons()

    def _update_buttons(self) -> None:
        selected = self.selected_id()
        self.use_button.setEnabled(selected is not None and selected != self.active)
        self.none_button.setEnabled(self.active is not None)

    def _use_selected(self) -> None:
        selected = self.selected_id()
        if selected is not None:
            self._choose(selected)

    def _choose(self, version_id: int | None) -> None:
        self.set_active(version_id)
        self.version_chosen.emit(version_id)


__all__ = ["ModelVersionsDialog", "VersionView"]
