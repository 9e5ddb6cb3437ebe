"""Exporting records in the YOLO (Darknet / Ultralytics) text format.

Under ``out_dir``::

    classes.txt               one class name a line; a box's class index is its line number
    labels/<path>.txt         the image's relative path with suffix .txt, one box a line
    images/<path>             only with images="link" or "copy", mirroring labels/

A label line is ``class cx cy w h``: the box's centre and size divided by the image's width
and height, 6 decimals. Boxes are clipped to the image first; an image without boxes gets an
empty label file. Files already in ``out_dir`` are overwritten, others left alone. An image
whose label file name is too long for the file system is left out with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from core.formats.records import (
    ExportReport,
    ImageMode,
    ImageRecord,
    check_classes,
    check_image_mode,
    clip_box,
    one_file_problem,
    place_images,
    shown_path,
    write_atomic,
)


def yolo_lines(record: ImageRecord, class_index: dict[str, int], warnings: list[str]) -> list[str]:
    """The label lines of ``record``; boxes of classes not in ``class_index`` or outside the
    image are left out, and those or clipped ones add a line to ``warnings``."""
    lines = []
    w, h = record.width, record.height
    for box in record.boxes:
        if box.class_name not in class_index:
            warnings.append(f"{record.path}: class {box.class_name!r} is not exported; left out")
            continue
        clipped = clip_box(box.box, w, h)
        if clipped != box.box:
            verb = "left out" if clipped is None else "clipped"
            warnings.append(f"{record.path}: box {box.box} reaches outside the image; {verb}")
        if clipped is None:
            continue
        x1, y1, x2, y2 = clipped
        lines.append(
            f"{class_index[box.class_name]} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
            f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}"
        )
    return lines


def export_yolo(
    records: Iterable[ImageRecord],
    out_dir: Path,
    classes: list[str],
    images_root: Path,
    images: ImageMode = "none",
    step: Callable[[], None] | None = None,
) -> ExportReport:
    """Write ``records`` as a YOLO dataset under ``out_dir`` (layout in the module docstring).

    Args:
        records: the images; each gets a label file.
        out_dir: the dataset folder, created if needed.
        classes: the class names in index order; boxes of other classes are left out.
        images_root: the folder the records' paths are relative to.
        images: ``"none"``, ``"link"`` (symbolic links, copies where the file system
            refuses links) or ``"copy"``.
        step: called before each image is written; it may raise to stop the export, which
            leaves the files written so far complete.

    Returns:
        Counts (``images`` = label files written, ``objects`` = label lines) and warnings:
        boxes clipped or left out, images whose label file another image already took
        (``a/x.jpg`` and ``a/x.png``) or whose name is too long, missing image files,
        copies made instead of links.

    Raises:
        ValueError: a bad ``images``; an empty, repeated or multi-line class name.
        OSError: a file cannot be written.
    """
    check_image_mode(images)
    check_classes(classes)
    class_index = {name: i for i, name in enumerate(classes)}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "classes.txt", "".join(f"{c}\n" for c in classes).encode())
    report = ExportReport(classes=len(classes), files_written=1)
    taken: dict[str, str] = {}
    placements = []
    for record in sorted(records, key=lambda r: r.path):
        if step is not None:
            step()
        label = PurePosixPath(record.path).with_suffix(".txt").as_posix()
        if label.casefold() in taken:
            report.warnings.append(
                f"{record.path}: its label file {label} belongs to {taken[label.casefold()]}; "
                "image left out"
            )
            continue
        taken[label.casefold()] = record.path
        lines = yolo_lines(record, class_index, report.warnings)
        target = out_dir / "labels" / label
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, "".join(f"{line}\n" for line in lines).encode())
        except OSError as exc:
            if (why := one_file_problem(exc)) is None:
                raise
            report.warnings.append(f"{shown_path(record.path)}: {why}; image left out")
            continue
        report.images += 1
        report.objects += len(lines)
        report.files_written += 1
        placements.append((images_root / record.path, out_dir / "images" / record.path))
    report.files_written += place_images(placements, images, report.warnings)
    return report
