"""Bringing a folder of images, and the Pascal VOC files beside them, into a project."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.engine.errors import InputError
from core.engine.images import ImageLoadError, list_images
from core.formats.coco_import import import_coco
from core.formats.records import ImageRecord
from core.formats.voc import MAX_OBJECTS, AnnotationError
from core.formats.voc_dataset import annotation_for
from core.formats.voc_image import read_voc_for_image
from core.store.models import Origin
from core.store.project import Project
from core.store.rows import BoxSpec


@dataclass
class ImportReport:
    """What an import did; ``problems`` holds one line per file that was skipped or changed."""

    images_found: int = 0
    images_added: int = 0
    annotations_read: int = 0
    boxes_added: int = 0
    problems: list[str] = field(default_factory=list)


def import_folder(
    project: Project,
    images_dir: str | Path,
    annotations_dir: str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    *,
    max_objects: int = MAX_OBJECTS,
) -> ImportReport:
    """Register every image below ``images_dir`` and import its VOC boxes, if any.

    XML files are looked for in ``annotations_dir``, else beside each image, else in a
    parallel ``annotations/`` or ``Annotations/`` folder. Images that already have
    imported boxes are left alone, so importing twice adds nothing. A damaged XML or image
    file is reported in ``problems`` and skipped; what was imported before stays. The
    image's real size wins over the XML's (see :func:`read_voc_for_image`); at most
    ``max_objects`` boxes are read per XML file. ``progress`` is called with 1 after each image.

    Raises:
        ValueError: ``images_dir`` is not inside the project's root folder.
    """
    images_dir = Path(images_dir).resolve()
    root = project.root.resolve()
    if not images_dir.is_relative_to(root):
        raise InputError(f"{images_dir} is not inside the project folder {root}")
    ann_dir = Path(annotations_dir) if annotations_dir is not None else None
    files = list_images(images_dir)
    report = ImportReport(images_found=len(files))
    report.images_added = project.register_images(f.relative_to(root).as_posix() for f in files)
    for path in files:
        _import_annotation(project, root, path, annotation_for(path, ann_dir), report, max_objects)
        if progress is not None:
            progress(1)
    return report


def _import_annotation(
    project: Project,
    root: Path,
    path: Path,
    xml: Path | None,
    report: ImportReport,
    max_objects: int,
) -> None:
    rel = path.relative_to(root).as_posix()
    row = project.image_by_path(rel)
    if row is None or xml is None:
        return
    if any(b.origin == "imported" for b in project.box_records.boxes(row.id)):
        return
    try:
        record, warnings, complete = read_voc_for_image(xml, path, rel, max_objects=max_objects)
    except (AnnotationError, ImageLoadError) as exc:
        report.problems.append(f"{exc}")
        return
    report.problems.extend(warnings)
    report.annotations_read += 1
    _add_record(project, row.id, record, report, complete)


def import_coco_file(project: Project, path: str | Path) -> ImportReport:
    """Import a COCO JSON file whose ``file_name`` entries are relative to the project root.

    Images are registered if new; images that already have imported boxes are left alone.
    Images missing below the root are reported and not registered; sizes are read from the
    image files (see :func:`core.formats.coco_import.import_coco`).

    Raises:
        CocoError: malformed JSON or missing required keys.
    """
    records, warnings = import_coco(Path(path), images_root=project.root)
    report = ImportReport(images_found=len(records), problems=list(warnings))
    report.images_added = project.register_images(r.path for r in records)
    for record in records:
        row = project.image_by_path(record.path)
        if row is None or any(b.origin == "imported" for b in project.box_records.boxes(row.id)):
            continue
        report.annotations_read += 1
        _add_record(project, row.id, record, report)
    return report


def _add_record(
    project: Project,
    image_id: int,
    record: ImageRecord,
    report: ImportReport,
    complete: bool = True,
) -> None:
    """Add an imported record's boxes; the image is reviewed (``done``) when the record
    holds every object of its file, else ``in_review``, so an export never writes it as
    complete (an object it lost would be learnt as background)."""
    project.set_image_size(image_id, record.width, record.height)
    ids = project.box_records.add_boxes(
        image_id,
        [
            BoxSpec(
                b.class_name,
                b.box,
                origin=Origin.IMPORTED,
                difficult=b.difficult,
                truncated=b.truncated,
                occluded=b.occluded,
                pose=b.pose,
                verified=b.verified,
            )
            for b in record.boxes
        ],
    )
    report.boxes_added += len(ids)
    project.set_status(image_id, "done" if complete else "in_review")
