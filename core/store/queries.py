"""The read queries of :class:`core.store.Project`: images filtered and sorted in SQL, boxes.

The review queue filters images by status and sorts them by a score; the composite indexes
of :class:`~core.store.models.Image` let SQLite return such a page in index order.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, case, exists, func, select

from core.store.models import STATES, STATUSES, Box, Image, LabelClass
from core.store.rows import choice, clean_class_name

#: The columns of an :class:`~core.store.rows.ImageRow`, in field order; ``box_count``
#: counts the boxes that are not rejected.
IMAGE_COLUMNS = (
    Image.id,
    Image.path,
    Image.width,
    Image.height,
    Image.status,
    Image.image_score,
    Image.confidence,
    select(func.count())
    .where(Box.image_id == Image.id, Box.state != "rejected")
    .correlate(Image)
    .scalar_subquery(),
)

#: Sort keys of :func:`images`; ``status`` sorts in workflow order.
IMAGE_ORDER = {
    "path": Image.path,
    "status": case({s: i for i, s in enumerate(STATUSES)}, value=Image.status),
    "image_score": Image.image_score,
    "confidence": Image.confidence,
    "random": func.random(),
}


def images(
    status: str | None,
    class_name: str | None,
    order_by: str,
    descending: bool,
    limit: int | None,
    offset: int,
) -> Select:
    """The query behind :meth:`core.store.Project.images` (see there)."""
    choice(order_by, IMAGE_ORDER, "sort key")
    if (limit is not None and limit < 0) or offset < 0:
        raise ValueError(f"limit {limit} and offset {offset} must not be negative")
    query = select(*IMAGE_COLUMNS)
    if status is not None:
        query = query.where(Image.status == choice(status, STATUSES, "status"))
    if class_name is not None:
        query = query.where(
            exists().where(
                Box.image_id == Image.id,
                Box.state != "rejected",
                Box.class_id == LabelClass.id,
                LabelClass.name == clean_class_name(class_name),
            )
        )
    key = IMAGE_ORDER[order_by].desc() if descending else IMAGE_ORDER[order_by].asc()
    if order_by in ("image_score", "confidence"):
        key = key.nulls_last()
    tie = Image.id.desc() if descending else Image.id.asc()
    return query.order_by(key, tie).limit(limit).offset(offset)


def boxes(image_id: int, states: Iterable[str] | None) -> Select:
    """Boxes of an image with their class names (None: no class yet), in creation order."""
    query = (
        select(Box, LabelClass.name)
        .outerjoin(LabelClass, Box.class_id == LabelClass.id)
        .where(Box.image_id == image_id)
        .order_by(Box.id)
    )
    if states is not None:
        query = query.where(Box.state.in_([choice(s, STATES, "state") for s in states]))
    return query
