"""COCO object-detection JSON: export and import.

One file::

    {"info": {...}, "licenses": [],
     "images": [{"id": 1, "file_name": "sub dir/ünï.jpg", "width": 640, "height": 480,
                 "depth": 3}],
     "categories": [{"id": 1, "name": "cat"}],
     "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                      "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0,
                      "attributes": {"difficult": false, "truncated": false,
                                     "occluded": false, "pose": "Unspecified",
                                     "verified": true}}]}

Ids count from 1; ``file_name`` is the path relative to the project root. COCO's ``bbox``
uses the same continuous pixel edges as SaliBox: ``x = x1``, ``y = y1``, ``w = x2 − x1``,
``h = y2 − y1``, in pixels as floats. An import computes ``x2 = x + w``, which gives the
exported coordinate back exactly for integers, halves and other coordinates with few
fractional bits, and otherwise to within one unit in the last place (about 1e-13 px).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.formats.records import (
    BoxRecord,
    ExportReport,
    ImageRecord,
    check_classes,
    clip_box,
    write_atomic,
)


class CocoError(ValueError):
    """A COCO file could not be used; the message says which file and why."""


def export_coco(
    records: Iterable[ImageRecord],
    out_path: Path,
    classes: list[str],
    step: Callable[[], None] | None = None,
) -> ExportReport:
    """Write ``records`` as one COCO JSON file at ``out_path``, atomically, in UTF-8.

    Args:
        records: the images, in the order their ids are given.
        out_path: the file to write; its folder must exist.
        classes: the categories in id order (id = index + 1); boxes of other classes are
            left out.
        step: called before each image is added to the document; it may raise to stop the
            export, which then writes nothing.

    Returns:
        Counts (``objects`` = annotations written) and warnings for boxes clipped to their
        image or left out.

    Raises:
        ValueError: an empty, repeated or multi-line class name.
        OSError: the file cannot be written; an existing file is then left as it was.
    """
    check_classes(classes)
    category = {name: i for i, name in enumerate(classes, 1)}
    report = ExportReport(classes=len(classes), files_written=1)
    images, annotations = [], []
    for image_id, record in enumerate(records, 1):
        if step is not None:
            step()
        images.append(
            {
                "id": image_id,
                "file_name": record.path,
                "width": record.width,
                "height": record.height,
                "depth": record.depth,
            }
        )
        for box in record.boxes:
            clipped = clip_box(box.box, record.width, record.height)
            if box.class_name not in category or clipped is None:
                why = "lies outside the image" if clipped is None else "is not among the classes"
                report.warnings.append(
                    f"{record.path}: box {box.box} of class {box.class_name!r} {why}; left out"
                )
                continue
            if clipped != box.box:
                report.warnings.append(f"{record.path}: box {box.box} clipped to the image")
            x1, y1, x2, y2 = (float(v) for v in clipped)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category[box.class_name],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                    "attributes": {
                        "difficult": box.difficult,
                        "truncated": box.truncated,
                        "occluded": box.occluded,
                        "pose": box.pose,
                        "verified": box.verified,
                    },
                }
            )
    report.images, report.objects = len(images), len(annotations)
    doc = {
        "info": {"description": "exported by SaliBox"},
        "licenses": [],
        "images": images,
        "categories": [{"id": i, "name": name} for name, i in category.items()],
        "annotations": annotations,
    }
    write_atomic(out_path, json.dumps(doc, ensure_ascii=False, allow_nan=False).encode())
    return report


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_bytes().decode("utf-8-sig"))
    except OSError as exc:
        raise CocoError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd nesting
        raise CocoError(f"{path}: malformed JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise CocoError(f"{path}: the top level is a {type(doc).__name__}, not an object")
    return doc


def _entries(doc: dict[str, Any], key: str, path: Path, required: bool = True) -> list[dict]:
    """``doc[key]`` checked to be a list of objects (``[]`` when absent and not required)."""
    if key not in doc and not required:
        return []
    value = doc.get(key)
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise CocoError(f'{path}: "{key}" is missing or not a list of objects')
    return value


def _field(entry: dict, key: str, kind: str, where: str, path: Path) -> Any:
    """``entry[key]`` of JSON ``kind``: "id" (integer or string), "name" (string) or
    "number"; a missing key or wrong type raises :class:`CocoError`."""
    value = entry.get(key)
    if kind == "id":
        ok = isinstance(value, int | str) and not isinstance(value, bool)
    elif kind == "name":
        ok = isinstance(value, str)
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        shown = "missing" if key not in entry else f"{value!r}, not a valid {kind}"
        raise CocoError(f'{path}: {where} has "{key}" {shown}')
    return value


def _flag(attributes: dict, key: str, default: bool) -> bool:
    """A true/false attribute; JSON booleans and the numbers 0 and 1 count, else ``default``."""
    value = attributes.get(key, default)
    if isinstance(value, bool) or (isinstance(value, int | float) and value in (0, 1)):
        return bool(value)
    return default


def _images(doc: dict[str, Any], path: Path, warnings: list[str]) -> dict[Any, ImageRecord]:
    """The usable images by id; unusable ones are skipped with a warning."""
    images: dict[Any, ImageRecord] = {}
    seen_ids, seen_paths = set(), set()
    for n, entry in enumerate(_entries(doc, "images", path)):
        where = f"image {n}"
        image_id = _field(entry, "id", "id", where, path)
        file_name = _field(entry, "file_name", "name", where, path)
        width, height = (_field(entry, k, "number", where, path) for k in ("width", "height"))
        if image_id in seen_ids:
            raise CocoError(f"{path}: image id {image_id!r} appears twice")
        seen_ids.add(image_id)
        depth = entry.get("depth", 3)
        try:
            if file_name in seen_paths:
                raise ValueError(f"{file_name!r} appears twice")
            if not (width == int(width) >= 1 and height == int(height) >= 1):
                raise ValueError(f"size {width} × {height} is not a positive whole number")
            images[image_id] = ImageRecord(
                path=file_name,
                width=int(width),
                height=int(height),
                depth=depth if isinstance(depth, int) and depth > 0 else 3,
            )
        except (ValueError, OverflowError) as exc:
            warnings.append(f"{path}: image {image_id!r} skipped with its annotations: {exc}")
        seen_paths.add(file_name)
    return images


def _box(ann: dict, image: ImageRecord, where: str, path: Path, warnings: list[str]):
    """The annotation's clipped ``(x1, y1, x2, y2)``, or ``None`` with a warning."""
    bbox = ann.get("bbox")
    if not (
        isinstance(bbox, list)
        and len(bbox) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in bbox)
    ):
        warnings.append(f'{path}: {where} has "bbox" {bbox!r}, not [x, y, w, h]; skipped')
        return None
    x, y, w, h = (float(v) for v in bbox)
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        warnings.append(f"{path}: {where} has bbox {bbox}, not a finite positive size; skipped")
        return None
    box = (x, y, x + w, y + h)
    clipped = clip_box(box, image.width, image.height)
    if clipped != box:
        verb = "skipped" if clipped is None else "clipped"
        warnings.append(
            f"{path}: {where} box {bbox} reaches outside the {image.width} × {image.height} "
            f"image {image.path!r}; {verb}"
        )
    return clipped


def import_coco(path: Path) -> tuple[list[ImageRecord], list[str]]:
    """Read a COCO detection file: this module's exports or other tools'.

    Returns:
        One record per usable image, in the file's order, with its boxes in annotation
        order; and warnings for what was skipped or changed: images with a bad size or
        path or a repeated file name, annotations with unknown image or category ids,
        crowd regions (``iscrowd`` 1), a bbox that is not four finite numbers with positive
        size, boxes clipped to their image or outside it. Without ``"attributes"`` a box is
        not difficult, truncated or occluded, pose "Unspecified" and verified.

    Raises:
        CocoError: unreadable file, malformed JSON, a missing ``"images"`` or
            ``"categories"`` list (``"annotations"`` may be absent), an entry without its
            ids, name, size or bbox, or a repeated image or category id.
    """
    path = Path(path)
    doc = _load(path)
    warnings: list[str] = []
    categories: dict[Any, str] = {}
    for n, entry in enumerate(_entries(doc, "categories", path)):
        cat_id = _field(entry, "id", "id", f"category {n}", path)
        if cat_id in categories:
            raise CocoError(f"{path}: category id {cat_id!r} appears twice")
        name = _field(entry, "name", "name", f"category {n}", path)
        if not name.strip():
            raise CocoError(f"{path}: category {cat_id!r} has an empty name")
        categories[cat_id] = name
    images = _images(doc, path, warnings)
    known_ids = {e.get("id") for e in doc["images"]}
    boxes: dict[Any, list[BoxRecord]] = {i: [] for i in images}
    for n, ann in enumerate(_entries(doc, "annotations", path, required=False)):
        where = f"annotation {ann.get('id', n)!r}"
        image_id = _field(ann, "image_id", "id", where, path)
        cat_id = _field(ann, "category_id", "id", where, path)
        if "bbox" not in ann:
            raise CocoError(f'{path}: {where} has no "bbox"')
        if image_id not in known_ids:
            warnings.append(f"{path}: {where} refers to unknown image id {image_id!r}; skipped")
            continue
        if image_id not in images:
            continue  # its image was skipped, with a warning
        if cat_id not in categories:
            warnings.append(f"{path}: {where} has unknown category id {cat_id!r}; skipped")
            continue
        if ann.get("iscrowd", 0):
            warnings.append(f"{path}: {where} is a crowd region; skipped")
            continue
        box = _box(ann, images[image_id], where, path, warnings)
        if box is None:
            continue
        attributes = ann.get("attributes")
        attributes = attributes if isinstance(attributes, dict) else {}
        pose = attributes.get("pose", "Unspecified")
        boxes[image_id].append(
            BoxRecord(
                class_name=categories[cat_id],
                box=box,
                difficult=_flag(attributes, "difficult", False),
                truncated=_flag(attributes, "truncated", False),
                occluded=_flag(attributes, "occluded", False),
                pose=pose if isinstance(pose, str) else "Unspecified",
                verified=_flag(attributes, "verified", True),
            )
        )
    return [replace(images[i], boxes=tuple(b)) for i, b in boxes.items()], warnings
