"""Writing a project's reviewed boxes to Pascal VOC, YOLO or COCO.

Which images: an image is *reviewed* when its status is ``done``. By default only reviewed
images are exported; those without accepted boxes are written as images with no objects
(negatives). With ``include_unreviewed`` the images not yet done that have accepted or
edited boxes are added, with those boxes only. An image that is not reviewed is never
written as an image with no objects (a model trained on it would learn that its objects
are background), and an ``unreadable`` image is never written.

An export only reads the project. A row it cannot trust (a coordinate or size that is not
a number, an inverted box, a path leaving the project folder: see
:mod:`core.services.export_rows`) leaves out its image with a line in
:attr:`ExportSummary.problems`; a class name no format can store leaves out that class and
its boxes with a line in :attr:`ExportSummary.warnings`. The rest is exported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.engine.errors import InputError
from core.engine.images import ImageLoadError, image_size
from core.formats.records import ImageMode, ImageRecord, clip_box, shown_path
from core.formats.voc_export import VocExportReport
from core.formats.writers import ExportJob, writer_for
from core.services.export_rows import (
    RefusedRow,
    box_record,
    checked_path,
    class_problems,
    stored_size,
)
from core.store.models import LABEL_STATES
from core.store.project import Project
from core.store.rows import ImageRow

#: Box states that an export writes: what a person accepted, as is or edited.
EXPORTED_STATES = LABEL_STATES
#: Reasons an image is left out, as :attr:`ExportSummary.skipped` names them, in that order.
NOT_REVIEWED = "not reviewed"
NO_ACCEPTED_BOXES = "not reviewed, without accepted boxes"
UNREADABLE = "unreadable"
REFUSED = "refused"


class ExportCancelled(Exception):
    """The ``cancelled`` callback stopped an export between two images; every file it had
    written is complete (files are replaced atomically), none is half-written."""


@dataclass(frozen=True)
class ExportSummary:
    """What one export wrote and left out.

    Attributes:
        images: images written (annotation files, or images in the COCO file).
        boxes: boxes of the written images per class name, in the project's class order.
        skipped: images left out per reason (:data:`NOT_REVIEWED`, :data:`NO_ACCEPTED_BOXES`,
            :data:`UNREADABLE`, :data:`REFUSED`); only reasons that occurred.
        problems: one line per image left out because its file could not be read
            (unreadable) or its row is damaged or unsafe (refused).
        warnings: classes left out with their boxes, then the format's lines: boxes
            clipped or left out, files missing, clashing or impossible to name.
        split: ``(train, val)`` image counts of a VOCdevkit export, else None.
    """

    images: int
    boxes: dict[str, int]
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    split: tuple[int, int] | None = None

    def skipped_lines(self) -> list[str]:
        """``["172 not reviewed", "1 unreadable"]``: one line per reason."""
        return [f"{n} {reason}" for reason, n in self.skipped.items()]


def _record(
    project: Project, row: ImageRow, class_problems: dict[str, str], left_out: Counter[str]
) -> ImageRecord:
    """The image with its accepted and edited boxes; a size not yet known is read from the
    file's header (and not stored: an export only reads the project). Boxes of a class in
    ``class_problems`` are left out and counted in ``left_out``.

    Raises:
        RefusedRow: a damaged row or a path outside the project (see core.services.export_rows).
        ImageLoadError: the size is not known and the file cannot be read.
    """
    path = checked_path(row)
    size = stored_size(row) or image_size(project.root / path)
    try:
        rows = project.box_records.boxes(row.id, states=EXPORTED_STATES)
    except (TypeError, ValueError) as exc:  # a column the store cannot convert
        raise RefusedRow(f"{shown_path(path)}: its boxes cannot be read ({exc}); left out") from exc
    boxes = []
    for box in rows:
        if box.class_name in class_problems:
            left_out[box.class_name] += 1
        else:
            boxes.append(box_record(path, box))
    return ImageRecord(path=path, width=size[0], height=size[1], boxes=tuple(boxes))


def _records(
    project: Project,
    candidates: list[ImageRow],
    step: Callable[[], None],
    skipped: Counter[str],
    problems: list[str],
    class_problems: dict[str, str],
) -> tuple[list[ImageRecord], set[str], Counter[str]]:
    """The records to write, the paths of the reviewed ones and the boxes left out per
    class of ``class_problems``; images left out are counted in ``skipped`` with a line in
    ``problems``. An image not done keeps only its boxes that overlap it, and is left out
    without any."""
    records: list[ImageRecord] = []
    reviewed: set[str] = set()
    left_out: Counter[str] = Counter()
    for row in candidates:
        step()
        try:
            record = _record(project, row, class_problems, left_out)
        except (RefusedRow, ImageLoadError) as exc:
            problems.append(str(exc))
            skipped[REFUSED if isinstance(exc, RefusedRow) else UNREADABLE] += 1
            step()  # the write step this image will not take
            continue
        if row.status != "done":
            w, h = record.width, record.height
            record = replace(record, boxes=tuple(b for b in record.boxes if clip_box(b.box, w, h)))
            if not record.boxes:
                skipped[NO_ACCEPTED_BOXES] += 1
                step()
                continue
        records.append(record)
        if row.status == "done":
            reviewed.add(record.path)
    return records, reviewed, left_out


def export_project(
    project: Project,
    fmt: str,
    out: str | Path | None,
    images: ImageMode = "none",
    val_fraction: float = 0.2,
    seed: int = 0,
    *,
    voc_layout: str = "devkit",
    include_unreviewed: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ExportSummary:
    """Export the images chosen as the module docstring says, as ``fmt`` into ``out``.

    Args:
        project: the open project.
        fmt: ``voc``, ``yolo`` or ``coco`` (``out/annotations.json``).
        out: the output folder, created if needed; not used (may be None) for VOC beside.
        images: ``none``, ``link`` or ``copy`` the image files into ``out`` (not for beside).
        val_fraction, seed: the VOCdevkit train/val split.
        voc_layout: ``devkit`` or ``beside`` (see :data:`core.formats.writers.VOC_LAYOUTS`).
        include_unreviewed: also export images not done that have accepted boxes.
        progress: called with ``(done, total)`` steps: each candidate image is one step
            when read from the store and one when written.
        cancelled: checked before each step; when it returns True the export stops.

    Raises:
        ExportCancelled: ``cancelled`` returned True.
        ValueError: unknown format or layout, no ``out`` where one is needed, bad options.
        OSError: a file cannot be written.
        StoreError: the project file cannot be read.
    """
    writer = writer_for(fmt, voc_layout)
    out = None if out is None else Path(out)
    if writer.needs_out and out is None:
        raise InputError(f"a {fmt} export needs an output folder")
    skipped: Counter[str] = Counter()
    candidates = []
    for row in project.images(order_by="path"):
        if row.status == "unreadable":
            skipped[UNREADABLE] += 1
        elif row.status == "done" or (include_unreviewed and row.box_count > 0):
            candidates.append(row)
        else:
            skipped[NO_ACCEPTED_BOXES if include_unreviewed else NOT_REVIEWED] += 1
    done, total = 0, 2 * len(candidates)

    def step() -> None:
        nonlocal done
        if cancelled is not None and cancelled():
            raise ExportCancelled("export cancelled")
        done += 1
        if progress is not None:
            progress(done, total)

    problems: list[str] = []
    all_classes = project.class_records.classes()
    bad = class_problems(all_classes)
    classes = [name for name in all_classes if name not in bad]
    records, reviewed, left_out = _records(project, candidates, step, skipped, problems, bad)
    job = ExportJob(
        records,
        out,
        project.root,
        classes,
        images,
        lambda record: record.path in reviewed,
        (val_fraction, seed),
        step,
    )
    report = writer.write(job)
    if progress is not None:
        progress(total, total)
    order = {name: i for i, name in enumerate(classes)}
    counts = Counter(b.class_name for r in records for b in r.boxes)
    by_class = sorted(counts.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
    reasons = (NOT_REVIEWED, NO_ACCEPTED_BOXES, UNREADABLE, REFUSED)
    class_lines = [
        f"{why}: the class is left out with its {left_out[n]} box{'es' * (left_out[n] != 1)}"
        for n, why in bad.items()
    ]
    return ExportSummary(
        images=report.images,
        boxes=dict(by_class),
        skipped={reason: skipped[reason] for reason in reasons if skipped[reason]},
        problems=problems,
        warnings=class_lines + report.warnings,
        split=(report.train, report.val) if isinstance(report, VocExportReport) else None,
    )
