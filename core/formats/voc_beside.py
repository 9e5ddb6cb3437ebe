"""Exporting records as LabelImg saves them: one Pascal VOC XML file beside each image.

Image ``<dir>/<stem><suffix>`` below ``images_root`` gets ``<dir>/<stem>.xml``. As in
LabelImg, ``<folder>`` is the name of the image's folder, ``<filename>`` the image's file
name and ``<path>`` its absolute path. An XML file already there is replaced (atomically);
XML files beside images that are not exported are left alone. An image whose XML cannot be
written (a text XML cannot store, a file name too long) is left out with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from core.formats.records import ExportReport, ImageRecord, one_file_problem, shown_path
from core.formats.voc import write_voc


def export_voc_beside(
    records: Iterable[ImageRecord],
    images_root: Path,
    *,
    verified: Callable[[ImageRecord], bool] | None = None,
    step: Callable[[], None] | None = None,
) -> ExportReport:
    """Write each record's XML beside its image (see the module docstring).

    Args:
        records: the images; each gets an XML file, with or without objects.
        images_root: the folder the records' paths are relative to (absolute).
        verified: whether a person reviewed an image; without it an image counts as
            reviewed when it has boxes. Files with a pseudo-label are never ``verified="yes"``.
        step: called before each image is written; it may raise to stop the export, which
            leaves the files written so far complete.

    Returns:
        Counts and warnings: images whose file is missing (no XML written), images whose
        XML file another image already took (``a/x.jpg`` and ``a/x.png``) or that cannot
        be written (a text XML cannot store, a file name too long).

    Raises:
        OSError: a file cannot be written (a full disk, a read-only folder).
    """
    report = ExportReport(files_written=0)
    is_verified = verified or (lambda r: bool(r.boxes))
    taken: dict[str, str] = {}
    classes: set[str] = set()
    for record in sorted(records, key=lambda r: r.path):
        if step is not None:
            step()
        xml = PurePosixPath(record.path).with_suffix(".xml").as_posix()
        image = images_root / record.path
        if xml.casefold() in taken:
            report.warnings.append(
                f"{record.path}: its XML file {xml} belongs to {taken[xml.casefold()]}; "
                "image left out"
            )
            continue
        if not image.is_file():
            report.warnings.append(f"{record.path}: no such image file; no XML written")
            continue
        taken[xml.casefold()] = record.path
        folder, verified_image = image.parent.name, is_verified(record)
        try:
            write_voc(record, images_root / xml, folder, str(image), verified=verified_image)
        except (OSError, ValueError) as exc:
            if (why := one_file_problem(exc)) is None:
                raise
            report.warnings.append(f"{shown_path(record.path)}: {why}; image left out")
            continue
        report.images += 1
        report.objects += len(record.boxes)
        report.files_written += 1
        classes.update(b.class_name for b in record.boxes)
    report.classes = len(classes)
    return report
