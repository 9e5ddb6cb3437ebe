"""Exporting records as a Pascal VOC dataset in the VOCdevkit layout.

Under ``out_dir``::

    Annotations/<id>.xml                      one per image, also for images without boxes
    JPEGImages/<id><suffix>                   only with images="link" or "copy"
    ImageSets/Main/{trainval,train,val}.txt   one id a line, sorted
    ImageSets/Main/<class>_{trainval,train,val}.txt   "<id>  1", "<id> -1" or "<id>  0"

Image ids: VOC names an image by its stem, but a project can hold ``a/x.jpg`` and
``b/x.jpg``. The id is the image's path relative to the project root without its suffix,
``/`` replaced by ``__`` and white space by ``_`` (so the per-class lists keep two
columns): ``sub dir/ünï.jpg`` → ``sub_dir__ünï``. If two images still get the same id,
compared ignoring case as on Windows and macOS file systems, the one later in path order
gets ``_2`` (then ``_3`` ...) appended.

Each XML's ``<folder>`` is the name of ``out_dir`` (as VOC2007's files say ``VOC2007``),
``<filename>`` the image's file name in ``JPEGImages/`` and ``<path>`` that file relative to
``out_dir``, whether or not the images are placed there. The image keeps its suffix (VOC's
own images are all ``.jpg``; loaders that assume it need JPEG images).

Files already in ``out_dir`` are overwritten; files from an earlier export that this one
does not write are left alone (the ``ImageSets`` lists say what belongs to the set).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.formats.records import (
    ExportReport,
    ImageMode,
    ImageRecord,
    check_image_mode,
    place_images,
    write_atomic,
)
from core.formats.voc import write_voc

#: Characters that cannot appear in a per-class list's file name on some file system.
_NOT_IN_FILE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


@dataclass
class VocExportReport(ExportReport):
    """An export's counts; ``train + val == images``."""

    train: int = 0
    val: int = 0


def image_ids(paths: Iterable[str]) -> dict[str, str]:
    """The VOC id of every path (see the module docstring), unique ignoring case."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for path in sorted(set(paths)):
        base = re.sub(r"\s", "_", PurePosixPath(path).with_suffix("").as_posix().replace("/", "__"))
        candidate, n = base, 1
        while candidate.casefold() in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate.casefold())
        ids[path] = candidate
    return ids


def split_ids(ids: Iterable[str], val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """``(train, val)``, each sorted: ids ordered by SHA-256 of ``"<seed>:<id>"``, the first
    ``round(n * val_fraction)`` go to val. The same ids and seed give the same split on every
    machine, and adding images moves few others between train and val."""
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction={val_fraction} is not between 0 and 1")
    ordered = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).digest())
    n_val = round(len(ordered) * val_fraction)
    return sorted(ordered[n_val:]), sorted(ordered[:n_val])


def _class_label(record: ImageRecord, name: str) -> int:
    """VOC's per-class flag: 1 with a plain object of the class, 0 with only difficult
    ones, -1 without."""
    flags = [b.difficult for b in record.boxes if b.class_name == name]
    return -1 if not flags else 0 if all(flags) else 1


def export_voc(
    records: Iterable[ImageRecord],
    out_dir: Path,
    images_root: Path,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    images: ImageMode = "none",
    verified: Callable[[ImageRecord], bool] | None = None,
    step: Callable[[], None] | None = None,
) -> VocExportReport:
    """Write every record as a VOC dataset under ``out_dir`` (layout in the module docstring).

    Args:
        records: the images; each is exported, with or without boxes.
        out_dir: the dataset folder, created if needed.
        images_root: the folder the records' paths are relative to.
        val_fraction: share of the images in ``val.txt``, 0 to 1.
        seed: chooses the split (see :func:`split_ids`).
        images: ``"none"``, ``"link"`` (symbolic links, copies where the file system
            refuses links) or ``"copy"``.
        verified: whether a person reviewed an image; without it an image counts as
            reviewed when it has boxes. Files with a pseudo-label are never ``verified="yes"``.
        step: called before each image is written; it may raise to stop the export, which
            leaves the files written so far complete and the ``ImageSets`` lists as they were.

    Returns:
        Counts and warnings (missing image files, copies made instead of links, classes
        whose name cannot name a per-class list).

    Raises:
        ValueError: a bad ``val_fraction`` or ``images``; a name XML cannot store.
        OSError: a file cannot be written.
    """
    check_image_mode(images)
    report = VocExportReport()
    by_path: dict[str, ImageRecord] = {}
    for record in records:
        if record.path in by_path:
            report.warnings.append(f"{record.path}: listed twice; its last record is exported")
        by_path[record.path] = record
    ids = image_ids(by_path)
    by_id = {ids[path]: record for path, record in sorted(by_path.items())}
    train, val = split_ids(by_id, val_fraction, seed)
    classes = sorted({b.class_name for r in by_id.values() for b in r.boxes})
    report.images, report.train, report.val = len(by_id), len(train), len(val)
    report.objects, report.classes = sum(len(r.boxes) for r in by_id.values()), len(classes)
    is_verified = verified or (lambda r: bool(r.boxes))
    annotations, jpeg_dir = out_dir / "Annotations", out_dir / "JPEGImages"
    sets_dir = out_dir / "ImageSets" / "Main"
    for folder in (annotations, sets_dir):
        folder.mkdir(parents=True, exist_ok=True)
    placements = []
    for image_id, record in by_id.items():
        if step is not None:
            step()
        file_name = image_id + PurePosixPath(record.path).suffix
        xml_path = annotations / f"{image_id}.xml"
        image_path = f"JPEGImages/{file_name}"
        write_voc(record, xml_path, out_dir.name, image_path, verified=is_verified(record))
        placements.append((images_root / record.path, jpeg_dir / file_name))
    report.files_written = len(by_id) + place_images(placements, images, report.warnings)
    splits = {"trainval": sorted(by_id), "train": train, "val": val}
    lists = {f"{name}.txt": members for name, members in splits.items()}
    for class_name in classes:
        if _NOT_IN_FILE_NAME.search(class_name) or not class_name.strip(" ."):
            report.warnings.append(f"class {class_name!r} cannot name a file; no per-class lists")
            continue
        for name, members in splits.items():
            labels = (_class_label(by_id[i], class_name) for i in members)
            lists[f"{class_name}_{name}.txt"] = [
                f"{i} {label:2d}" for i, label in zip(members, labels, strict=True)
            ]
    for file_name, lines in lists.items():
        write_atomic(sets_dir / file_name, "".join(f"{line}\n" for line in lines).encode())
    report.files_written += len(lists)
    return report
