"""Reading images from disk into RGB arrays, whatever their mode or orientation.

Every image SaliBox handles goes through :func:`load_rgb`: EXIF orientation is applied,
so widths, heights and box coordinates always refer to the image as a person sees it.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

#: Largest image accepted, in pixels (width × height). Larger files are refused from their
#: header, before any pixel is decoded, instead of exhausting memory (there is no setting).
MAX_PIXELS = 250_000_000
#: Pillow's own guard stays on for what only decoding reveals (GIF frames, TIFF tiles).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
#: Longest side of the copy :func:`load_display` decodes for the screen.
DISPLAY_SIDE = 2048


class ImageLoadError(ValueError):
    """An image file could not be read; the message says which file and why."""


@dataclass(frozen=True)
class LoadedImage:
    """An image as SaliBox sees it.

    Attributes:
        path: the file it came from.
        rgb: ``(H, W, 3)`` uint8 array, EXIF orientation applied.
    """

    path: Path
    rgb: np.ndarray

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def is_image_file(path: Path) -> bool:
    """True when ``path`` has one of the image suffixes SaliBox reads."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Convert any PIL mode to an ``(H, W, 3)`` uint8 array.

    16-bit and float images are rescaled by their own maximum (not clipped at 255; negative
    values, possible in float images, are first shifted up to 0), CMYK is converted by PIL,
    and transparency is composited onto white.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = min(0.0, float(np.nanmin(arr))), float(np.nanmax(arr))
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        gray = np.nan_to_num((arr - lo) * scale).clip(0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img)


def _too_large(path: Path, megapixels: str, limit: int) -> ImageLoadError:
    return ImageLoadError(
        f"{path}: image too large: has {megapixels} megapixels, "
        f"over the limit of {limit / 1e6:,.1f} megapixels"
    )


@contextmanager
def _opened(path: Path, limit: int) -> Iterator[Image.Image]:
    """``path`` opened by Pillow, its header read and no pixel decoded, refused when it has
    more than ``limit`` pixels (width × height); whatever reading it raises, in the block
    too, becomes one :class:`ImageLoadError` sentence.

    Pillow's DecompressionBombWarning is silenced while opening, as the check here says it
    better, and is an error while decoding (a GIF frame or TIFF tile larger than the header).
    Pillow itself refuses to open more than twice ``Image.MAX_IMAGE_PIXELS``: the message
    then gives that bound, as Pillow does not say the size.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if img.width * img.height > limit:
                raise _too_large(path, f"{img.width * img.height / 1e6:,.1f}", limit)
            yield img
    except ImageLoadError:
        raise
    except FileNotFoundError as exc:
        raise ImageLoadError(f"{path}: no such file") from exc
    except PermissionError as exc:
        raise ImageLoadError(f"{path}: cannot be read (permission denied)") from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"{path}: not an image file SaliBox can read") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        pillow_limit = Image.MAX_IMAGE_PIXELS or 0
        bound = pillow_limit * (2 if isinstance(exc, Image.DecompressionBombError) else 1)
        raise _too_large(path, f"more than {bound / 1e6:,.1f}", limit) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"{path}: damaged or truncated image ({exc})") from exc


def load_rgb(path: str | Path, max_pixels: int | None = None) -> LoadedImage:
    """Read an image file as RGB with EXIF orientation applied.

    Args:
        path: any file PIL can read (JPEG, PNG, BMP, TIFF, WebP ...), in any mode:
            grayscale, palette, RGBA, CMYK, 16-bit.
        max_pixels: refuse images with more pixels than this (default :data:`MAX_PIXELS`).

    Returns:
        The image as a ``(H, W, 3)`` uint8 array.

    Raises:
        ImageLoadError: the file is missing, unreadable (permission), not an image,
            truncated, corrupt or too large (checked from the header, before decoding).
    """
    path = Path(path)
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    with _opened(path, limit) as img:
        rgb = _to_rgb(ImageOps.exif_transpose(img))
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ImageLoadError(f"{path}: image has no pixels")
    return LoadedImage(path=path, rgb=np.ascontiguousarray(rgb))


@dataclass(frozen=True)
class DisplayImage:
    """A screen copy of an image.

    Attributes:
        path: the file it came from.
        rgb: ``(h, w, 3)`` uint8, EXIF orientation applied, at most the requested side.
        size: ``(W, H)`` of the full image as displayed, the pixels boxes are given in.
    """

    path: Path
    rgb: np.ndarray
    size: tuple[int, int]


def load_display(
    path: str | Path, max_side: int = DISPLAY_SIDE, max_pixels: int | None = None
) -> DisplayImage:
    """Read a copy of an image for the screen, at most ``max_side`` pixels on its longer
    side, with EXIF orientation applied like :func:`load_rgb`.

    A JPEG is decoded at a reduced scale (``Image.draft``: 1/2, 1/4 or 1/8), so a 24 MP
    photo takes a fraction of a full decode; the rest is shrunk with area averaging.

    Raises:
        ImageLoadError: as :func:`load_rgb`.
    """
    path = Path(path)
    limit = MAX_PIXELS if max_pixels is None else max_pixels
    with _opened(path, limit) as img:
        width, height = img.size
        if img.getexif().get(_EXIF_ORIENTATION) in _TRANSPOSING_ORIENTATIONS:
            width, height = height, width
        scale = max_side / max(width, height)
        if scale < 1:  # a no-op for formats other than JPEG
            img.draft(None, (max(1, int(img.width * scale)), max(1, int(img.height * scale))))
        rgb = _to_rgb(ImageOps.exif_transpose(img))
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ImageLoadError(f"{path}: image has no pixels")
    longest = max(rgb.shape[:2])
    if longest > max_side:
        factor = max_side / longest
        shape = (max(1, round(rgb.shape[1] * factor)), max(1, round(rgb.shape[0] * factor)))
        rgb = cv2.resize(rgb, shape, interpolation=cv2.INTER_AREA)
    return DisplayImage(path, np.ascontiguousarray(rgb), (width, height))


#: EXIF orientations that swap width and height (rotations by 90 or 270 degrees).
_TRANSPOSING_ORIENTATIONS = frozenset({5, 6, 7, 8})
_EXIF_ORIENTATION = 0x0112


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` in pixels of an image as displayed (EXIF orientation applied, as
    :func:`load_rgb` sees it), read from the file's header without decoding its pixels.

    Raises:
        ImageLoadError: as :func:`load_rgb`, including over :data:`MAX_PIXELS`.
    """
    path = Path(path)
    with _opened(path, MAX_PIXELS) as img:
        width, height = img.size
        if isinstance(img, PngImagePlugin.PngImageFile) and "exif" not in img.info:
            _read_png_trailer(img)
        # Image.getexif, not PngImageFile's, which decodes all pixels when "exif" is missing.
        if Image.Image.getexif(img).get(_EXIF_ORIENTATION) in _TRANSPOSING_ORIENTATIONS:
            width, height = height, width
    return width, height


#: PNG chunks that may carry the EXIF orientation after the pixel data: eXIf, and text
#: with "Raw profile type exif" or XMP.
_PNG_METADATA = frozenset({b"eXIf", b"tEXt", b"zTXt", b"iTXt"})


def _read_png_trailer(img: PngImagePlugin.PngImageFile) -> None:
    """Read the metadata chunks after a PNG's pixel data into ``img.info`` with Pillow's own
    chunk reader, as decoding the image would, seeking over the pixel data instead.

    Raises:
        OSError, SyntaxError, ValueError: a truncated or malformed chunk.
    """
    fp, stream = img.fp, img.png
    assert fp is not None and stream is not None, "called on a PNG before decoding"
    fp.seek(8)  # after the signature
    after_pixels = False
    while len(head := fp.read(8)) == 8:
        length, kind = struct.unpack(">I4s", head)
        if kind == b"IEND" or (after_pixels and kind == b"fcTL"):  # fcTL: the next frame
            return
        if after_pixels and kind in _PNG_METADATA:
            stream.call(kind, fp.tell(), length)
            fp.seek(4, os.SEEK_CUR)  # the CRC
        else:
            fp.seek(length + 4, os.SEEK_CUR)
        after_pixels = after_pixels or kind == b"IDAT"


def list_images(folder: str | Path) -> list[Path]:
    """All image files below ``folder`` (recursively), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_file(p))
