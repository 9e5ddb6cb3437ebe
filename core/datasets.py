"""Pairing image files with their Pascal VOC XML files."""

from __future__ import annotations

from pathlib import Path

from core.images import list_images

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
