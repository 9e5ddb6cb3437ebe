"""The image list: a virtualised table model of plain rows and the panel that shows it.

The model never sorts or filters; the panel asks for that through signals and the
application answers with ``ImageListModel.set_rows``.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QSignalBlocker,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

#: Review status of an image, in workflow order, with the colour of its cell.
STATUS_COLOURS: dict[str, QColor] = {
    "new": QColor("#6b7280"),
    "proposed": QColor("#2563eb"),
    "in_review": QColor("#d97706"),
    "done": QColor("#16a34a"),
    "skipped": QColor("#9333ea"),
    "unreadable": QColor("#dc2626"),
}
#: The colour of an image another annotator is reviewing (its status cell names them).
CLAIMED_COLOUR = QColor("#be185d")
#: Sort keys offered to the user, with their labels.
SORT_KEYS: tuple[tuple[str, str], ...] = (
    ("path", "Name"),
    ("status", "Status"),
    ("image_score", "Image score"),
    ("confidence", "Confidence"),
    ("random", "Random"),
)

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


def status_label(status: str) -> str:
    """How a status is shown to the user: ``in_review`` -> ``in review``."""
    return status.replace("_", " ")


@dataclass(frozen=True)
class ImageListRow:
    """One image as the list shows it."""

    id: int
    path: str
    status: str
    box_count: int
    image_score: float | None
    confidence: float | None


class ImageListModel(QAbstractTableModel):
    """Rows of images; cells are computed on demand, so 100,000 rows cost one list.

    An image another annotator is reviewing (:meth:`set_claims`) shows "by NAME" in its
    status cell, in :data:`CLAIMED_COLOUR`, with the claim's expiry in the tooltip.
    """

    COLUMNS = ("name", "status", "boxes", "score")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ImageListRow] = []
        self._row_of: dict[int, int] = {}
        self._claims: dict[int, tuple[str, str]] = {}

    def set_claims(self, claims: dict[int, tuple[str, str]]) -> None:
        """Show who else reviews which image: ``image id -> (user name, until)``, where
        ``until`` is the claim's expiry as the user reads it ("17:05")."""
        changed = set(claims.items()) ^ set(self._claims.items())
        self._claims = dict(claims)
        column = self.COLUMNS.index("status")
        for image_id, _ in changed:
            if (i := self._row_of.get(image_id)) is not None:
                self.dataChanged.emit(self.index(i, column), self.index(i, column))

    def claim_of(self, image_id: int) -> str | None:
        """Who else reviews this image, None when nobody does."""
        claim = self._claims.get(image_id)
        return None if claim is None else claim[0]

    def set_rows(self, rows: list[ImageListRow]) -> None:
        """Replace every row, in the given order."""
        self.beginResetModel()
        self._rows = list(rows)
        self._row_of = {row.id: i for i, row in enumerate(self._rows)}
        self.endResetModel()

    def row_of(self, image_id: int) -> int | None:
        """The row showing this image, or None if it is not listed."""
        return self._row_of.get(image_id)

    def row_at(self, index: int) -> ImageListRow:
        """The row at this position."""
        return self._rows[index]

    def update_row(self, row: ImageListRow) -> None:
        """Replace the row with the same id; unknown ids are ignored."""
        i = self._row_of.get(row.id)
        if i is None:
            return
        self._rows[i] = row
        self.dataChanged.emit(self.index(i, 0), self.index(i, len(self.COLUMNS) - 1))

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> str | None:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = self.COLUMNS[index.column()]
        claim = self._claims.get(row.id) if column == "status" else None
        if claim is not None and role == Qt.ItemDataRole.DisplayRole:
            return f"by {claim[0]}"
        if claim is not None and role == Qt.ItemDataRole.ToolTipRole:
            return f"{claim[0]} is reviewing {row.path} (claimed until {claim[1]})"
        if claim is not None and role == Qt.ItemDataRole.ForegroundRole:
            return CLAIMED_COLOUR
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.path
        if role == Qt.ItemDataRole.ForegroundRole and column == "status":
            return STATUS_COLOURS.get(row.status)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in ("boxes", "score"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _text(row: ImageListRow, column: str) -> str:
        if column == "name":
            return row.path
        if column == "status":
            return status_label(row.status)
        if column == "boxes":
            return str(row.box_count)
        return "–" if row.image_score is None else f"{row.image_score:.2f}"


class ImageListPanel(QWidget):
    """The table of images with the sort, status filter and class filter controls above it."""

    sort_requested = Signal(str, bool)
    filter_requested = Signal(object)
    class_filter_requested = Signal(object)
    image_activated = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = ImageListModel(self)
        self.table = QTableView(self)
        self.table.setModel(self.model)
        self.table.setSortingEnabled(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setTextElideMode(Qt.TextElideMode.ElideLeft)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # Fixed widths: ResizeToContents would read every row of a 100,000-image list.
        widest = max(STATUS_COLOURS, key=lambda status: len(status_label(status)))
        for column, text in enumerate((status_label(widest), "boxes", "-0.00"), start=1):
            width = self.table.fontMetrics().horizontalAdvance(text) + 16
            header.resizeSection(column, width)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_row)
        self._quiet = False

        self.sort_combo = QComboBox(self)
        for key, label in SORT_KEYS:
            self.sort_combo.addItem(label, key)
        self.descending = QCheckBox("descending", self)
        self.filter_combo = QComboBox(self)
        self.filter_combo.addItem("all statuses", None)
        for status in STATUS_COLOURS:
            self.filter_combo.addItem(status_label(status), status)
        self.sort_combo.currentIndexChanged.connect(self._emit_sort)
        self.descending.toggled.connect(self._emit_sort)
        self.filter_combo.currentIndexChanged.connect(
            lambda: self.filter_requested.emit(self.status_filter())
        )
        self.class_combo = QComboBox(self)
        self.class_combo.addItem("all classes", None)
        self.class_combo.currentIndexChanged.connect(
            lambda: self.class_filter_requested.emit(self.class_filter())
        )

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Sort", self))
        controls.addWidget(self.sort_combo)
        controls.addWidget(self.descending)
        controls.addStretch(1)
        controls.addWidget(self.filter_combo)
        controls.addWidget(self.class_combo)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self.table)

    def sort_order(self) -> tuple[str, bool]:
        """The chosen sort key and whether it is descending."""
        return self.sort_combo.currentData(), self.descending.isChecked()

    def set_sort_order(self, key: str, descending: bool) -> None:
        """Choose a sort key and direction; emits ``sort_requested`` once."""
        with QSignalBlocker(self.sort_combo), QSignalBlocker(self.descending):
            self.sort_combo.setCurrentIndex(max(0, self.sort_combo.findData(key)))
            self.descending.setChecked(descending)
        self._emit_sort()

    def status_filter(self) -> str | None:
        """The status shown, or None for all."""
        return self.filter_combo.currentData()

    def class_filter(self) -> str | None:
        """The class whose images are shown, or None for all."""
        return self.class_combo.currentData()

    def show_choices(
        self, key: str, descending: bool, status: str | None, class_name: str | None
    ) -> None:
        """Show a sort order and filters (remembered ones) without emitting anything; a
        class not offered yet is chosen once :meth:`set_filter_classes` offers it."""
        blocked = (self.sort_combo, self.descending, self.filter_combo, self.class_combo)
        blockers = [QSignalBlocker(widget) for widget in blocked]
        self.sort_combo.setCurrentIndex(max(0, self.sort_combo.findData(key)))
        self.descending.setChecked(descending)
        self.filter_combo.setCurrentIndex(max(0, self.filter_combo.findData(status)))
        if class_name is not None and self.class_combo.findData(class_name) < 0:
            self.class_combo.addItem(class_name, class_name)
        self.class_combo.setCurrentIndex(max(0, self.class_combo.findData(class_name)))
        del blockers

    def set_filter_classes(self, names: list[str]) -> None:
        """Offer these classes in the class filter, keeping the chosen one if it stays."""
        current = self.class_filter()
        with QSignalBlocker(self.class_combo):
            self.class_combo.clear()
            self.class_combo.addItem("all classes", None)
            for name in names:
                self.class_combo.addItem(name, name)
            self.class_combo.setCurrentIndex(max(0, self.class_combo.findData(current)))

    def select_image(self, image_id: int) -> None:
        """Select and scroll to an image without emitting ``image_activated``."""
        row = self.model.row_of(image_id)
        self._quiet = True
        try:
            if row is None:
                self.table.clearSelection()
                return
            index = self.model.index(row, 0)
            flags = (
                QItemSelectionModel.SelectionFlag.ClearAndSelect
                | QItemSelectionModel.SelectionFlag.Rows
            )
            self.table.selectionModel().setCurrentIndex(index, flags)
            self.table.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
        finally:
            self._quiet = False

    def _emit_sort(self) -> None:
        self.sort_requested.emit(*self.sort_order())

    def _on_current_row(self, current: QModelIndex) -> None:
        if not self._quiet and current.isValid():
            self.image_activated.emit(self.model.row_at(current.row()).id)
