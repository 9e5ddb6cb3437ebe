"""The export formats by name: one small class per way of writing a dataset.

Each :class:`Writer` takes one :class:`ExportJob` and returns the format's report; the
exporter (:mod:`core.services.exporter`) picks one with :func:`writer_for`. A new export
format is one class here and one entry in :data:`WRITERS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from core.engine.errors import InputError, UnknownNameError
from core.formats.coco import export_coco
from core.formats.records import ExportReport, ImageMode, ImageRecord
from core.formats.voc_beside import export_voc_beside
from core.formats.voc_export import export_voc
from core.formats.yolo import export_yolo


@dataclass(frozen=True)
class ExportJob:
    """What a writer writes.

    Attributes:
        records: the images with their boxes (continuous pixel edges).
        out: the output folder; None only for a writer that writes beside the images.
        root: the image folder the records' paths are relative to (absolute).
        classes: the class names in index order (YOLO indices, COCO ids − 1).
        images: ``none``, ``link`` or ``copy`` the image files into ``out``.
        verified: whether a person reviewed an image (VOC's ``verified`` attribute).
        split: the VOCdevkit ``(val_fraction, seed)``.
        step: called before each image is written; it may raise to stop the export.
    """

    records: list[ImageRecord]
    out: Path | None
    root: Path
    classes: list[str]
    images: ImageMode
    verified: Callable[[ImageRecord], bool]
    split: tuple[float, int]
    step: Callable[[], None]

    @property
    def folder(self) -> Path:
        if self.out is None:
            raise InputError("this export needs an output folder")
        return self.out


class Writer(ABC):
    """One export format (and, for VOC, one layout)."""

    #: The ``--format`` value and the layout (``devkit`` or ``beside``) it answers to.
    format: ClassVar[str]
    layout: ClassVar[str] = "devkit"
    #: Whether it writes into an output folder (and may copy the images there).
    needs_out: ClassVar[bool] = True

    @abstractmethod
    def write(self, job: ExportJob) -> ExportReport:
        """Write the dataset; OSError when a file cannot be written."""


class VocDevkitWriter(Writer):
    """``VOC2012/Annotations``, ``ImageSets/Main`` train/val lists, ``JPEGImages``."""

    format = "voc"

    def write(self, job):
        val_fraction, seed = job.split
        return export_voc(
            job.records,
            job.folder,
            job.root,
            val_fraction=val_fraction,
            seed=seed,
            images=job.images,
            verified=job.verified,
            step=job.step,
        )


class VocBesideWriter(Writer):
    """``<stem>.xml`` beside each image, as LabelImg writes them."""

    format, layout, needs_out = "voc", "beside", False

    def write(self, job):
        if job.images != "none":
            raise InputError("the images are already beside their XML files; do not copy them")
        return export_voc_beside(job.records, job.root, verified=job.verified, step=job.step)


class YoloWriter(Writer):
    """``labels/*.txt`` with centre, width and height as fractions, and ``classes.txt``."""

    format = "yolo"

    def write(self, job):
        return export_yolo(job.records, job.folder, job.classes, job.root, job.images, job.step)


class CocoWriter(Writer):
    """One ``annotations.json`` with images, categories and boxes ``[x, y, w, h]``."""

    format = "coco"

    def write(self, job):
        job.folder.mkdir(parents=True, exist_ok=True)
        return export_coco(job.records, job.folder / "annotations.json", job.classes, step=job.step)


#: Every writer by ``(format, layout)``.
WRITERS: dict[tuple[str, str], Writer] = {
    (w.format, w.layout): w
    for w in (VocDevkitWriter(), VocBesideWriter(), YoloWriter(), CocoWriter())
}
#: The format names, in the order the command line lists them.
FORMATS = tuple(dict.fromkeys(fmt for fmt, _ in WRITERS))
#: Where VOC files go: a VOCdevkit folder, or one XML beside each image (as LabelImg).
VOC_LAYOUTS = tuple(layout for fmt, layout in WRITERS if fmt == "voc")


def writer_for(fmt: str, layout: str = "devkit") -> Writer:
    """The writer of ``fmt``; ``layout`` counts for VOC only.

    Raises:
        ValueError: an unknown format or layout.
    """
    key = (fmt, layout if fmt == "voc" else "devkit")
    if key not in WRITERS:
        raise UnknownNameError(f"unknown format {fmt!r} or VOC layout {layout!r}")
    return WRITERS[key]
