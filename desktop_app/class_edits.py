"""The classes panel's changes: add from a classes file, rename, merge, delete, reorder.

Each goes to the store, then the screen shows the classes again from the store. Undo does
not cover class changes; a change that rewrites boxes clears the undo stack, whose rows
name the old classes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtGui import QUndoStack

from core.formats.classes_file import read_classes_file
from core.store import Project, StoreError
from core.store.class_records import ClassInUseError
from desktop_app.box_edits import CURRENT_CLASS_KEY
from ui.main_window import MainWindow


class ClassesScreen(Protocol):
    """What the class editor needs of the screen that holds it (the review controller)."""

    def refresh_classes(self, current: str | None = None) -> None: ...
    def reload_list(self) -> None: ...


class ClassEditor:
    """Changes to the project's classes asked for in the window; held by
    :class:`~desktop_app.controller.Controller`."""

    def __init__(
        self, project: Project, window: MainWindow, undo_stack: QUndoStack, screen: ClassesScreen
    ) -> None:
        self.project = project
        self.window = window
        self.undo_stack = undo_stack
        self.screen = screen

    def import_classes_file(self, path: str) -> None:
        """Add the classes of a file with one name a line; bad lines are reported."""
        try:
            read = read_classes_file(path)
            self.project.class_records.add_classes(read.names)
        except (OSError, ValueError, StoreError) as exc:
            self.window.show_error(str(exc))
            return
        for line in read.problems:
            self.window.show_error(line)
        self.screen.refresh_classes()
        self.window.statusBar().showMessage(f"{len(read.names)} classes read from {path}", 5000)

    def _class_change(self, change: Callable[[], object]) -> bool:
        try:
            change()
        except (KeyError, ValueError, StoreError) as exc:
            self.window.show_error(exc.args[0] if isinstance(exc, KeyError) else str(exc))
            return False
        return True

    def rename_class(self, old: str, new: str) -> None:
        """Rename a class; its boxes follow. Undo does not cover class changes."""
        if self._class_change(lambda: self.project.class_records.rename_class(old, new)):
            if self.window.current_class() == old:
                self.project.set_setting(CURRENT_CLASS_KEY, new.strip())
            self.undo_stack.clear()  # its box rows name the old class
            self.screen.refresh_classes(new.strip() if self.window.current_class() == old else None)

    def merge_class(self, source: str, target: str) -> None:
        if self._class_change(lambda: self.project.class_records.merge_class(source, target)):
            self.undo_stack.clear()
            self.screen.refresh_classes(target if self.window.current_class() == source else None)
            self.screen.reload_list()

    def delete_class(self, name: str) -> None:
        """Delete a class; when boxes use it, only after a confirmation that says how many
        (they are deleted with it)."""
        try:
            self.project.class_records.delete_class(name)
        except ClassInUseError as exc:
            question = f"{exc.count} boxes have the class {name}. Delete the class and them?"
            if not self.window.confirm("Delete class", question):
                return
            if not self._class_change(lambda: self.project.class_records.delete_class(name, True)):
                return
        except (KeyError, StoreError) as exc:
            self.window.show_error(str(exc))
            return
        self.undo_stack.clear()
        self.screen.refresh_classes()
        self.screen.reload_list()

    def move_class(self, name: str, index: int) -> None:
        if self._class_change(lambda: self.project.class_records.move_class(name, index)):
            self.screen.refresh_classes()
