"""The classes panel: the annotator's classes with their colour, key and box count.

It shows what it is given (:meth:`ClassesPanel.set_classes`) and reports what the user asks
for through signals; the application applies the change to the project and gives the
panel the new list. Its buttons and list never take the keyboard focus, so the review keys
stay with the canvas.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGridLayout,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ui.class_colors import class_color

#: Side of the colour swatch beside a class name, in pixels.
SWATCH = 14


def swatch(color: QColor) -> QIcon:
    """A square icon filled with ``color``."""
    pixmap = QPixmap(SWATCH, SWATCH)
    pixmap.fill(color)
    return QIcon(pixmap)


def class_item_text(index: int, name: str, count: int) -> str:
    """``"1  raccoon (12)"``: the digit key that picks it (first nine only), name, boxes."""
    key = str(index + 1) if index < 9 else " "
    return f"{key}  {name} ({count})"


class ClassesPanel(QWidget):
    """The list of classes and the buttons that change it.

    Signals:
        add_requested(name): the user typed a new class name.
        rename_requested(old, new), merge_requested(source, target),
        delete_requested(name), move_requested(name, new index).
        class_activated(name): the user chose a class (a click) for new boxes and the
            selected box.
    """

    add_requested = Signal(str)
    rename_requested = Signal(str, str)
    merge_requested = Signal(str, str)
    delete_requested = Signal(str)
    move_requested = Signal(str, int)
    class_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget(self)
        self.list.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.itemClicked.connect(lambda item: self.class_activated.emit(self._name(item)))
        self._names: list[str] = []
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout()
        actions = [
            ("Add…", self._add),
            ("Rename…", self._rename),
            ("Merge into…", self._merge),
            ("Delete", self._delete),
            ("Up", lambda: self._move(-1)),
            ("Down", lambda: self._move(1)),
        ]
        for i, (text, slot) in enumerate(actions):
            button = QPushButton(text, self)
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.clicked.connect(lambda _checked=False, s=slot: s())
            grid.addWidget(button, i // 2, i % 2)
            self.buttons[text] = button
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list, 1)
        layout.addLayout(grid)
        self._update_buttons()

    def set_classes(self, counts: dict[str, int], current: str | None) -> None:
        """Show the classes in order with their box counts; ``current`` is selected."""
        self._names = list(counts)
        self.list.clear()
        for i, (name, count) in enumerate(counts.items()):
            item = QListWidgetItem(swatch(class_color(name)), class_item_text(i, name, count))
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.list.addItem(item)
            if name == current:
                item.setSelected(True)
                self.list.setCurrentItem(item)
        self._update_buttons()

    def names(self) -> list[str]:
        """The classes shown, in order."""
        return list(self._names)

    def selected(self) -> str | None:
        """The selected class, or None."""
        items = self.list.selectedItems()
        return self._name(items[0]) if items else None

    @staticmethod
    def _name(item: QListWidgetItem) -> str:
        return str(item.data(Qt.ItemDataRole.UserRole))

    def _update_buttons(self) -> None:
        for text in ("Rename…", "Merge into…", "Delete", "Up", "Down"):
            self.buttons[text].setEnabled(bool(self._names))

    def _ask(self, title: str, label: str, text: str = "") -> str | None:
        value, ok = QInputDialog.getText(self, title, label, text=text)
        return value if ok and value.strip() else None

    def _add(self) -> None:
        if (name := self._ask("Add a class", "Class name:")) is not None:
            self.add_requested.emit(name)

    def _rename(self) -> None:
        old = self.selected()
        if old is not None and (new := self._ask("Rename class", f"New name of {old}:", old)):
            self.rename_requested.emit(old, new)

    def _merge(self) -> None:
        source = self.selected()
        others = [n for n in self._names if n != source]
        if source is None or not others:
            return
        target, ok = QInputDialog.getItem(
            self, "Merge classes", f"Give the boxes of {source} the class:", others, 0, False
        )
        if ok:
            self.merge_requested.emit(source, target)

    def _delete(self) -> None:
        if (name := self.selected()) is not None:
            self.delete_requested.emit(name)

    def _move(self, step: int) -> None:
        name = self.selected()
        if name is not None:
            self.move_requested.emit(name, self._names.index(name) + step)
