"""Undo and redo of box edits: each edit is a snapshot pair applied through the store.

An edit is done first through the :class:`~core.store.Project` API (so it is on disk at
once); the command then remembers the box before and after. Undo and redo put the snapshot
back with :meth:`Project.restore_box` (or delete the box when the snapshot is ``None``), so
every step of an unlimited history is itself saved immediately.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from core.store import BoxRow, Project


class BoxCommand(QUndoCommand):
    """One box edit: ``before`` → ``after`` (``None`` = the box does not exist).

    Args:
        project: the store the edit was written to.
        before: the box before the edit, or ``None`` if the edit created it.
        after: the box after the edit, or ``None`` if the edit deleted it.
        changed: called with the image id after undo or redo, to refresh the view.
    """

    def __init__(
        self,
        project: Project,
        text: str,
        before: BoxRow | None,
        after: BoxRow | None,
        changed: Callable[[int], None],
    ) -> None:
        super().__init__(text)
        self.project = project
        self.before = before
        self.after = after
        self.changed = changed
        self._done = True  # the edit itself already happened before the push

    def _apply(self, row: BoxRow | None, other: BoxRow | None) -> None:
        if row is not None:
            self.project.box_records.restore_box(row)
        elif other is not None:
            self.project.box_records.delete_box(other.id)
        either = row or other
        if either is not None:  # a command always has a before or an after
            self.changed(either.image_id)

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        self._apply(self.after, self.before)

    def undo(self) -> None:
        self._apply(self.before, self.after)
