"""Reading Pascal VOC XML annotations safely.

Coordinates: VOC stores 1-based inclusive pixel indices. SaliBox keeps continuous pixel
edges (see :mod:`core.boxes`), so ``x1 = xmin - 1``, ``y1 = ymin - 1``, ``x2 = xmax``,
``y2 = ymax``; writing back is the inverse (``xmin = round(x1) + 1``, ``xmax = round(x2)``).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import parse as safe_parse


class AnnotationError(ValueError):
    """An annotation file could not be used; the message says which file and why."""


@dataclass(frozen=True)
class VocObject:
    """One object: class name and box ``(x1, y1, x2, y2)`` in pixel edges."""

    name: str
    box: tuple[float, float, float, float]
    difficult: bool = False
    truncated: bool = False
    occluded: bool = False
    pose: str = "Unspecified"


@dataclass
class VocAnnotation:
    """The content of one VOC XML file; ``width``/``height`` are 0 when the file lacks them."""

    filename: str
    width: int
    height: int
    objects: list[VocObject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


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
    ann = VocAnnotation(filename=_text(root, "filename"), width=width, height=height)
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
            )
        )
    return ann
