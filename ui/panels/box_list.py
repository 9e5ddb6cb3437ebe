"""The box list: every box of the shown image with its class, state, origin and confidence,
as labelme's label list.

It shows what it is given (:meth:`BoxListPanel.set_boxes`) and follows the canvas's
selection (:meth:`BoxListPanel.select`); a click on a row asks for that box to be
selected, a click on its check box for it to be shown or hidden. The table never takes the
keyboard focus, so the review keys stay with the canvas.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ui.box_view import BoxView
from ui.class_colors import class_color
from ui.panels.classes import swatch

COLUMNS = ("", "class", "state", "origin", "conf.")
#: The column whose check box shows or hides a box.
VISIBLE = 0
#: Narrowest the panel gets, pixels: the class column stays readable beside a long state.
MIN_WIDTH = 330


def state_text(view: BoxView) -> str:
    """``"proposed"``, ``"accepted"``…, with VOC's flags: ``"accepted, difficult"``."""
    flags = [f for f, on in (("difficult", view.difficult), ("truncated", view.truncated)) if on]
    return ", ".join([view.state, *flags])


class BoxListPanel(QWidget):
    """One row per box, in the order given (the order Tab visits them).

    Signals:
        box_chosen(id): the user clicked a row.
        visibility_toggled(id, visible): the user ticked or cleared a row's check box.
    """

    box_chosen = Signal(int)
    visibility_toggled = Signal(int, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.cellClicked.connect(self._clicked)
        self.table.itemChanged.connect(self._item_changed)
        self._ids: list[int] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        self.setMinimumWidth(MIN_WIDTH)

    def set_boxes(self, views: list[BoxView], hidden: set[int], selected: int | None) -> None:
        """Show ``views`` (rejected ones too); ``hidden`` ids are unticked."""
        with QSignalBlocker(self.table):
            self.table.setRowCount(len(views))
            self._ids = [view.id for view in views]
            for row, view in enumerate(views):
                shown = QTableWidgetItem()
                shown.setFlags(Qt.ItemFlag.ItemIsUserCheckable | Qt.ItemFlag.ItemIsEnabled)
                checked = view.id not in hidden
                shown.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                shown.setToolTip("Show this box on the image")
                label = QTableWidgetItem(
                    swatch(class_color(view.class_name)), view.class_name or "no class"
                )
                tips = []
                if view.tentative and view.class_name:
                    font = label.font()
                    font.setItalic(True)  # the class it takes if accepted
                    label.setFont(font)
                    tips.append(f"takes {view.class_name} if accepted")
                if view.hint:
                    tips.append(f"the network's guess: {view.hint}")
                label.setToolTip("; ".join(tips))
                confidence = "" if view.confidence is None else f"{view.confidence:.2f}"
                cells = [shown, label, QTableWidgetItem(state_text(view))]
                cells += [QTableWidgetItem(view.origin), QTableWidgetItem(confidence)]
                for column, item in enumerate(cells):
                    self.table.setItem(row, column, item)
        self.select(selected)

    def box_ids(self) -> list[int]:
        """The ids of the rows, top to bottom."""
        return list(self._ids)

    def select(self, box_id: int | None) -> None:
        """Highlight the row of ``box_id`` (none for None or an id not listed); emits nothing."""
        with QSignalBlocker(self.table):
            self.table.clearSelection()
            if box_id in self._ids:
                row = self._ids.index(box_id)
                self.table.selectRow(row)
                if (item := self.table.item(row, 1)) is not None:
                    self.table.scrollToItem(item)

    def selected_id(self) -> int | None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        return self._ids[min(rows)] if rows else None

    def _clicked(self, row: int, column: int) -> None:
        if column != VISIBLE and 0 <= row < len(self._ids):
            self.box_chosen.emit(self._ids[row])

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == VISIBLE and 0 <= item.row() < len(self._ids):
            visible = item.checkState() == Qt.CheckState.Checked
            self.visibility_toggled.emit(self._ids[item.row()], visible)
