"""A Pascal VOC file matched against its image on disk, whose real size is the truth.

The image's size comes from :func:`core.engine.images.image_size` (header only, EXIF orientation
applied). Its EXIF orientation is read only when the XML gives the image's size with width
and height swapped, the one case where it changes the boxes (see
:func:`core.formats.voc.voc_to_record`).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from core.engine.images import image_size
from core.formats.records import ImageRecord
from core.formats.voc import MAX_OBJECTS, read_voc, voc_to_record

_EXIF_ORIENTATION = 0x0112


def exif_orientation(path: Path) -> int:
    """The EXIF orientation (1 to 8) of the image file at ``path``, from the metadata before
    its pixel data (a PNG's eXIf chunk after them is not looked for); 1 when it has none, an
    invalid one, or its header cannot be read. No pixel is decoded."""
    try:
        with Image.open(path) as img:
            # Image.getexif, not PngImageFile's, which decodes all pixels to look further.
            value = Image.Image.getexif(img).get(_EXIF_ORIENTATION, 1)
    except (OSError, SyntaxError, ValueError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def read_voc_for_image(
    xml: Path, image: Path, rel_path: str, *, max_objects: int = MAX_OBJECTS
) -> tuple[ImageRecord, list[str], bool]:
    """The record of ``image`` (at ``rel_path`` in the project) from the VOC file ``xml``:
    boxes clipped to the image's real size, turned when drawn on the stored pixels.

    Returns:
        The record, every warning (the reader's first, see :func:`read_voc`), and whether
        the file's every object is in the record (False when some were skipped or
        dropped: the image then still needs a person's review).

    Raises:
        AnnotationError: the XML file cannot be used.
        ImageLoadError: the image's header cannot be read; its boxes are not imported.
    """
    ann = read_voc(xml, max_objects=max_objects)
    width, height = image_size(image)
    swapped = (ann.width, ann.height) == (height, width) != (width, height)
    orientation = exif_orientation(image) if swapped else 1
    record, warnings = voc_to_record(ann, rel_path, width, height, orientation=orientation)
    return record, ann.warnings + warnings, ann.objects_lost == 0
