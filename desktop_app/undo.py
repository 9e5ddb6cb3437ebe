"""Undo and redo of box edits: each edit is a snapshot pair applied through the store.

An edit is done first through the :class:`~core.store.Project` API (so it is on disk at
once); the command then remembers the box before and after. Undo and redo put the snapshot
back with :meth:`Project.restore_box` (or delete the box when the snapshot is ``None``), so
every step of an unlimited history is itself saved immediately.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from core.store import BoxRow, Project, StaleBoxError


class BoxCommand(QUndoCommand):
    """One box edit: ``before`` → ``after`` (``None`` = the box does not exist).

    Undo applies only to a box that is as ``after`` left it, redo only to one as ``before``
    (compared by content; the version read is then checked by the store, so nobody's change
    slips in between): when someone else changed it since, the step is refused
    (``refused`` is called with the error) and dropped from the history (made obsolete),
    and the box stays as they left it.

    Args:
        project: the store the edit was written to.
        before: the box before the edit, or ``None`` if the edit created it.
        after: the box after the edit, or ``None`` if the edit deleted it.
        changed: called with the image id after undo or redo, to refresh the view.
        refused: called when undo or redo was refused (see above).
    """

    def __init__(
        self,
        project: Project,
        text: str,
        before: BoxRow | None,
        after: BoxRow | None,
        changed: Callable[[int], None],
        refused: Callable[[StaleBoxError], None] | None = None,
    ) -> None:
        super().__init__(text)
        self.project = project
        self.before = before
        self.after = after
        self.changed = changed
        self.refused = refused
        self._done = True  # the edit itself already happened before the push

    def _apply(self, row: BoxRow | None, other: BoxRow | None) -> None:
        """Make the box ``row`` (None: delete it), if it is ``other`` now."""
        either = row or other
        assert either is not None  # a command always has a before or an after
        records = self.project.box_records
        now = next((b for b in records.boxes(either.image_id) if b.id == either.id), None)
        try:
            if now != other:
                raise StaleBoxError(
                    either.id, None if now is None else now.updated_by, deleted=now is None
                )
            seen = 0 if now is None else now.version
            if row is not None:
                records.restore_box(row, seen=seen)
            elif now is not None:
                records.delete_box(now.id, seen=seen)
        except StaleBoxError as exc:
            self.setObsolete(True)
            if self.refused is not None:
                self.refused(exc)
            return
        self.changed(either.image_id)

    def redo(self) -> None:
        if self._done:
            self._done = False
            return
        self._apply(self.after, self.before)

    def undo(self) -> None:
        self._apply(self.before, self.after)
