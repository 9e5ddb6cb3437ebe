"""Writing a project's accepted boxes to Pascal VOC, YOLO or COCO."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from core.formats.coco import export_coco
from core.formats.records import BoxRecord, ImageRecord
from core.formats.voc_export import export_voc
from core.formats.yolo import export_yolo
from core.images import ImageLoadError, image_size
from core.store.project import Project

FORMATS = ("voc", "yolo", "coco")
#: Box states that an export writes: what a person accepted, as is or edited.
EXPORTED_STATES = ("accepted", "edited")


def project_records(project: Project, problems: list[str] | None = None) -> Iterator[ImageRecord]:
    """One record per image of the project, by path, with its accepted and edited boxes.

    Sizes not yet known are read from the image headers and stored; an image whose file
    cannot be read is left out with a line in ``problems``.
    """
    for row in project.images(order_by="path"):
        width, height = row.width, row.height
        if width is None or height is None:
            try:
                width, height = image_size(project.root / row.path)
            except ImageLoadError as exc:
                if problems is not None:
                    problems.append(str(exc))
                continue
            project.set_image_size(row.id, width, height)
        boxes = tuple(
            BoxRecord(
                class_name=b.class_name,
                box=b.box,
                difficult=b.difficult,
                truncated=b.truncated,
                occluded=b.occluded,
                pose=b.pose,
                verified=b.verified,
            )
            for b in project.boxes(row.id, states=EXPORTED_STATES)
        )
        yield ImageRecord(path=row.path, width=width, height=height, boxes=boxes)


def export_project(
    project: Project,
    fmt: str,
    out: str | Path,
    images: str = "none",
    val_fraction: float = 0.2,
    seed: int = 0,
    problems: list[str] | None = None,
):
    """Export ``project`` as ``fmt`` (voc, yolo or coco) into ``out``; returns the
    format's report. COCO writes ``out/annotations.json``."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    records = list(project_records(project, problems))
    classes = project.classes()
    if fmt == "voc":
        return export_voc(
            records, out, project.root, val_fraction=val_fraction, seed=seed, images=images
        )
    if fmt == "yolo":
        return export_yolo(records, out, classes, project.root, images=images)
    out.mkdir(parents=True, exist_ok=True)
    return export_coco(records, out / "annotations.json", classes)
