"""Changes to boxes inside an open session, each logged as an Event in the same transaction.

:class:`core.store.Project` runs each of these in its own write transaction. Boxes are
``(x1, y1, x2, y2)`` in continuous pixel edges of the image as displayed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.store.models import ORIGINS, STATES, Box, Event, Image, LabelClass
from core.store.rows import (
    BoxRow,
    BoxSpec,
    StaleBoxError,
    choice,
    clean_class_name,
    coordinates,
)


def class_id(s: Session, name: str) -> int:
    """The id of class ``name`` (already cleaned), created last in the order if new."""
    found = s.scalar(select(LabelClass.id).where(LabelClass.name == name))
    if found is not None:
        return found
    last = s.scalar(select(func.max(LabelClass.position)))
    label = LabelClass(name=name, position=0 if last is None else last + 1)
    s.add(label)
    s.flush()
    return label.id


def class_name_of(s: Session, box: Box) -> str | None:
    """The name of the box's class, None when it has none."""
    return None if box.class_id is None else s.get_one(LabelClass, box.class_id).name


def _detail(box: Box, name: str | None) -> dict[str, Any]:
    """What the event log keeps of a box: class, coordinates and state."""
    return {"class": name, "box": [box.x1, box.y1, box.x2, box.y2], "state": box.state}


def get(s: Session, box_id: int, seen: int | None = None) -> tuple[Box, str | None]:
    """The box and its class name (None: none yet).

    ``seen`` is the version the caller showed (None: no check): StaleBoxError when the box
    has another version now or was deleted. KeyError if there is no such box otherwise.
    """
    box = s.get(Box, box_id)
    if box is None:
        if seen is not None:
            raise StaleBoxError(box_id, None, deleted=True)
        raise KeyError(f"no box with id {box_id}")
    if seen is not None and box.version != seen:
        raise StaleBoxError(box_id, box.updated_by, deleted=False)
    return box, class_name_of(s, box)


def _classless_allowed(origin: str, state: str) -> None:
    """Only a proposal still to review may lack a class: ValueError otherwise."""
    if (origin, state) != ("proposal", "proposed"):
        raise ValueError(f"a box that is {origin}/{state} needs a class")


def user_of(s: Session) -> str | None:
    """The app's user name the session writes (see :class:`core.store.sessions.Sessions`)."""
    return s.info.get("user")


#: Actions that log a box as it is added (version 1); every other one changes it.
ADDED = ("add", "import")


def _log(s: Session, box: Box, action: str, detail: dict[str, Any]) -> None:
    """Log an event of the session's user; the box was changed by them (its version grows,
    except when it is being added)."""
    user = user_of(s)
    box.updated_by = user
    if action not in ADDED:
        box.version = (box.version or 0) + 1
    s.add(Event(image_id=box.image_id, box_id=box.id, action=action, detail=detail, user_name=user))


def _new(s: Session, image_id: int, spec: BoxSpec) -> tuple[Box, str | None]:
    """A checked, unsaved box and its class name."""
    x1, y1, x2, y2 = coordinates(spec.box)
    confidence, origin, state = spec.confidence, spec.origin, spec.state
    if confidence is not None and not math.isfinite(confidence):
        raise ValueError(f"confidence {confidence} is not a finite number")
    name = None if spec.class_name is None else clean_class_name(spec.class_name)
    if name is None:
        _classless_allowed(origin, state)
    new = Box(
        image_id=image_id,
        class_id=None if name is None else class_id(s, name),
        hint=spec.hint,
        x1=x1,
        y1=y1,
        x2=x2,
        y2=y2,
        origin=choice(origin, ORIGINS, "origin"),
        state=choice(state, STATES, "state"),
        confidence=confidence,
        method=spec.method,
        model_version_id=spec.model_version_id,
        difficult=spec.difficult,
        truncated=spec.truncated,
        occluded=spec.occluded,
        pose=spec.pose,
        verified=spec.verified,
        updated_by=user_of(s),
    )
    return new, name


def add(s: Session, image_id: int, specs: Sequence[BoxSpec]) -> list[int]:
    """Add boxes to one image; each is logged as ``import`` (origin imported) or ``add``."""
    if s.get(Image, image_id) is None:
        raise KeyError(f"no image with id {image_id}")
    new = [_new(s, image_id, spec) for spec in specs]
    s.add_all(box for box, _ in new)
    s.flush()
    for box, name in new:
        action = "import" if box.origin == "imported" else "add"
        _log(s, box, action, {**_detail(box, name), "origin": box.origin})
    return [box.id for box, _ in new]


def review(
    s: Session,
    box_id: int,
    state: str,
    action: str,
    class_name: str | None = None,
    seen: int | None = None,
) -> None:
    """Accept or reject a box; a human has then checked it (``verified``). Accepting an
    ``edited`` box keeps it ``edited``, which counts as accepted. ``class_name`` gives the
    box that class first (a proposal that has none needs one to be accepted). ``seen``:
    the version shown (see :func:`get`)."""
    box, name = get(s, box_id, seen)
    detail: dict[str, Any] = {"from": box.state}
    if class_name is not None:
        name = clean_class_name(class_name)
        if box.class_id != (new_id := class_id(s, name)):
            detail["class"] = {"from": class_name_of(s, box), "to": name}
            box.class_id = new_id
    if state == "accepted" and name is None:
        raise ValueError(f"box {box_id} has no class yet: give it one to accept it")
    if not (state == "accepted" and box.state == "edited"):
        box.state = state
    box.verified = True
    _log(s, box, action, detail)


def edit(
    s: Session,
    box_id: int,
    coords: Sequence[float] | None,
    class_name: str | None,
    seen: int | None = None,
) -> None:
    """Move and/or relabel a box; it becomes ``edited`` unless drawn by hand (``accepted``).
    ``seen``: the version shown (see :func:`get`)."""
    if coords is None and class_name is None:
        raise ValueError("an edit needs a new box or a new class name")
    box, name = get(s, box_id, seen)
    before = _detail(box, name)
    if coords is not None:
        box.x1, box.y1, box.x2, box.y2 = coordinates(coords)
    if class_name is not None:
        name = clean_class_name(class_name)
        box.class_id = class_id(s, name)
    if name is None:
        raise ValueError(f"box {box_id} has no class yet: give it one with the edit")
    box.state = "accepted" if box.origin == "human" else "edited"
    box.verified = True
    _log(s, box, "edit", {"before": before, "after": _detail(box, name)})


def set_flags(
    s: Session,
    box_id: int,
    difficult: bool | None,
    truncated: bool | None,
    seen: int | None = None,
) -> None:
    """Set VOC's ``difficult`` and/or ``truncated`` flag (None leaves one as it is); logged
    as ``flag`` with both values before and after. The box's state does not change.
    ``seen``: the version shown (see :func:`get`)."""
    box, _name = get(s, box_id, seen)
    before = {"difficult": box.difficult, "truncated": box.truncated}
    if difficult is not None:
        box.difficult = difficult
    if truncated is not None:
        box.truncated = truncated
    after = {"difficult": box.difficult, "truncated": box.truncated}
    _log(s, box, "flag", {"from": before, "to": after})


def restore(s: Session, row: BoxRow, seen: int | None = None) -> None:
    """Put a box back exactly as ``row`` describes it, under the same id, whether it was
    changed or deleted since (undo and redo); logged as ``restore``. ``seen``: the version
    the caller believes the box has now, 0 for "deleted" (None: no check); StaleBoxError
    when it differs. A box put back after a deletion continues from ``row``'s version, so
    no version an app showed comes back."""
    label = None if row.class_name is None else class_id(s, clean_class_name(row.class_name))
    if label is None:
        _classless_allowed(row.origin, row.state)
    box = s.get(Box, row.id)
    if seen is not None and (0 if box is None else box.version) != seen:
        raise StaleBoxError(row.id, None if box is None else box.updated_by, box is None)
    if box is None:
        if s.get(Image, row.image_id) is None:
            raise KeyError(f"no image with id {row.image_id}")
        box = Box(id=row.id, image_id=row.image_id, class_id=label, version=row.version)
    box.class_id = label
    box.x1, box.y1, box.x2, box.y2 = coordinates(row.box)
    box.origin = choice(row.origin, ORIGINS, "origin")
    box.state = choice(row.state, STATES, "state")
    box.confidence, box.method = row.confidence, row.method
    box.difficult, box.truncated, box.occluded = row.difficult, row.truncated, row.occluded
    box.pose, box.verified = row.pose, row.verified
    box.hint = row.hint
    s.add(box)
    s.flush()
    _log(s, box, "restore", _detail(box, row.class_name))


def delete(s: Session, box_id: int, seen: int | None = None) -> None:
    """Remove a box; the event log keeps its class, coordinates and state. ``seen``: the
    version shown (see :func:`get`)."""
    box, name = get(s, box_id, seen)
    _log(s, box, "delete", _detail(box, name))
    s.delete(box)
