"""Exporting records as a Pascal VOC dataset in the VOCdevkit layout.

Under ``out_dir``::

    Annotations/<id>.xml                      one per image, also for images without boxes
    JPEGImages/<id><suffix>                   only with images="link" or "copy"
    ImageSets/Main/{trainval,train,val}.txt   one id a line, sorted
    ImageSets/Main/<class>_{trainval,train,val}.txt   "<id>  1", "<id> -1" or "<id>  0"

Image ids: VOC names an image by its stem, but a project can hold ``a/x.jpg`` and
``b/x.jpg``. The id is the image's path relative to the project root without its suffix,
``/`` replaced by ``__`` and white space by ``_`` (so the per-class lists keep two
columns): ``sub dir/ünï.jpg`` → ``sub_dir__ünï``. An id longer than :data:`MAX_ID_BYTES`
(deep folders) is cut and ends with ``_`` and 8 hex digits of the path's SHA-256, so that
it can name a file. If two images still get the same id, compared ignoring case as on
Windows and macOS file systems, the one later in path order gets ``_2`` (then ``_3`` ...)
appended.

Each XML's ``<folder>`` is the name of ``out_dir`` (as VOC2007's files say ``VOC2007``),
``<filename>`` the image's file name in ``JPEGImages/`` and ``<path>`` that file relative to
``out_dir``, whether or not the images are placed there. The image keeps its suffix (VOC's
own images are all ``.jpg``; loaders that assume it need JPEG images).

Files already in ``out_dir`` are overwritten; files from an earlier export that this one
does not write are left alone (the ``ImageSets`` lists say what belongs to the set). An
image whose XML cannot be written (a name XML cannot store, a file name too long) is left
out of the lists with a warning; a class whose name cannot name a file gets no per-class
lists.
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
    fits_file_name,
    one_file_problem,
    place_images,
    shown,
    shown_path,
    write_atomic,
)
from core.formats.voc import write_voc

#: Characters that cannot appear in a per-class list's file name on some file system.
_NOT_IN_FILE_NAME = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
#: The longest image id in bytes of UTF-8: with ``.xml`` or the image's suffix and the
#: temporary name of an atomic write it still fits in a file name.
MAX_ID_BYTES = 200


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
        if len(base.encode()) > MAX_ID_BYTES:
            digest = hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:8]
            head = base.encode()[: MAX_ID_BYTES - 9].decode(errors="ignore")
            base = f"{head}_{digest}"
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
        Counts of what was written and warnings: images left out (a text XML cannot store,
        a file name too long), missing image files, copies made instead of links, classes
        whose name cannot name a per-class list.

    Raises:
        ValueError: a bad ``val_fraction`` or ``images``, before anything is written.
        OSError: a file cannot be written.
    """
    check_image_mode(images)
    split_ids([], val_fraction, seed)  # refuses a bad val_fraction before writing
    report = VocExportReport()
    by_path: dict[str, ImageRecord] = {}
    for record in records:
        if record.path in by_path:
            report.warnings.append(f"{record.path}: listed twice; its last record is exported")
        by_path[record.path] = record
    ids = image_ids(by_path)
    is_verified = verified or (lambda r: bool(r.boxes))
    annotations, jpeg_dir = out_dir / "Annotations", out_dir / "JPEGImages"
    sets_dir = out_dir / "ImageSets" / "Main"
    for folder in (annotations, sets_dir):
        folder.mkdir(parents=True, exist_ok=True)
    by_id: dict[str, ImageRecord] = {}
    placements = []
    for path, record in sorted(by_path.items()):
        if step is not None:
            step()
        image_id = ids[path]
        file_name = image_id + PurePosixPath(record.path).suffix
        try:
            write_voc(
                record,
                annotations / f"{image_id}.xml",
                out_dir.name,
                f"JPEGImages/{file_name}",
                verified=is_verified(record),
            )
        except (OSError, ValueError) as exc:
            if (why := one_file_problem(exc)) is None:
                raise
            report.warnings.append(f"{shown_path(record.path)}: {why}; image left out")
            continue
        by_id[image_id] = record
        placements.append((images_root / record.path, jpeg_dir / file_name))
    report.files_written = len(by_id) + place_images(placements, images, report.warnings)
    train, val = split_ids(by_id, val_fraction, seed)
    classes = sorted({b.class_name for r in by_id.values() for b in r.boxes})
    report.images, report.train, report.val = len(by_id), len(train), len(val)
    report.objects, report.classes = sum(len(r.boxes) for r in by_id.values()), len(classes)
    splits = {"trainval": sorted(by_id), "train": train, "val": val}
    lists = {f"{name}.txt": members for name, members in splits.items()}
    for class_name in classes:
        bad = _NOT_IN_FILE_NAME.search(class_name) or not class_name.strip(" .")
        if bad or not fits_file_name(f"{class_name}_trainval.txt"):
            report.warnings.append(
                f"class {shown(class_name)} cannot name a file; no per-class lists"
            )
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
