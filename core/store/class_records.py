"""The annotator's classes of a :class:`~core.store.project.Project`: list, add, rename,
merge, delete and reorder them.

:class:`ClassRecords` is held by ``Project`` (``project.class_records``) and shares its
:class:`~core.store.sessions.Sessions`: each method is one transaction.
Names are checked by :func:`core.store.rows.clean_class_name`
(stripped; not empty, at most 128 characters, no control characters).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.store import boxes as box_changes
from core.store.database import StoreError
from core.store.models import LABEL_STATES, Box, LabelClass
from core.store.rows import clean_class_name
from core.store.sessions import Sessions


class ClassInUseError(StoreError):
    """A class that boxes still use was to be deleted; ``count`` says how many."""

    def __init__(self, name: str, count: int) -> None:
        super().__init__(f"class {name!r} is used by {count} box{'es' if count != 1 else ''}")
        self.count = count


class ClassRecords:
    """The class calls of ``Project`` (see its module docstring for errors)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    def classes(self) -> list[str]:
        """The project's class names in their order (keys 1-9 pick the first nine)."""
        with self._sessions.transaction() as s:
            query = select(LabelClass.name).order_by(LabelClass.position, LabelClass.id)
            return list(s.scalars(query))

    def class_counts(self) -> dict[str, int]:
        """Class name → how many accepted or edited boxes carry it, in class order."""
        counted = (
            select(LabelClass.name, func.count(Box.id))
            .outerjoin(Box, (Box.class_id == LabelClass.id) & Box.state.in_(LABEL_STATES))
            .group_by(LabelClass.id)
            .order_by(LabelClass.position, LabelClass.id)
        )
        with self._sessions.transaction() as s:
            return {name: count for name, count in s.execute(counted)}

    def ensure_class(self, name: str) -> int:
        """The id of class ``name`` (checked and stripped), added last if new."""
        with self._sessions.transaction(write=True) as s:
            return box_changes.class_id(s, clean_class_name(name))

    def add_classes(self, names: Iterable[str]) -> list[str]:
        """Add classes in order (known ones are kept where they are), in one transaction;
        returns the cleaned names. One invalid name adds none."""
        cleaned = [clean_class_name(n) for n in names]
        with self._sessions.transaction(write=True) as s:
            for name in cleaned:
                box_changes.class_id(s, name)
        return cleaned

    def _class(self, s: Session, name: str) -> LabelClass:
        found = s.scalar(select(LabelClass).where(LabelClass.name == clean_class_name(name)))
        if found is None:
            raise KeyError(f"no class {name!r}")
        return found

    def rename_class(self, old: str, new: str) -> str:
        """Rename a class; every box of it follows. Returns the cleaned new name.

        Raises:
            KeyError: no class ``old``.
            ValueError: ``new`` is another existing class (merge instead) or invalid.
        """
        with self._sessions.transaction(write=True) as s:
            label = self._class(s, old)
            cleaned = clean_class_name(new)
            other = s.scalar(select(LabelClass.id).where(LabelClass.name == cleaned))
            if other is not None and other != label.id:
                raise ValueError(f"class {cleaned!r} exists already; merge the two instead")
            label.name = cleaned
        return cleaned

    def merge_class(self, source: str, target: str) -> int:
        """Give every box of ``source`` class ``target`` and remove ``source``; returns how
        many boxes moved. KeyError when either class does not exist."""
        with self._sessions.transaction(write=True) as s:
            from_class, to_class = self._class(s, source), self._class(s, target)
            if from_class.id == to_class.id:
                return 0
            moved: int = s.execute(  # type: ignore[attr-defined]  # an UPDATE's CursorResult
                update(Box)
                .where(Box.class_id == from_class.id)
                .values(class_id=to_class.id, updated_by=box_changes.user_of(s))
            ).rowcount
            s.delete(from_class)
        self._renumber()
        return moved

    def delete_class(self, name: str, delete_boxes: bool = False) -> int:
        """Remove a class; returns how many of its boxes were deleted.

        Proposals still to review lose the class (it becomes their hint). Accepted, edited,
        drawn or imported boxes of the class refuse the deletion (ClassInUseError with
        their count) unless ``delete_boxes``, which deletes them (logged as ``delete``).
        """
        with self._sessions.transaction(write=True) as s:
            label = self._class(s, name)
            used = list(s.scalars(select(Box).where(Box.class_id == label.id)))
            labelled = [b for b in used if (b.origin, b.state) != ("proposal", "proposed")]
            if labelled and not delete_boxes:
                raise ClassInUseError(label.name, len(labelled))
            for box in used:
                if box in labelled:
                    box_changes.delete(s, box.id)
                else:
                    box.class_id, box.hint = None, label.name
                    box.updated_by = box_changes.user_of(s)
            s.flush()
            s.delete(label)
        self._renumber()
        return len(labelled)

    def move_class(self, name: str, index: int) -> None:
        """Put class ``name`` at ``index`` of :meth:`classes` (clamped)."""
        names = self.classes()
        cleaned = clean_class_name(name)
        if cleaned not in names:
            raise KeyError(f"no class {name!r}")
        names.remove(cleaned)
        names.insert(max(0, min(index, len(names))), cleaned)
        self._renumber(names)

    def _renumber(self, order: list[str] | None = None) -> None:
        """Positions 0, 1, ... in ``order`` (default: the current order)."""
        names = self.classes() if order is None else order
        with self._sessions.transaction(write=True) as s:
            for position, name in enumerate(names):
                s.execute(
                    update(LabelClass).where(LabelClass.name == name).values(position=position)
                )
