"""Pairing image files with their Pascal VOC XML files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.engine.images import ImageLoadError, list_images, load_rgb
from core.formats.voc import AnnotationError, read_voc

PARALLEL_ANNOTATION_FOLDERS = ("annotations", "Annotations")


def annotation_for(image: Path, annotations_dir: Path | None = None) -> Path | None:
    """The XML file of ``image``: in ``annotations_dir`` if given, else beside the image,
    else in a parallel ``annotations/`` or ``Annotations/`` folder; ``None`` if none exists.
    """
    name = image.with_suffix(".xml").name
    if annotations_dir is not None:
        candidates = [annotations_dir / name]
    else:
        candidates = [image.with_suffix(".xml")] + [
            image.parent.parent / folder / name for folder in PARALLEL_ANNOTATION_FOLDERS
        ]
    return next((c for c in candidates if c.is_file()), None)


def annotated_images(
    images_dir: str | Path, annotations_dir: str | Path | None = None
) -> list[tuple[Path, Path]]:
    """``(image, xml)`` pairs for every image below ``images_dir`` that has an XML file."""
    ann_dir = Path(annotations_dir) if annotations_dir is not None else None
    pairs = []
    for image in list_images(images_dir):
        xml = annotation_for(image, ann_dir)
        if xml is not None:
            pairs.append((image, xml))
    return pairs


@dataclass(frozen=True)
class LabelledFile:
    """An image and its ground truth from a VOC file.

    Attributes:
        rgb: ``(H, W, 3)`` uint8, EXIF orientation applied.
        boxes: ``(M, 4)`` float64 boxes in pixel edges.
        labels: ``M`` class names.
    """

    rgb: np.ndarray
    boxes: np.ndarray
    labels: tuple[str, ...]


def read_labelled(
    image_path: Path, xml_path: Path, problems: list[str] | None = None
) -> LabelledFile | None:
    """The image and its VOC objects, or ``None`` (with one line in ``problems``) when
    either file cannot be read or the XML lists no object (CorLoc is defined over images
    that hold one)."""
    try:
        rgb = load_rgb(image_path).rgb
        ann = read_voc(xml_path)
    except (ImageLoadError, AnnotationError) as exc:
        if problems is not None:
            problems.append(str(exc))
        return None
    if not ann.objects:
        if problems is not None:
            problems.append(f"{xml_path}: no objects")
        return None
    boxes = np.array([o.box for o in ann.objects], dtype=np.float64).reshape(-1, 4)
    return LabelledFile(rgb, boxes, tuple(o.name for o in ann.objects))
