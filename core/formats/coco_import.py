"""Reading COCO object-detection JSON (the layout is in :mod:`core.formats.coco`).

A file from another tool is read entry by entry: an image, category or annotation that
cannot be used is skipped with one warning and the rest is read. Only a file that is not
JSON, or whose ``"images"`` or ``"categories"`` is not a list, raises :class:`CocoError`.
Given the folder the ``file_name`` entries are relative to, the image on disk wins over
what the file claims: an image missing there is left out, and the size in pixels is read
from the image's header (EXIF orientation applied) whatever ``width`` and ``height`` say.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.engine.images import MAX_PIXELS, ImageLoadError, image_size
from core.formats.coco import CocoError
from core.formats.records import (
    BoxRecord,
    ImageRecord,
    check_relative_path,
    clip_box,
    shown,
    shown_path,
)
from core.store.rows import clean_class_name

Box = tuple[float, float, float, float]


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
    except OSError as exc:
        raise CocoError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd nesting
        raise CocoError(f"{path}: malformed JSON ({shown(str(exc), 200)})") from exc
    if not isinstance(doc, dict):
        raise CocoError(f"{path}: the top level is a {type(doc).__name__}, not an object")
    return doc


def _entries(
    doc: dict[str, Any], key: str, path: Path, warnings: list[str], required: bool = True
) -> list[tuple[int, dict]]:
    """``(index, entry)`` for the objects of the list ``doc[key]`` (none when absent and not
    required); other entries are skipped with a warning."""
    if key not in doc and not required:
        return []
    value = doc.get(key)
    if not isinstance(value, list):
        raise CocoError(f'{path}: "{key}" is missing or not a list of objects')
    entries = []
    for n, entry in enumerate(value):
        if isinstance(entry, dict):
            entries.append((n, entry))
        else:
            warnings.append(f'{path}: "{key}" entry {n} is {shown(entry)}, not an object; skipped')
    return entries


def _field(entry: dict, key: str, kind: str) -> Any:
    """``entry[key]`` of JSON ``kind``, "id" (integer or string) or "name" (string);
    ValueError saying what is wrong otherwise."""
    value = entry.get(key)
    ok = isinstance(value, str) or (kind == "id" and type(value) is int)
    if not ok:
        shown_value = "missing" if key not in entry else f"{shown(value)}, not a valid {kind}"
        raise ValueError(f'has "{key}" {shown_value}')
    return value


def _claimed_size(entry: dict) -> tuple[int, int] | str:
    """The entry's ``(width, height)``, or why it is not a size: each a whole number of at
    least 1 pixel, at most :data:`core.engine.images.MAX_PIXELS` pixels in all."""
    values = (entry.get("width"), entry.get("height"))
    whole = all(
        type(v) is int or (type(v) is float and math.isfinite(v) and v.is_integer()) for v in values
    )
    if whole:
        width, height = int(values[0]), int(values[1])  # type: ignore[arg-type]  # checked whole
        if width >= 1 and height >= 1 and width * height <= MAX_PIXELS:
            return width, height
    return f"size {shown(values[0])} × {shown(values[1])} is not a size in pixels"


def _size(
    entry: dict, name: str, where: str, images_root: Path | None, warnings: list[str]
) -> tuple[int, int]:
    """The image's size: the file's (with a warning when the entry claims another or none)
    when ``images_root`` is given, else the entry's. ValueError when there is none; the
    message is the warning to give."""
    claimed = _claimed_size(entry)
    if images_root is None:
        if isinstance(claimed, str):
            raise ValueError(f"{where} skipped with its annotations: {claimed}")
        return claimed
    file = images_root / name
    try:
        on_disk = file.is_file()
    except OSError:  # a name too long for the file system, say
        on_disk = False
    if not on_disk:
        raise ValueError(f"{shown_path(name)}: listed in the COCO file but not on disk")
    try:
        real = image_size(file)
    except ImageLoadError as exc:
        raise ValueError(f"{where} skipped with its annotations: {exc}") from exc
    if isinstance(claimed, str):
        warnings.append(f"{where}: {claimed}; the image's own size {real[0]} × {real[1]} is used")
    elif claimed != real:
        warnings.append(
            f"{where} says {claimed[0]} × {claimed[1]} but the image is {real[0]} × {real[1]}; "
            "the image's size is used"
        )
    return real


def _images(
    doc: dict[str, Any], path: Path, images_root: Path | None, warnings: list[str]
) -> tuple[dict[Any, ImageRecord | None], set[Any]]:
    """The images by id (None: skipped, with a warning) and every id the file lists."""
    images: dict[Any, ImageRecord | None] = {}
    listed_ids: set[Any] = set()
    seen_paths: set[str] = set()
    for n, entry in _entries(doc, "images", path, warnings):
        try:
            image_id = _field(entry, "id", "id")
        except ValueError as exc:
            warnings.append(f"{path}: image {n} {exc}; skipped")
            continue
        where = f"{path}: image {shown(image_id)}"
        if image_id in listed_ids:
            images[image_id] = None
            warnings.append(f"{where} appears twice; each entry and its annotations skipped")
            continue
        listed_ids.add(image_id)
        images[image_id] = None
        try:
            name = _field(entry, "file_name", "name")
            check_relative_path(name)
            if name in seen_paths:
                raise ValueError(f"{shown(name)} appears twice")
            seen_paths.add(name)
        except ValueError as exc:
            warnings.append(f"{where} skipped with its annotations: {exc}")
            continue
        try:
            width, height = _size(
                entry, name, f"{where} ({shown_path(name)})", images_root, warnings
            )
        except ValueError as exc:
            warnings.append(str(exc))
            continue
        depth = entry.get("depth", 3)
        depth = depth if type(depth) is int and 1 <= depth <= 4 else 3
        images[image_id] = ImageRecord(path=name, width=width, height=height, depth=depth)
    return images, listed_ids


def _categories(doc: dict[str, Any], path: Path, warnings: list[str]) -> dict[Any, str | None]:
    """Class names by category id, checked by :func:`core.store.rows.clean_class_name`;
    None for an id whose annotations are skipped (a bad name, or two different names)."""
    categories: dict[Any, str | None] = {}
    for n, entry in _entries(doc, "categories", path, warnings):
        try:
            cat_id = _field(entry, "id", "id")
        except ValueError as exc:
            warnings.append(f"{path}: category {n} {exc}; skipped")
            continue
        where = f"{path}: category {shown(cat_id)}"
        try:
            name = clean_class_name(_field(entry, "name", "name"))
        except ValueError as exc:
            if categories.get(cat_id, "") is not None:
                warnings.append(f"{where} skipped with its annotations: {exc}")
            categories[cat_id] = None
            continue
        if cat_id in categories and categories[cat_id] != name:
            if categories[cat_id] is not None:
                warnings.append(f"{where} has two names; skipped with its annotations")
            categories[cat_id] = None
            continue
        categories[cat_id] = name
    return categories


def _box(ann: dict, image: ImageRecord, where: str, warnings: list[str]) -> Box | None:
    """The annotation's clipped ``(x1, y1, x2, y2)``, or ``None`` with a warning."""
    bbox = ann.get("bbox")
    if not (
        isinstance(bbox, list) and len(bbox) == 4 and all(type(v) in (int, float) for v in bbox)
    ):
        warnings.append(f'{where} has "bbox" {shown(bbox)}, not [x, y, w, h]; skipped')
        return None
    try:
        x, y, w, h = (float(v) for v in bbox)
    except OverflowError:  # an integer beyond any float
        x = y = w = h = math.inf
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        warnings.append(f"{where} has bbox {shown(bbox)}, not a finite positive size; skipped")
        return None
    box = (x, y, x + w, y + h)
    clipped = clip_box(box, image.width, image.height)
    if clipped != box:
        verb = "skipped" if clipped is None else "clipped"
        warnings.append(
            f"{where} box {bbox} reaches outside the {image.width} × {image.height} "
            f"image {shown(image.path)}; {verb}"
        )
    return clipped


def _flag(attributes: dict, key: str, default: bool) -> bool:
    """A true/false attribute; JSON booleans and the numbers 0 and 1 count, else ``default``."""
    value = attributes.get(key, default)
    if isinstance(value, bool) or (type(value) in (int, float) and value in (0, 1)):
        return bool(value)
    return default


def _box_record(ann: dict, class_name: str, box: Box) -> BoxRecord:
    """The annotation's box with its ``"attributes"``; a pose that is not a short line of
    text (the rule of class names) becomes "Unspecified"."""
    attributes = ann.get("attributes")
    attributes = attributes if isinstance(attributes, dict) else {}
    try:
        pose = clean_class_name(attributes.get("pose", "Unspecified"))
    except ValueError:
        pose = "Unspecified"
    return BoxRecord(
        class_name=class_name,
        box=box,
        difficult=_flag(attributes, "difficult", False),
        truncated=_flag(attributes, "truncated", False),
        occluded=_flag(attributes, "occluded", False),
        pose=pose,
        verified=_flag(attributes, "verified", True),
    )


def import_coco(
    path: str | Path, images_root: Path | None = None
) -> tuple[list[ImageRecord], list[str]]:
    """Read a COCO detection file: this SaliBox's exports or other tools'.

    Args:
        path: the JSON file.
        images_root: the folder ``file_name`` is relative to. When given, an image that is
            not there is left out ("<file_name>: listed in the COCO file but not on disk")
            and each image's size is read from its file (a different or unusable size in
            the file gives a warning). Without it the file's sizes are used, and an image
            with an unusable one is skipped.

    Returns:
        One record per usable image, in the file's order, with its boxes in annotation
        order; and warnings for what was skipped or changed: entries that are not objects
        or lack their ids, name, size or bbox; images with a bad path, a repeated id or
        file name; categories with a repeated id and two names, or a name
        :func:`core.store.rows.clean_class_name` refuses (stripped otherwise); annotations
        with unknown image or category ids, crowd regions (``iscrowd`` 1), a bbox that is
        not four finite numbers with positive size, boxes clipped to their image or outside
        it. Without ``"attributes"`` a box is not difficult, truncated or occluded, pose
        "Unspecified" and verified. Boxes are pixel edges inside their image.

    Raises:
        CocoError: unreadable file, malformed JSON, a top level that is not an object, a
            missing ``"images"`` or ``"categories"`` list (``"annotations"`` may be absent).
    """
    path = Path(path)
    doc = _load(path)
    warnings: list[str] = []
    categories = _categories(doc, path, warnings)
    images, listed_ids = _images(doc, path, images_root, warnings)
    boxes: dict[Any, list[BoxRecord]] = {i: [] for i, r in images.items() if r is not None}
    for n, ann in _entries(doc, "annotations", path, warnings, required=False):
        where = f"{path}: annotation {shown(ann.get('id', n))}"
        try:
            image_id, cat_id = _field(ann, "image_id", "id"), _field(ann, "category_id", "id")
            if "bbox" not in ann:
                raise ValueError('has no "bbox"')
        except ValueError as exc:
            warnings.append(f"{where} {exc}; skipped")
            continue
        if image_id not in listed_ids or cat_id not in categories:
            what = "image" if image_id not in listed_ids else "category"
            unknown = image_id if what == "image" else cat_id
            warnings.append(f"{where} has unknown {what} id {shown(unknown)}; skipped")
            continue
        image, class_name = images[image_id], categories[cat_id]
        if image is None or class_name is None:
            continue  # its image or category was skipped, with a warning
        if ann.get("iscrowd", 0):
            warnings.append(f"{where} is a crowd region; skipped")
            continue
        box = _box(ann, image, where, warnings)
        if box is not None:
            boxes[image_id].append(_box_record(ann, class_name, box))
    kept = [(images[i], b) for i, b in boxes.items()]
    return [replace(image, boxes=tuple(b)) for image, b in kept if image is not None], warnings
