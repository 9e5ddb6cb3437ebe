"""Tables of a project database, as SQLAlchemy 2 declarative models.

Box coordinates ``(x1, y1, x2, y2)`` are continuous pixel edges of the image as displayed
(EXIF orientation applied, see README "Coordinates"); image sizes are in pixels after
orientation too. Timestamps are stored as naive UTC and read back as aware UTC datetimes.

Changing a model needs a new Alembic revision in ``core/store/migrations/versions``;
``tests/unit/core/store/test_store_safety.py`` checks that models and migrations agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, ForeignKey, Index, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

#: Review status of an image, in workflow order; ``unreadable``: the file cannot be decoded
#: (never exported, shown with the reason).
STATUSES = ("new", "proposed", "in_review", "done", "skipped", "unreadable")


class Origin(StrEnum):
    """Where a box came from (stored as its value; equal to that string)."""

    HUMAN = "human"
    PROPOSAL = "proposal"
    IMPORTED = "imported"


class State(StrEnum):
    """Review state of a box; ``edited`` (a corrected proposal) counts as accepted."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EDITED = "edited"


#: Where a box came from, and its review states, as the strings stored.
ORIGINS = tuple(Origin)
STATES = tuple(State)
#: The states of a label: what a person accepted, as is or edited. What exports write,
#: training learns from and class counts count.
LABEL_STATES = (State.ACCEPTED, State.EDITED)

#: Constraint names that Alembic's batch mode can find again on SQLite.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime, stored naive because SQLite has no time zones."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[str]: JSON}


class Setting(Base):
    """Key-value settings of the project; ``root`` is the absolute image folder."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(primary_key=True)
    value: Mapped[str]


class Image(Base):
    """One image file; ``path`` is POSIX and relative to the project root.

    The review queue filters by status and sorts by a score: the two composite indexes
    serve that in index order (and status filters alone); the single-column ones serve
    sorting without a filter.
    """

    __tablename__ = "image"
    __table_args__ = (
        Index("ix_image_status_image_score", "status", "image_score"),
        Index("ix_image_status_confidence", "status", "confidence"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(unique=True)
    width: Mapped[int | None]
    height: Mapped[int | None]
    content_hash: Mapped[str | None]
    status: Mapped[str] = mapped_column(default="new")
    image_score: Mapped[float | None] = mapped_column(index=True)
    confidence: Mapped[float | None] = mapped_column(index=True)
    added_at: Mapped[datetime] = mapped_column(default=utc_now)


class LabelClass(Base):
    """An object class of the annotator's; ``position`` orders them (keys 1-9 follow it).

    Only the annotator's own classes live here (typed, from a classes file, or imported
    with their boxes): a network's class names never do (see :attr:`Box.hint`).
    """

    __tablename__ = "label_class"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    position: Mapped[int] = mapped_column(default=0)


class Box(Base):
    """A bounding box ``(x1, y1, x2, y2)`` in pixel edges of its image.

    Ids are never reused (AUTOINCREMENT), so the event log's ``box_id`` stays unambiguous
    after deletions. ``class_id`` is None only for a proposal still ``proposed`` that no
    learned model version named a user class for; ``hint`` is then the network's own guess
    (an ImageNet name such as "Arctic fox"), shown as a hint and never saved as a class.
    """

    __tablename__ = "box"
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_autoincrement": True}  # type: ignore[misc]

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("label_class.id"))
    hint: Mapped[str | None]
    x1: Mapped[float]
    y1: Mapped[float]
    x2: Mapped[float]
    y2: Mapped[float]
    origin: Mapped[str]
    state: Mapped[str] = mapped_column(index=True)
    confidence: Mapped[float | None]
    method: Mapped[str | None]
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_version.id", ondelete="SET NULL")
    )
    difficult: Mapped[bool] = mapped_column(default=False)
    truncated: Mapped[bool] = mapped_column(default=False)
    occluded: Mapped[bool] = mapped_column(default=False)
    pose: Mapped[str] = mapped_column(default="Unspecified")
    verified: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)
    #: The user name of the app that added or last changed the box (None: before 0003).
    updated_by: Mapped[str | None]
    #: 1 when added, one more on every change (optimistic locking: an edit made on what
    #: an app showed is refused once the box's version moved on; revision 0004).
    version: Mapped[int] = mapped_column(default=1, server_default="1")


class Claim(Base):
    """An image someone is reviewing: a lease held by ``user_name`` until ``expires_at``
    (UTC, the database's clock), renewed while their app shows the image (revision 0004).

    A claim past its expiry is no claim: an app that was killed lets go by itself."""

    __tablename__ = "claim"

    image_id: Mapped[int] = mapped_column(
        ForeignKey("image.id", ondelete="CASCADE"), primary_key=True
    )
    user_name: Mapped[str]
    claimed_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ModelVersion(Base):
    """A trained detector file and what it knows: class names in output order, metrics."""

    __tablename__ = "model_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str]
    backbone: Mapped[str]
    classes: Mapped[list[str]]
    metrics: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class TrainingRun(Base):
    """One fine-tuning run; ``model_version_id`` is set once it produced a model.

    A ``running`` run is held by ``user_name`` until ``lease_until`` (the database's clock),
    which the training renews as it goes: while it lasts, another user's app does not start
    a training of its own (revision 0004). A run whose lease ran out was killed."""

    __tablename__ = "training_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_version.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[datetime | None]
    status: Mapped[str]
    params: Mapped[dict[str, Any]]
    metrics: Mapped[dict[str, Any] | None]
    user_name: Mapped[str | None]
    lease_until: Mapped[datetime | None]


class Event(Base):
    """One review action: ``accept``, ``reject``, ``edit``, ``add``, ``delete``, ``import`` or
    ``restore`` (undo, redo).

    ``box_id`` is a plain number, not a foreign key, so the log still names a box after it
    was deleted; ``detail`` holds what changed (see :mod:`core.store.boxes`); ``user_name``
    is who did it (the app's user name; None for events logged before revision 0003).
    """

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utc_now)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    box_id: Mapped[int | None]
    action: Mapped[str]
    detail: Mapped[dict[str, Any] | None]
    user_name: Mapped[str | None]
