"""The class field above the image: pick a class, or type a name and press Return.

Only Return makes typed text a choice; Escape, or leaving the field, drops it. Either way
the keys go back to the canvas, so a review key is never typed into a class name.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QComboBox, QCompleter, QWidget


class ClassField(QObject):
    """An editable combo box of the project's classes and what it lets the user choose.

    Args:
        parent: the widget the combo box belongs to.
        focus_canvas: gives the keyboard back to the canvas.

    Signals:
        chosen(name): a class of the list, or a new name typed and confirmed with Return
            (the application adds it and calls :meth:`set_classes`).
    """

    chosen = Signal(str)

    def __init__(self, parent: QWidget, focus_canvas: Callable[[], None]) -> None:
        super().__init__(parent)
        self._focus_canvas = focus_canvas
        combo = self.combo = QComboBox(parent)
        combo.setEditable(True)
        combo.setMinimumContentsLength(16)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.setToolTip("The class of new boxes: pick one, or type a new name and press Return")
        completer = QCompleter(combo.model(), combo)
        completer.setCompletionMode(QCompleter.CompletionMode.InlineCompletion)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        combo.setCompleter(completer)  # inline: no popup that could swallow Return
        combo.activated.connect(self._picked_from_list)
        combo.installEventFilter(self)  # the line edit's focus proxy: its keys come here
        self._class = ""  # the class chosen last, what current() returns
        self._committing = False  # while the field hands the keys back to the canvas

    def set_classes(self, names: list[str], current: str | None) -> str:
        """Offer ``names``; ``current`` (else the one chosen before, else the first) is
        chosen, and returned ("" when there is no class)."""
        known = [name for name in (current, self._class) if name in names]
        chosen = known[0] if known else names[0] if names else ""
        with QSignalBlocker(self.combo):
            self.combo.clear()
            self.combo.addItems(names)
            self.combo.setCurrentIndex(names.index(chosen) if chosen else -1)
            self.combo.setEditText(chosen)
        self._class = chosen
        return chosen

    def current(self) -> str:
        """The class chosen last ("" when none); text typed but not confirmed is not one."""
        return self._class

    def choose_index(self, index: int) -> None:
        """Choose the ``index``-th class (digit keys, the drop-down)."""
        if 0 <= index < self.combo.count():
            self.choose(self.combo.itemText(index))

    def _picked_from_list(self, index: int) -> None:
        """The drop-down's choice; not the one an editable combo box reports by itself
        when it loses the focus with a known name typed in it."""
        if not self._committing:
            self.choose_index(index)

    def choose(self, name: str) -> None:
        """Choose a class of the list (the application may add a new one and call
        :meth:`set_classes`), then give the keys back to the canvas."""
        if self.combo.findText(name, Qt.MatchFlag.MatchExactly) >= 0:
            self._class = name
            self._revert_class_field()
        self.chosen.emit(name)
        self._give_keys_back()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """In the field, Return confirms the typed name and Escape cancels it; both
        give the keys back to the canvas. Leaving the field any other way drops what was
        typed, so a half-typed name never becomes a class."""
        keys = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape)
        if isinstance(event, QKeyEvent) and event.key() in keys:
            if event.type() == QEvent.Type.ShortcutOverride:
                event.accept()  # the window's Return (accept) does not fire here
                return True
            if event.type() == QEvent.Type.KeyPress:
                if event.key() == Qt.Key.Key_Escape:
                    self._revert_class_field()
                    self._give_keys_back()
                else:
                    self._on_class_typed()
                return True
        if event.type() == QEvent.Type.FocusIn:  # typing replaces the name shown
            field = self.combo.lineEdit()
            if field is not None:
                QTimer.singleShot(0, field.selectAll)
        if event.type() == QEvent.Type.FocusOut:
            self._revert_class_field()
        return super().eventFilter(watched, event)

    def _give_keys_back(self) -> None:
        """Focus the canvas, ignoring the choice the class field reports as it loses focus."""
        self._committing = True
        try:
            self._focus_canvas()
        finally:
            self._committing = False

    def _revert_class_field(self) -> None:
        with QSignalBlocker(self.combo):
            self.combo.setEditText(self._class)

    def _on_class_typed(self) -> None:
        name = self.combo.currentText().strip()
        found = self.combo.findText(name, Qt.MatchFlag.MatchFixedString)
        if found >= 0:
            name = self.combo.itemText(found)  # "Raccoon" picks "raccoon"
        if name:
            self.choose(name)
        self._revert_class_field()
        self._give_keys_back()
