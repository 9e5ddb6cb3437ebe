"""COCO object-detection JSON: the layout, and export (import: :mod:`core.formats.coco_import`).

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
from collections.abc import Callable, Iterable
from pathlib import Path

from core.formats.records import (
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
    images: list[dict] = []
    annotations: list[dict] = []
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
