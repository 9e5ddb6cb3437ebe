"""Plain rows handed to callers of :class:`core.store.Project`, and checks of incoming values.

Boxes are ``(x1, y1, x2, y2)`` in continuous pixel edges of the image as displayed
(README "Coordinates").
"""

from __future__ import annotations

import getpass
import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from core.store.database import StoreError
from core.store.models import Box, Origin, State

BoxTuple = tuple[float, float, float, float]


#: The longest class name accepted, in characters.
MAX_CLASS_NAME = 128


class InvalidBoxError(StoreError, ValueError):
    """Box coordinates that are not finite numbers with ``x1 < x2`` and ``y1 < y2``."""


class InvalidClassNameError(StoreError, ValueError):
    """A class name that is empty, too long or holds control characters."""


class TrainingBusyError(StoreError):
    """Another annotator's app is training a model version of this project now."""


class StaleBoxError(StoreError):
    """A change of a box as an app showed it (its ``version``), refused because someone
    changed or deleted the box since (optimistic locking); nothing was saved.

    Attributes:
        box_id: the box.
        by: the user name that changed it last (None: unknown, or it was deleted).
        deleted: whether the box no longer exists.
    """

    def __init__(self, box_id: int, by: str | None, deleted: bool) -> None:
        self.box_id, self.by, self.deleted = box_id, by, deleted
        what = "deleted" if deleted else "changed"
        who = f" by {by}" if by else ""
        super().__init__(
            f"Box {box_id} was {what}{who} since you saw it: not saved, shown as it is now"
        )


@dataclass(frozen=True)
class ImageRow:
    """An image of the project.

    ``path`` is POSIX, relative to the root; ``width``/``height`` are pixels after EXIF
    orientation, None until known; ``box_count`` counts boxes that are not rejected.
    """

    id: int
    path: str
    width: int | None
    height: int | None
    status: str
    image_score: float | None
    confidence: float | None
    box_count: int


@dataclass(frozen=True)
class BoxRow:
    """A box ``(x1, y1, x2, y2)`` in pixel edges of its image, with its review state.

    ``class_name`` is one of the project's classes, or None for a proposal that no learned
    model version gave a user class; ``hint`` is then the network's guess (an ImageNet
    name). ``model_version_id`` names the learned model that proposed it (None: zero-shot
    or not a proposal); ``confidence`` is that model's probability, else the network's.
    """

    id: int
    image_id: int
    class_name: str | None
    box: BoxTuple
    origin: str
    state: str
    confidence: float | None
    method: str | None
    difficult: bool
    truncated: bool
    occluded: bool
    pose: str
    verified: bool
    hint: str | None = None
    model_version_id: int | None = None
    #: 1 when added, one more on every change: pass it back as ``seen`` to refuse a change
    #: of a box someone else changed since (see :class:`StaleBoxError`). Rows compare by
    #: what the box is, not by its version or author.
    version: int = field(default=1, compare=False)
    #: The user name that added or last changed the box (None: before revision 0003).
    updated_by: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ImageProposalRows:
    """What a proposer gave one image, to store with the others of its batch:
    ``boxes`` its proposals (None: the file could not be read) and ``size`` its width and
    height in pixels after orientation (None: unknown)."""

    image_id: int
    boxes: Sequence[BoxSpec] | None
    size: tuple[int, int] | None = None


@dataclass(frozen=True)
class BoxSpec:
    """A box to add (what a :class:`BoxRow` holds but the ids): ``box`` is
    ``(x1, y1, x2, y2)`` in pixel edges. ``class_name`` None is allowed for a proposal still
    to review only (origin ``proposal``, state ``proposed``); ``hint`` is then the network's
    guess, which never becomes a class."""

    class_name: str | None
    box: Sequence[float]
    origin: str = Origin.HUMAN
    state: str = State.ACCEPTED
    confidence: float | None = None
    method: str | None = None
    model_version_id: int | None = None
    difficult: bool = False
    truncated: bool = False
    occluded: bool = False
    pose: str = "Unspecified"
    verified: bool = True
    hint: str | None = None


def choice(value: str, allowed: Iterable[str], what: str) -> str:
    """``value`` if it is one of ``allowed``, else ValueError naming ``what`` it is."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")
    return value


def relative_path(path: str) -> str:
    """``path`` as a clean POSIX path below the root (``"./a//b.jpg"`` -> ``"a/b.jpg"``)."""
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise ValueError(f"{path!r} is not a path relative to the image folder")
    return str(pure)


def clean_class_name(name: str) -> str:
    """``name`` without surrounding white space, checked: InvalidClassNameError when it is
    empty, longer than :data:`MAX_CLASS_NAME` characters or holds a control character
    (a newline, a tab, NUL...), which no export format can store."""
    if not isinstance(name, str):
        raise InvalidClassNameError(f"a class name must be text, not {type(name).__name__}")
    cleaned = name.strip()
    if not cleaned:
        raise InvalidClassNameError("a class name cannot be empty")
    if len(cleaned) > MAX_CLASS_NAME:
        raise InvalidClassNameError(
            f"class name {cleaned[:20]!r}... is {len(cleaned)} characters long; "
            f"at most {MAX_CLASS_NAME} are allowed"
        )
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in cleaned):
        raise InvalidClassNameError(f"class name {cleaned!r} holds a control character")
    return cleaned


#: The longest user name accepted, in characters.
MAX_USER_NAME = 128


def login_name() -> str:
    """The default user name of an app: the login name (``"unknown"`` when there is none)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no LOGNAME/USER and no password-file entry
        return "unknown"


def clean_user_name(name: str) -> str:
    """``name`` stripped; ValueError when empty, too long or holding a control character."""
    cleaned = name.strip() if isinstance(name, str) else ""
    if not cleaned or len(cleaned) > MAX_USER_NAME or not cleaned.isprintable():
        raise ValueError(f"user name {name!r} must be 1 to {MAX_USER_NAME} printable characters")
    return cleaned


def coordinates(box: Sequence[float]) -> BoxTuple:
    """``box`` as four floats; InvalidBoxError unless finite with x1 < x2 and y1 < y2."""
    values = tuple(float(v) for v in box)
    if len(values) != 4 or not all(map(math.isfinite, values)):
        raise InvalidBoxError(f"box {tuple(box)} is not four finite numbers (x1, y1, x2, y2)")
    x1, y1, x2, y2 = values
    if x1 >= x2 or y1 >= y2:
        raise InvalidBoxError(f"box {values} is empty or inverted: x1 < x2 and y1 < y2 needed")
    return x1, y1, x2, y2


def box_row(box: Box, name: str | None) -> BoxRow:
    """The caller's copy of an ORM box of class ``name`` (None: no class yet)."""
    return BoxRow(
        id=box.id,
        image_id=box.image_id,
        class_name=name,
        box=(box.x1, box.y1, box.x2, box.y2),
        origin=box.origin,
        state=box.state,
        confidence=box.confidence,
        method=box.method,
        difficult=box.difficult,
        truncated=box.truncated,
        occluded=box.occluded,
        pose=box.pose,
        verified=box.verified,
        hint=box.hint,
        model_version_id=box.model_version_id,
        version=box.version,
        updated_by=box.updated_by,
    )


@dataclass(frozen=True)
class ModelVersionRow:
    """A learned model version.

    Attributes:
        path: its file as stored: relative to the database folder when inside it.
        file: the same file, absolute.
        classes: the user classes it knows, in output order.
        metrics: what its training run measured (see ``core.learning.trainer``).
        created_at: aware UTC time it was added.
    """

    id: int
    path: str
    file: Path
    backbone: str
    classes: tuple[str, ...]
    metrics: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class TrainingRunRow:
    """One fine-tuning run: ``status`` is ``running``, ``done``, ``failed`` or ``cancelled``."""

    id: int
    status: str
    params: dict[str, Any]
    metrics: dict[str, Any] | None
    model_version_id: int | None
    started_at: datetime
    finished_at: datetime | None
    #: Who runs it (None: before revision 0004) and until when a running one counts as
    #: alive (aware UTC).
    user_name: str | None = None
    lease_until: datetime | None = None


@dataclass(frozen=True)
class LabelledImageRow:
    """An image with its accepted (or edited) boxes, what training reads.

    Attributes:
        path: POSIX, relative to the project root.
        width, height: pixels after EXIF orientation, None until known.
        boxes: ``(x1, y1, x2, y2)`` pixel edges, in creation order.
        labels: the class name of each box.
    """

    image_id: int
    path: str
    width: int | None
    height: int | None
    boxes: tuple[BoxTuple, ...]
    labels: tuple[str, ...]
