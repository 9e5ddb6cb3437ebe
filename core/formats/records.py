"""Plain records that the exchange formats read and write, and the file helpers they share.

The formats know nothing of the project store: an export takes :class:`ImageRecord` s and
an import returns them. Boxes are ``(x1, y1, x2, y2)`` in continuous pixel edges of the
image as displayed (EXIF orientation applied): the whole ``W × H`` image is
``(0, 0, W, H)``.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Literal, get_args

Box = tuple[float, float, float, float]
#: How an export places the image files: not at all, as symbolic links, or as copies.
ImageMode = Literal["none", "link", "copy"]
IMAGE_MODES: tuple[str, ...] = get_args(ImageMode)


@dataclass(frozen=True)
class BoxRecord:
    """One box.

    Attributes:
        class_name: the class, non-empty.
        box: ``(x1, y1, x2, y2)`` in pixel edges, finite, ``x1 < x2`` and ``y1 < y2``.
        verified: ``False`` for machine pseudo-labels; those are never written as verified.

    Raises:
        ValueError: empty class name, non-finite or empty box.
    """

    class_name: str
    box: Box
    difficult: bool = False
    truncated: bool = False
    occluded: bool = False
    pose: str = "Unspecified"
    verified: bool = True

    def __post_init__(self) -> None:
        if not self.class_name.strip():
            raise ValueError("a box needs a class name")
        x1, y1, x2, y2 = self.box
        if not all(math.isfinite(v) for v in self.box) or not (x1 < x2 and y1 < y2):
            raise ValueError(f"box {self.box} of {self.class_name!r} is not finite and non-empty")


@dataclass(frozen=True)
class ImageRecord:
    """One image and its boxes.

    Attributes:
        path: POSIX path relative to the project root, e.g. ``"sub dir/ünï.jpg"``; no
            ``..``, no leading ``/`` or drive, no empty or ``.`` parts.
        width, height: size in pixels as displayed, both at least 1.
        depth: number of channels.

    Raises:
        ValueError: a path that is not a plain relative path, or a size below 1.
    """

    path: str
    width: int
    height: int
    depth: int = 3
    boxes: tuple[BoxRecord, ...] = ()

    def __post_init__(self) -> None:
        check_relative_path(self.path)
        if self.width < 1 or self.height < 1:
            raise ValueError(f"{self.path}: image size {self.width} × {self.height} is empty")


@dataclass
class ExportReport:
    """What an export wrote: counts, and one line per box or file that was changed or left out."""

    images: int = 0
    objects: int = 0
    classes: int = 0
    files_written: int = 0
    warnings: list[str] = field(default_factory=list)


def check_relative_path(path: str) -> None:
    """Raise ``ValueError`` unless ``path`` is a plain POSIX path below a root folder, so that
    no export can write outside its output folder."""
    windows = PureWindowsPath(path)  # also splits at "/", and finds drives and roots
    if (
        not path
        or "\0" in path
        or windows.drive
        or windows.root
        or ".." in windows.parts
        or PurePosixPath(path).as_posix() != path
    ):
        raise ValueError(f"{path!r} is not a relative POSIX path inside the project")


def shown(value: object, limit: int = 40) -> str:
    """``value`` for a message: its ``repr``, cut after ``limit`` characters and then
    followed by "...", so that a 1 MB name or a long list stays a short line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}..."


def shown_path(path: object) -> str:
    """An image path as a message starts with it: as is when it is short printable text,
    else quoted and cut by :func:`shown` (a blob, a control character, 1 MB of text)."""
    if isinstance(path, str) and path.isprintable() and len(path) <= 300:
        return path
    return shown(path, 80)


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """``box`` limited to the ``width × height`` image; ``None`` when nothing is left."""
    x1, x2 = (float(min(max(v, 0.0), width)) for v in (box[0], box[2]))
    y1, y2 = (float(min(max(v, 0.0), height)) for v in (box[1], box[3]))
    return (x1, y1, x2, y2) if x1 < x2 and y1 < y2 else None


#: The longest file name most file systems take, in bytes of UTF-8 (ext4, APFS; NTFS
#: counts 255 UTF-16 units, never fewer characters).
MAX_FILE_NAME = 255


def _temp_beside(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def fits_file_name(name: str) -> bool:
    """Whether ``name``, and the temporary name :func:`write_atomic` gives it first, are
    short enough for a file name."""
    return len(_temp_beside(Path(name)).name.encode("utf-8", "surrogateescape")) <= MAX_FILE_NAME


def one_file_problem(exc: OSError | ValueError) -> str | None:
    """A short reason when a writer's error concerns one file only, so that an export can
    leave that image out and go on: a text XML cannot store (ValueError) or a name too
    long for the file system. None for what concerns every file (a full disk, a
    read-only folder), which should stop the export."""
    if isinstance(exc, ValueError):
        text = str(exc)
        return text if len(text) <= 200 else f"{text[:200]}..."
    return "its file name is too long" if exc.errno == errno.ENAMETOOLONG else None


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and
    ``os.replace``: readers see the old file or the new one, never half of one."""
    tmp = _temp_beside(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        with os.fdopen(os.open(tmp, flags, 0o666), "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _place(source: Path, target: Path, mode: ImageMode) -> bool:
    """Put ``source`` at ``target`` as a symbolic link or a copy, replacing what is there;
    ``False`` when a link was asked for but the file system refused it (Windows without the
    privilege, FAT, some network shares) and a copy was made instead."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(target)
    linked = False
    try:
        if mode == "link":
            try:
                os.symlink(source.resolve(), tmp)
                linked = True
            except OSError:
                pass
        if not linked:
            shutil.copy2(source, tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return linked or mode == "copy"


def place_images(pairs: Iterable[tuple[Path, Path]], mode: ImageMode, warnings: list[str]) -> int:
    """Link or copy each ``(source, target)`` image (nothing when ``mode`` is ``"none"``).

    Returns the number of files placed; missing sources and copies made where links were
    refused add lines to ``warnings``.
    """
    if mode == "none":
        return 0
    placed = copied_not_linked = 0
    for source, target in pairs:
        if not source.is_file():
            warnings.append(f"{source}: no such image file; its annotation is still written")
            continue
        copied_not_linked += not _place(source, target, mode)
        placed += 1
    if copied_not_linked:
        warnings.append(
            f"symbolic links are not possible here; {copied_not_linked} images were copied"
        )
    return placed


def check_image_mode(images: str) -> None:
    """Raise ``ValueError`` unless ``images`` is one of :data:`IMAGE_MODES`."""
    if images not in IMAGE_MODES:
        raise ValueError(f"images={images!r}; choose one of {', '.join(IMAGE_MODES)}")


def check_classes(classes: list[str]) -> None:
    """Raise ``ValueError`` for an empty, multi-line or repeated class name."""
    for name in classes:
        if not name.strip() or "\n" in name or "\r" in name:
            raise ValueError(f"class name {name!r} is empty or spans several lines")
    if len(set(classes)) != len(classes):
        raise ValueError(f"class names repeat: {classes}")
