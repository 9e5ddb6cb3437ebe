"""Reading and writing Pascal VOC XML annotations safely.

Coordinates: VOC stores 1-based inclusive pixel indices. SaliBox keeps continuous pixel
edges (see :mod:`core.engine.boxes`), so ``x1 = xmin - 1``, ``y1 = ymin - 1``, ``x2 = xmax``,
``y2 = ymax``; writing back is the inverse (``xmin = round(x1) + 1``, ``xmax = round(x2)``),
so integer boxes round-trip to the pixel.

Verification: ``<annotation verified="yes">`` (labelImg's attribute) says a person reviewed
the whole image. SaliBox also marks a machine pseudo-label with ``<verified>0</verified>``
inside its ``<object>``; other VOC readers ignore that tag.
"""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from core.formats.records import Box, BoxRecord, ImageRecord, clip_box, write_atomic
from core.formats.safe_xml import XmlError, xml_events
from core.store.rows import InvalidClassNameError, clean_class_name


class AnnotationError(ValueError):
    """An annotation file could not be used; the message says which file and why."""


@dataclass(frozen=True)
class VocObject:
    """One object: class name and box ``(x1, y1, x2, y2)`` in pixel edges; ``verified`` is
    ``False`` only for an object marked ``<verified>0</verified>`` (a machine pseudo-label)."""

    name: str
    box: tuple[float, float, float, float]
    difficult: bool = False
    truncated: bool = False
    occluded: bool = False
    pose: str = "Unspecified"
    verified: bool = True


@dataclass
class VocAnnotation:
    """The content of one VOC XML file; ``width``/``height`` (pixels) are 0 when the file
    lacks them or claims one that is not plausible, ``depth`` is 3 unless the file gives a
    positive integer of at most 4 digits, ``verified`` is ``True`` when the root element says
    ``verified="yes"``; ``warnings`` name the file; ``xml_path`` is the file it was read from."""

    filename: str
    width: int
    height: int
    objects: list[VocObject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    depth: int = 3
    verified: bool = False
    xml_path: str = ""
    #: Objects of the file that were not read (skipped or over the cap): the annotation is
    #: then not a complete record of the image.
    objects_lost: int = 0


#: Objects :func:`read_voc` keeps per file unless told otherwise; the rest are dropped with
#: a warning (a crowd of thousands of boxes is not something to review by hand).
MAX_OBJECTS = 2000
#: Largest width or height, in pixels, a ``<size>`` may claim; anything larger is not believed.
MAX_SIDE = 1_000_000
#: EXIF orientations that show the stored pixels turned by 90° or 270° (width and height swap).
TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})


def _text(node: ET.Element | None, tag: str, default: str = "") -> str:
    child = node.find(tag) if node is not None else None
    return (child.text or "").strip() if child is not None and child.text else default


def _number(node: ET.Element, tag: str, path: Path) -> float:
    raw = _text(node, tag)
    try:
        value = float(raw)
    except ValueError:
        raise AnnotationError(f"{path}: <{tag}> is {raw!r}, not a number") from None
    if not math.isfinite(value):
        raise AnnotationError(f"{path}: <{tag}> is {raw!r}, not a finite number")
    return value


def _side(text: str) -> int | None:
    """A ``<width>`` or ``<height>`` in pixels: 0 when empty or zero, ``None`` when it is not
    a number from 1 to :data:`MAX_SIDE` (negative, NaN, infinite, 1e19, text)."""
    if not text:
        return 0
    try:
        value = float(text)
    except ValueError:
        return None
    if value == 0:
        return 0
    return int(value) if 1 <= value <= MAX_SIDE else None


def _read_size(ann: VocAnnotation, size: ET.Element, path: Path) -> None:
    """Set ``ann``'s width, height and depth from ``<size>``; an implausible width or height
    leaves both 0 (missing) with a warning."""
    texts = (_text(size, "width"), _text(size, "height"))
    width, height = (_side(t) for t in texts)
    if width is None or height is None:
        ann.warnings.append(
            f"{path}: <size> says {texts[0]!r} × {texts[1]!r}, not a plausible image size; "
            "the image's own size is used"
        )
        width, height = (0 if width is None else width), (0 if height is None else height)
    ann.width, ann.height = width, height
    depth = _text(size, "depth")
    ann.depth = int(depth) if re.fullmatch("[1-9][0-9]{0,3}", depth) else 3


def _read_object(obj: ET.Element, number: int, path: Path) -> VocObject | str:
    """The ``number``-th (from 1) ``<object>`` of the file, or the warning saying why it is
    skipped: no ``<bndbox>``, or a ``<name>`` that :func:`clean_class_name` refuses (a
    missing ``<name>`` gives ``"unnamed"``).

    Raises:
        AnnotationError: non-numeric, non-finite or inverted coordinates.
    """
    bnd = obj.find("bndbox")
    if bnd is None:
        return f"{path}: an <object> without <bndbox> was skipped"
    name = obj.find("name")
    try:
        class_name = "unnamed" if name is None else clean_class_name(name.text or "")
    except InvalidClassNameError as exc:
        return f"{path}: object {number} skipped: {exc}"
    xmin, ymin, xmax, ymax = (_number(bnd, t, path) for t in ("xmin", "ymin", "xmax", "ymax"))
    if xmin > xmax or ymin > ymax:
        raise AnnotationError(
            f"{path}: box ({xmin}, {ymin}, {xmax}, {ymax}) has min greater than max"
        )
    return VocObject(
        name=class_name,
        box=(xmin - 1, ymin - 1, xmax, ymax),
        difficult=_text(obj, "difficult", "0") == "1",
        truncated=_text(obj, "truncated", "0") == "1",
        occluded=_text(obj, "occluded", "0") == "1",
        pose=_text(obj, "pose", "Unspecified"),
        verified=_text(obj, "verified", "1") != "0",
    )


def read_voc(path: str | Path, *, max_objects: int = MAX_OBJECTS) -> VocAnnotation:
    """Read a VOC XML file as a stream of elements (:func:`core.formats.safe_xml.xml_events`:
    defusedxml, any encoding Python knows), so memory does not grow with the file.

    Only the children of ``<annotation>`` are read: the first ``<filename>`` and ``<size>``,
    and each ``<object>``. These cost one line in ``warnings`` each and do not stop the
    file: an implausible size (taken as missing), an object without ``<bndbox>`` or with a
    class name the project refuses (skipped), and the objects after the first
    ``max_objects`` kept (dropped, counted in one line).

    Raises:
        AnnotationError: unreadable or undecodable, malformed or hostile XML, wrong root
            element, non-numeric, non-finite or inverted coordinates.
    """
    path = Path(path)
    ann = VocAnnotation(filename="", width=0, height=0, xml_path=str(path))
    root: ET.Element | None = None
    level = objects = dropped = 0
    seen: set[str] = set()
    try:
        for event, elem in xml_events(path):
            if event == "start":
                level += 1
                if root is None:
                    if elem.tag != "annotation":
                        raise AnnotationError(
                            f"{path}: root element is <{elem.tag}>, not <annotation>"
                        )
                    root = elem
                    ann.verified = elem.get("verified", "").strip().lower() == "yes"
                continue
            level -= 1
            if level != 1 or root is None:
                continue
            if elem.tag == "object":
                objects += 1
                if len(ann.objects) >= max_objects:
                    dropped += 1
                    ann.objects_lost += 1
                elif isinstance(read := _read_object(elem, objects, path), str):
                    ann.warnings.append(read)
                    ann.objects_lost += 1
                else:
                    ann.objects.append(read)
            elif elem.tag == "filename" and elem.tag not in seen:
                ann.filename = (elem.text or "").strip()
            elif elem.tag == "size" and elem.tag not in seen:
                _read_size(ann, elem, path)
            seen.add(elem.tag)
            root.remove(elem)
    except XmlError as exc:
        raise AnnotationError(f"{path}: {exc}") from exc
    if dropped:
        ann.warnings.append(
            f"{path}: {objects} objects, more than the {max_objects} kept per image; "
            f"the last {dropped} were dropped"
        )
    return ann


def _turned(box: Box, orientation: int, width: int, height: int) -> Box:
    """``box`` of the stored ``width × height`` pixels in the frame EXIF ``orientation``
    (5 to 8) shows, which is ``height × width``; pixel edges in, pixel edges out."""
    x1, y1, x2, y2 = box
    return {
        5: (y1, x1, y2, x2),  # transposed
        6: (height - y2, x1, height - y1, x2),  # turned 90° clockwise
        7: (height - y2, width - x2, height - y1, width - x1),  # transversed
        8: (y1, width - x2, y2, width - x1),  # turned 90° counter-clockwise
    }[orientation]


def voc_to_record(
    ann: VocAnnotation, rel_path: str, width: int, height: int, *, orientation: int = 1
) -> tuple[ImageRecord, list[str]]:
    """Turn a parsed VOC file into an :class:`ImageRecord` for the image at ``rel_path``.

    Args:
        ann: from :func:`read_voc`; its own ``warnings`` are not repeated in the result.
        rel_path: the image's POSIX path relative to the project root.
        width, height: the image's size in pixels as displayed (EXIF orientation applied),
            which wins over the XML's; 0 when unknown, and the XML's size is used.
        orientation: the image's EXIF orientation (1 to 8). When it is 5 to 8 and the XML
            gives the size of the stored pixels (``height × width``, not square), the boxes
            are taken as drawn on the stored pixels (as LabelImg saves phone photos) and
            turned into the displayed frame.

    Returns:
        The record, with boxes clipped to the image, and one warning per clipped or dropped
        box, size mismatch or turned frame, each starting with ``ann.xml_path (rel_path)``,
        or ``rel_path`` when ``ann.xml_path`` is empty. Boxes that are empty after clipping
        are dropped.

    Raises:
        AnnotationError: neither the arguments nor the XML give a size, or ``rel_path`` is
            not a plain relative POSIX path.
    """
    where = f"{ann.xml_path} ({rel_path})" if ann.xml_path else rel_path
    warnings: list[str] = []
    said = (ann.width, ann.height)
    turn = False
    if width > 0 and height > 0:
        if ann.width > 0 and ann.height > 0 and said != (width, height):
            turn = orientation in TRANSPOSING_ORIENTATIONS and said == (height, width)
            warnings.append(
                f"{where}: the XML says {ann.width} × {ann.height}, the image's size before "
                f"its EXIF orientation ({orientation}); its boxes are turned into the "
                f"{width} × {height} image as shown"
                if turn
                else f"{where}: the XML says {ann.width} × {ann.height} but the image is "
                f"{width} × {height}; the image's size is used"
            )
    elif ann.width > 0 and ann.height > 0:
        width, height = said
    else:
        raise AnnotationError(f"{where}: no image size in the XML nor from the image")
    boxes = []
    for obj in ann.objects:
        given = _turned(obj.box, orientation, *said) if turn else obj.box
        box = clip_box(given, width, height)
        shown = ", ".join(f"{v:g}" for v in given)
        if box is None:
            warnings.append(
                f"{where}: box ({shown}) of {obj.name!r} lies outside the "
                f"{width} × {height} image; dropped"
            )
            continue
        if box != given:
            warnings.append(
                f"{where}: box ({shown}) of {obj.name!r} clipped to the {width} × {height} image"
            )
        boxes.append(
            BoxRecord(
                class_name=obj.name,
                box=box,
                difficult=obj.difficult,
                truncated=obj.truncated,
                occluded=obj.occluded,
                pose=obj.pose,
                verified=obj.verified,
            )
        )
    try:
        record = ImageRecord(rel_path, width, height, depth=ann.depth, boxes=tuple(boxes))
    except ValueError as exc:  # a path that no export could write, such as "a\\..\\b.jpg"
        raise AnnotationError(f"{where}: {exc}; its boxes are not imported") from None
    return record, warnings


#: Characters XML 1.0 cannot carry, not even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _pixels(lo: float, hi: float) -> tuple[int, int]:
    """VOC's 1-based inclusive indices of the pixel span between edges ``lo < hi``.

    ``(round(lo) + 1, round(hi))``; a span thinner than a pixel that rounds to nothing
    becomes the one pixel holding its centre, so ``min <= max`` always holds.
    """
    first, last = round(lo) + 1, round(hi)
    if last < first:
        first = last = math.floor((lo + hi) / 2) + 1
    return first, last


def _element(parent: ET.Element, tag: str, text: str | int) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = str(text)
    if _NOT_XML.search(child.text):
        raise ValueError(f"<{tag}> text {child.text!r} holds a character XML cannot store")
    return child


def write_voc(
    record: ImageRecord, path: Path, folder: str, image_path: str, *, verified: bool
) -> None:
    """Write ``record`` as a Pascal VOC XML file, atomically, in UTF-8 with a declaration.

    Args:
        record: the image and its boxes (pixel edges, see the module docstring).
        path: the XML file to write; its folder must exist.
        folder: the ``<folder>`` text.
        image_path: the ``<path>`` text; its last component becomes ``<filename>``.
        verified: whether a person reviewed this image (an image without boxes can be
            reviewed too). The file says ``verified="yes"`` only when this is true and
            every box is verified; pseudo-labels also get ``<verified>0</verified>``.

    Raises:
        ValueError: a name holds a character that XML 1.0 cannot store.
        OSError: the file cannot be written; an existing file is then left as it was.
    """
    all_verified = verified and all(b.verified for b in record.boxes)
    root = ET.Element("annotation", verified="yes" if all_verified else "no")
    _element(root, "folder", folder)
    _element(root, "filename", PurePosixPath(image_path.replace("\\", "/")).name)
    _element(root, "path", image_path)
    _element(ET.SubElement(root, "source"), "database", "SaliBox")
    size = ET.SubElement(root, "size")
    for tag, value in (("width", record.width), ("height", record.height), ("depth", record.depth)):
        _element(size, tag, value)
    _element(root, "segmented", 0)
    for box in record.boxes:
        obj = ET.SubElement(root, "object")
        _element(obj, "name", box.class_name)
        _element(obj, "pose", box.pose)
        for tag in ("truncated", "difficult", "occluded"):
            _element(obj, tag, int(getattr(box, tag)))
        if not box.verified:
            _element(obj, "verified", 0)
        bndbox = ET.SubElement(obj, "bndbox")
        x1, y1, x2, y2 = box.box
        (xmin, xmax), (ymin, ymax) = _pixels(x1, x2), _pixels(y1, y2)
        for tag, value in (("xmin", xmin), ("ymin", ymin), ("xmax", xmax), ("ymax", ymax)):
            _element(bndbox, tag, value)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    buffer = io.BytesIO()
    tree.write(buffer, encoding="utf-8", xml_declaration=True)
    write_atomic(path, buffer.getvalue() + b"\n")
