"""Checking the project store's rows before an export turns them into records.

A project file can be edited by another program or written by an old SaliBox: a box
coordinate may hold text or a blob, an image's size text, an image path may leave the
project folder, a class name may span lines. The store hands such values on as they are;
the checks here run before any file is read or written for the image, so one damaged row
leaves out its image with a message naming it and the rest is exported. Coordinates are
pixel edges ``(x1, y1, x2, y2)`` of the image as displayed, sizes are pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from core.engine.boxes import as_box
from core.formats.records import BoxRecord, check_relative_path, shown, shown_path
from core.store.rows import BoxRow, ImageRow, clean_class_name


class RefusedRow(ValueError):
    """A row that cannot be exported; the message names the image and says why."""


def checked_path(row: ImageRow) -> str:
    """The row's path; RefusedRow unless it is a plain relative POSIX path, so that no
    export reads or writes outside the project and output folders."""
    try:
        if not isinstance(row.path, str):
            raise ValueError("not text")
        check_relative_path(row.path)
    except ValueError:
        name = shown_path(row.path)
        raise RefusedRow(f"{name}: not a path inside the project folder; left out") from None
    return row.path


def stored_size(row: ImageRow) -> tuple[int, int] | None:
    """The row's ``(width, height)`` in pixels, None when not known yet; RefusedRow when
    the stored values are not whole numbers of at least 1."""
    width, height = row.width, row.height
    if width is None or height is None:
        return None
    if not all(type(v) is int and v >= 1 for v in (width, height)):
        raise RefusedRow(
            f"{shown_path(row.path)}: its stored size {shown(width)} × {shown(height)} is not "
            "a number of pixels; left out"
        )
    return width, height


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def box_record(path: str, box: BoxRow) -> BoxRecord:
    """``box`` as a record; RefusedRow naming the image when its coordinates are not four
    finite numbers with ``x1 < x2`` and ``y1 < y2``, or it has no class or pose text."""
    values = box.box
    if not all(_is_number(v) for v in values):
        why = f"coordinates ({', '.join(shown(v) for v in values)}), not all finite numbers"
    elif not (values[0] < values[2] and values[1] < values[3]):
        why = f"coordinates {values}, inverted or empty"
    elif not isinstance(box.class_name, str) or not isinstance(box.pose, str):
        why = f"class {shown(box.class_name)} and pose {shown(box.pose)}, not both text"
    else:
        return BoxRecord(
            class_name=box.class_name,
            box=as_box(values),
            difficult=bool(box.difficult),
            truncated=bool(box.truncated),
            occluded=bool(box.occluded),
            pose=box.pose,
            verified=bool(box.verified),
        )
    raise RefusedRow(f"{shown_path(path)}: box {box.id} has {why}; image left out")


def class_problems(classes: Iterable[str]) -> dict[str, str]:
    """The class names no format can store, with why: those
    :func:`core.store.rows.clean_class_name` refuses or would change."""
    problems = {}
    for name in classes:
        try:
            if clean_class_name(name) != name:
                raise ValueError(f"class name {shown(name)} has white space around it")
        except ValueError as exc:
            problems[name] = str(exc)
    return problems
