"""Reading and writing Pascal VOC XML annotations safely.

Coordinates: VOC stores 1-based inclusive pixel indices. SaliBox keeps continuous pixel
edges (see :mod:`core.boxes`), so ``x1 = xmin - 1``, ``y1 = ymin - 1``, ``x2 = xmax``,
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

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import parse as safe_parse

from core.formats.records import BoxRecord, ImageRecord, clip_box, write_atomic


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
    """The content of one VOC XML file; ``width``/``height`` are 0 when the file lacks them,
    ``depth`` is 3 unless the file gives a positive integer, ``verified`` is ``True`` when the
    root element says ``verified="yes"``; ``xml_path`` is the file it was read from."""

    filename: str
    width: int
    height: int
    objects: list[VocObject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    depth: int = 3
    verified: bool = False
    xml_path: str = ""


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


def read_voc(path: str | Path) -> VocAnnotation:
    """Parse a VOC XML file with defusedxml (no entities, no external references).

    Raises:
        AnnotationError: unreadable, malformed or hostile XML, wrong root element,
            non-numeric, non-finite or inverted coordinates.
    """
    path = Path(path)
    try:
        root = safe_parse(str(path)).getroot()
    except DefusedXmlException as exc:
        raise AnnotationError(f"{path}: refused unsafe XML ({type(exc).__name__})") from exc
    except ET.ParseError as exc:
        raise AnnotationError(f"{path}: malformed XML ({exc})") from exc
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if root.tag != "annotation":
        raise AnnotationError(f"{path}: root element is <{root.tag}>, not <annotation>")
    size = root.find("size")
    width = int(_number(size, "width", path)) if size is not None and _text(size, "width") else 0
    height = int(_number(size, "height", path)) if size is not None and _text(size, "height") else 0
    depth = _text(size, "depth")
    ann = VocAnnotation(
        filename=_text(root, "filename"),
        width=width,
        height=height,
        depth=int(depth) if depth.isdecimal() and int(depth) > 0 else 3,
        verified=root.get("verified", "").strip().lower() == "yes",
        xml_path=str(path),
    )
    for obj in root.iter("object"):
        bnd = obj.find("bndbox")
        if bnd is None:
            ann.warnings.append(f"{path}: an <object> without <bndbox> was skipped")
            continue
        xmin, ymin, xmax, ymax = (_number(bnd, t, path) for t in ("xmin", "ymin", "xmax", "ymax"))
        if xmin > xmax or ymin > ymax:
            raise AnnotationError(
                f"{path}: box ({xmin}, {ymin}, {xmax}, {ymax}) has min greater than max"
            )
        ann.objects.append(
            VocObject(
                name=_text(obj, "name", "unnamed"),
                box=(xmin - 1, ymin - 1, xmax, ymax),
                difficult=_text(obj, "difficult", "0") == "1",
                truncated=_text(obj, "truncated", "0") == "1",
                occluded=_text(obj, "occluded", "0") == "1",
                pose=_text(obj, "pose", "Unspecified"),
                verified=_text(obj, "verified", "1") != "0",
            )
        )
    return ann


def voc_to_record(
    ann: VocAnnotation, rel_path: str, width: int, height: int
) -> tuple[ImageRecord, list[str]]:
    """Turn a parsed VOC file into an :class:`ImageRecord` for the image at ``rel_path``.

    Args:
        ann: from :func:`read_voc`; its own ``warnings`` are not repeated in the result.
        rel_path: the image's POSIX path relative to the project root.
        width, height: the image's size in pixels as displayed, used when the XML's size
            is missing or 0 (and compared with it otherwise).

    Returns:
        The record, with boxes clipped to the image, and one warning per clipped or dropped
        box or size mismatch, each starting with ``ann.xml_path (rel_path)``, or
        ``rel_path`` when ``ann.xml_path`` is empty. The XML's size wins when
        present; boxes that are empty after clipping are dropped.

    Raises:
        AnnotationError: neither the XML nor the arguments give a size.
    """
    where = f"{ann.xml_path} ({rel_path})" if ann.xml_path else rel_path
    warnings: list[str] = []
    if ann.width > 0 and ann.height > 0:
        if width > 0 and height > 0 and (width, height) != (ann.width, ann.height):
            warnings.append(
                f"{where}: the XML says {ann.width} × {ann.height} but the image is "
                f"{width} × {height}; the XML's size is kept"
            )
        width, height = ann.width, ann.height
    elif width <= 0 or height <= 0:
        raise AnnotationError(f"{where}: no image size in the XML nor from the image")
    boxes = []
    for obj in ann.objects:
        box = clip_box(obj.box, width, height)
        shown = ", ".join(f"{v:g}" for v in obj.box)
        if box is None:
            warnings.append(
                f"{where}: box ({shown}) of {obj.name!r} lies outside the "
                f"{width} × {height} image; dropped"
            )
            continue
        if box != obj.box:
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
    record = ImageRecord(
        path=rel_path, width=width, height=height, depth=ann.depth, boxes=tuple(boxes)
    )
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
