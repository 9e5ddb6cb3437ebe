"""File > Open recent: the projects opened lately (files or database URLs), latest first,
kept in the user settings (key ``recent``)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMenu

from ui.user_settings import settings

#: Entries File > Open recent keeps.
MAX_RECENT = 8


class RecentProjects:
    """The list behind ``menu``; choosing an entry calls ``open_project(entry)``."""

    def __init__(self, menu: QMenu, open_project: Callable[[str], None]) -> None:
        self.menu = menu
        self._open = open_project
        self._fill()

    def paths(self) -> list[str]:
        """Recently opened projects, latest first."""
        value = settings().value("recent", [])
        return [str(p) for p in value] if isinstance(value, list) else [str(value)] if value else []

    def add(self, path: str) -> None:
        """Put a project at the top (at most :data:`MAX_RECENT`, no duplicates)."""
        paths = [path, *(p for p in self.paths() if p != path)][:MAX_RECENT]
        settings().setValue("recent", paths)
        self._fill()

    def _fill(self) -> None:
        self.menu.clear()
        paths = self.paths()
        for path in paths:
            action = self.menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self._open(p))
        self.menu.setEnabled(bool(paths))
