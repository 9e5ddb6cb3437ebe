"""Boxes and the event log of a :class:`~core.store.project.Project`.

:class:`BoxRecords` is held by ``Project`` (``project.box_records``) and shares its
:class:`~core.store.sessions.Sessions`: each method is one transaction and, when it changes
a box, logs an event in the same transaction.

Optimistic locking: every box has a ``version`` (:attr:`~core.store.rows.BoxRow.version`),
1 when added and one more on every change. A change given ``seen=`` (the version the app
showed) is refused with :class:`~core.store.rows.StaleBoxError` when someone changed or
deleted the box since; without ``seen`` it applies to the box as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, select

from core.store import boxes as box_changes
from core.store import queries
from core.store.claim_records import claims_of_others
from core.store.models import Event, Image
from core.store.rows import BoxRow, BoxSpec, ImageProposalRows, box_row
from core.store.sessions import Sessions


class BoxRecords:
    """The box calls of ``Project`` (see its module docstring for errors)."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    # --- boxes: each call is one transaction that also logs an event ---------------------------

    def add_box(
        self, image_id: int, class_name: str | None, box: Sequence[float], **fields: Any
    ) -> int:
        """Add one box ``(x1, y1, x2, y2)`` in pixel edges; ``fields`` are the other fields
        of :class:`~core.store.rows.BoxSpec` (origin, state, confidence, flags, hint...).
        Returns its id.

        Raises:
            InvalidBoxError: coordinates not finite or not x1 < x2 and y1 < y2.
            ValueError: unknown origin or state, an invalid class name
                (InvalidClassNameError), no class for a box that needs one.
            KeyError: no such image.
        """
        return self.add_boxes(image_id, [BoxSpec(class_name, box, **fields)])[0]

    def add_boxes(self, image_id: int, boxes: Sequence[BoxSpec]) -> list[int]:
        """Add many boxes to one image in one transaction; returns their ids in order.

        Boxes of origin ``imported`` are logged as ``import``, others as ``add``. One bad
        box adds none (the errors of :meth:`add_box`).
        """
        with self._sessions.transaction(write=True) as s:
            return box_changes.add(s, image_id, boxes)

    def replace_proposals(self, image_id: int, boxes: Sequence[BoxSpec]) -> list[int]:
        """In one transaction, delete the image's unreviewed proposals (origin ``proposal``,
        state ``proposed``) and add ``boxes`` (as for :meth:`add_boxes`); what a person
        reviewed or drew stays. Returns the new ids."""
        stale = queries.boxes(image_id, ["proposed"])
        with self._sessions.transaction(write=True) as s:
            for box, _name in s.execute(stale).all():
                if box.origin == "proposal":
                    box_changes.delete(s, box.id)
            return box_changes.add(s, image_id, boxes) if boxes else []

    def store_proposal_batch(self, batch: Sequence[ImageProposalRows]) -> dict[int, str]:
        """Store a batch of images' proposals in one transaction: for each image, its
        still-proposed proposals are replaced by ``boxes`` (what a person reviewed or drew
        stays), its size is set if unknown, and it becomes ``proposed`` if it was ``new``
        or ``unreadable``; an image whose ``boxes`` is None becomes ``unreadable`` (unless
        a person reviewed it). Images another user holds a claim on are left alone: their
        boxes must not change under that annotator's hand.

        Returns the images left alone: ``image id -> who holds it``. KeyError: no such
        image (then nothing is stored).
        """
        with self._sessions.transaction(write=True) as s:
            held = {
                i: c.user_name
                for i, c in claims_of_others(
                    s, self._sessions.user, [i.image_id for i in batch]
                ).items()
            }
            for item in batch:
                if item.image_id in held:
                    continue
                image = s.get(Image, item.image_id)
                if image is None:
                    raise KeyError(f"no image with id {item.image_id}")
                if item.boxes is None:
                    if image.status in ("new", "proposed"):
                        image.status = "unreadable"
                    continue
                stale = queries.boxes(item.image_id, ["proposed"])
                for box, _name in s.execute(stale).all():
                    if box.origin == "proposal":
                        box_changes.delete(s, box.id)
                if item.boxes:
                    box_changes.add(s, item.image_id, item.boxes)
                if item.size is not None and (image.width is None or image.height is None):
                    image.width, image.height = (int(v) for v in item.size)
                if image.status in ("new", "unreadable"):
                    image.status = "proposed"
            return held

    def accept_box(
        self, box_id: int, class_name: str | None = None, *, seen: int | None = None
    ) -> None:
        """Accept a box (an ``edited`` box stays ``edited``, which counts as accepted),
        first giving it class ``class_name`` when given. A proposal without a class needs
        one: ValueError without it."""
        with self._sessions.transaction(write=True) as s:
            box_changes.review(s, box_id, "accepted", "accept", class_name, seen)

    def reject_box(self, box_id: int, *, seen: int | None = None) -> None:
        with self._sessions.transaction(write=True) as s:
            box_changes.review(s, box_id, "rejected", "reject", seen=seen)

    def edit_box(
        self,
        box_id: int,
        box: Sequence[float] | None = None,
        class_name: str | None = None,
        *,
        seen: int | None = None,
    ) -> None:
        """Move and/or relabel a box. One not drawn by hand (a proposal, an imported box)
        becomes ``edited``, which counts as accepted; one drawn by hand stays ``accepted``."""
        with self._sessions.transaction(write=True) as s:
            box_changes.edit(s, box_id, box, class_name, seen)

    def set_flags(
        self,
        box_id: int,
        *,
        difficult: bool | None = None,
        truncated: bool | None = None,
        seen: int | None = None,
    ) -> None:
        """Set a box's VOC ``difficult`` and/or ``truncated`` flag (None: leave it)."""
        with self._sessions.transaction(write=True) as s:
            box_changes.set_flags(s, box_id, difficult, truncated, seen)

    def delete_box(self, box_id: int, *, seen: int | None = None) -> None:
        """Remove a box; the event log keeps its class, coordinates and state."""
        with self._sessions.transaction(write=True) as s:
            box_changes.delete(s, box_id, seen)

    def restore_box(self, row: BoxRow, *, seen: int | None = None) -> BoxRow:
        """Put a box back as ``row`` (an earlier :meth:`boxes` result) describes it, under
        its id, even if it was deleted since: what undo and redo use. ``seen``: the version
        the caller believes the box has now (0: deleted). Returns the box as it now is."""
        with self._sessions.transaction(write=True) as s:
            box_changes.restore(s, row, seen)
            box, name = box_changes.get(s, row.id)
            return box_row(box, name)

    def boxes(self, image_id: int, states: Iterable[str] | None = None) -> list[BoxRow]:
        """The boxes of an image in creation order, optionally only those in ``states``."""
        query = queries.boxes(image_id, states)
        with self._sessions.transaction() as s:
            return [box_row(box, name) for box, name in s.execute(query)]

    def images_changed_since(self, event_id: int) -> tuple[int, list[int]]:
        """The newest event id and the images whose boxes changed after event
        ``event_id`` (by anyone: what another app needs to redraw), in id order."""
        with self._sessions.transaction() as s:
            newest = s.scalar(select(func.max(Event.id))) or 0
            query = select(Event.image_id).where(Event.id > event_id).distinct()
            return newest, sorted(int(i) for i in s.scalars(query))

    def events(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The event log, newest first: id, at (aware UTC datetime), image_id, box_id,
        action, detail, user_name (who did it; None before schema revision 0003)."""
        columns = (
            Event.id,
            Event.at,
            Event.image_id,
            Event.box_id,
            Event.action,
            Event.detail,
            Event.user_name,
        )
        query = select(*columns).order_by(Event.id.desc()).limit(limit)
        with self._sessions.transaction() as s:
            return [dict(row._mapping) for row in s.execute(query)]
