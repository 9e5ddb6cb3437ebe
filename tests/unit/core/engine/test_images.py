"""Reading image files of every kind into RGB arrays (core.engine.images)."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

import core.engine.images
from core.engine.images import ImageLoadError, is_image_file, list_images, load_display, load_rgb

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def save(img: Image.Image, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kwargs)
    return path


def jpeg_bytes() -> bytes:
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


# --- modes -----------------------------------------------------------------------------------


def test_rgb_jpeg(tmp_path):
    img = Image.new("RGB", (30, 20), GREEN)
    img.paste(RED, (0, 0, 15, 20))
    loaded = load_rgb(save(img, tmp_path / "photo.jpg", quality=95))
    assert loaded.rgb.shape == (20, 30, 3)
    assert loaded.rgb.dtype == np.uint8
    assert (loaded.width, loaded.height) == (30, 20)
    assert loaded.path == tmp_path / "photo.jpg"
    np.testing.assert_allclose(loaded.rgb[10, 3], RED, atol=12)
    np.testing.assert_allclose(loaded.rgb[10, 26], GREEN, atol=12)
    assert loaded.rgb.flags["C_CONTIGUOUS"]


def test_grayscale_png(tmp_path):
    gray = np.arange(6 * 7, dtype=np.uint8).reshape(6, 7) * 6
    rgb = load_rgb(save(Image.fromarray(gray, mode="L"), tmp_path / "g.png")).rgb
    assert rgb.shape == (6, 7, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], gray)


def test_rgba_png_composited_on_white(tmp_path):
    arr = np.zeros((4, 5, 4), dtype=np.uint8)
    arr[:, :] = (255, 0, 0, 255)  # opaque red
    arr[0, 0] = (0, 0, 255, 0)  # fully transparent blue
    arr[1, 1] = (0, 0, 0, 0)  # fully transparent black
    arr[2, 2] = (255, 0, 0, 128)  # half-transparent red
    rgb = load_rgb(save(Image.fromarray(arr, mode="RGBA"), tmp_path / "a.png")).rgb
    assert rgb.shape == (4, 5, 3)
    np.testing.assert_array_equal(rgb[0, 0], WHITE)
    np.testing.assert_array_equal(rgb[1, 1], WHITE)
    np.testing.assert_allclose(rgb[2, 2], (255, 127, 127), atol=1)
    np.testing.assert_array_equal(rgb[3, 4], RED)


def test_grayscale_alpha_and_palette_transparency(tmp_path):
    la = Image.new("LA", (3, 2), (40, 255))
    la.putpixel((0, 0), (40, 0))
    rgb = load_rgb(save(la, tmp_path / "la.png")).rgb
    np.testing.assert_array_equal(rgb[0, 0], WHITE)
    np.testing.assert_array_equal(rgb[1, 2], (40, 40, 40))

    pal = Image.new("P", (3, 2), 1)
    pal.putpalette([0, 0, 0, *RED] + [0] * (3 * 254))
    pal.putpixel((2, 1), 0)
    rgb = load_rgb(save(pal, tmp_path / "p.png", transparency=0)).rgb
    np.testing.assert_array_equal(rgb[1, 2], WHITE)
    np.testing.assert_array_equal(rgb[0, 0], RED)


def test_16_bit_png_rescaled_to_8_bit(tmp_path):
    arr = np.zeros((10, 12), dtype=np.uint16)
    arr[3, 4] = 65535
    arr[5, 5] = 30000
    arr[6, 6] = 300  # would be clipped to 255 by a naive cast
    path = save(Image.fromarray(arr), tmp_path / "deep.png")
    assert Image.open(path).mode.startswith("I")
    rgb = load_rgb(path).rgb
    assert rgb.dtype == np.uint8 and rgb.shape == (10, 12, 3)
    np.testing.assert_array_equal(rgb[3, 4], (255, 255, 255))
    assert rgb.max() == 255 and np.argmax(rgb[:, :, 0]) == 3 * 12 + 4
    assert rgb[0, 0, 0] == 0
    assert abs(int(rgb[5, 5, 0]) - 30000 * 255 / 65535) <= 1
    assert rgb[6, 6, 0] <= 2


def test_16_bit_png_scaled_by_its_own_maximum(tmp_path):
    # 12-bit data in a 16-bit file: its maximum becomes white, proportions are kept.
    arr = np.array([[1000, 2000], [4000, 4000]], dtype=np.uint16)
    rgb = load_rgb(save(Image.fromarray(arr), tmp_path / "twelve.png")).rgb
    np.testing.assert_allclose(rgb[:, :, 0], [[64, 127], [255, 255]], atol=1)
    # A uniformly bright 16-bit image stays bright (not black).
    flat = np.full((3, 3), 50000, dtype=np.uint16)
    rgb = load_rgb(save(Image.fromarray(flat), tmp_path / "flat.png")).rgb
    assert (rgb == 255).all()
    black = np.zeros((3, 3), dtype=np.uint16)
    assert (load_rgb(save(Image.fromarray(black), tmp_path / "black.png")).rgb == 0).all()


def test_float_tiff(tmp_path):
    arr = np.array([[-1.0, 0.0, 1.0]], dtype=np.float32)
    rgb = load_rgb(save(Image.fromarray(arr, mode="F"), tmp_path / "f.tif")).rgb
    assert rgb.shape == (1, 3, 3)
    np.testing.assert_allclose(rgb[0, :, 0], [0, 127, 255], atol=1)


def test_cmyk_jpeg(tmp_path):
    img = Image.new("CMYK", (16, 12), (0, 255, 255, 0))  # red in CMYK
    path = save(img, tmp_path / "print.jpg", quality=95)
    assert Image.open(path).mode == "CMYK"
    rgb = load_rgb(path).rgb
    assert rgb.shape == (12, 16, 3)
    np.testing.assert_allclose(rgb[6, 8], RED, atol=10)


@pytest.mark.parametrize(
    ("orientation", "shape", "corner"),
    [
        (1, (20, 40, 3), (0, 0)),  # as stored
        (3, (20, 40, 3), (19, 39)),  # rotated 180°: top-left → bottom-right
        (6, (40, 20, 3), (0, 19)),  # rotated 90° clockwise: top-left → top-right
        (8, (40, 20, 3), (39, 0)),  # rotated 90° anticlockwise: top-left → bottom-left
    ],
)
def test_exif_orientation_applied(tmp_path, orientation, shape, corner):
    img = Image.new("RGB", (40, 20), BLUE)
    img.paste(RED, (0, 0, 6, 6))  # red top-left corner as stored
    exif = img.getexif()
    exif[0x0112] = orientation
    rgb = load_rgb(save(img, tmp_path / "rot.jpg", exif=exif, quality=95)).rgb
    assert rgb.shape == shape
    np.testing.assert_allclose(rgb[corner], RED, atol=15)
    h, w = shape[:2]
    # The opposite corner is still blue.
    np.testing.assert_allclose(rgb[h - 1 - corner[0], w - 1 - corner[1]], BLUE, atol=15)


def test_one_pixel_image(tmp_path):
    loaded = load_rgb(save(Image.new("RGB", (1, 1), (10, 20, 30)), tmp_path / "dot.png"))
    assert loaded.rgb.shape == (1, 1, 3)
    np.testing.assert_array_equal(loaded.rgb[0, 0], (10, 20, 30))
    assert (loaded.width, loaded.height) == (1, 1)


def test_unicode_path_with_spaces(tmp_path):
    path = tmp_path / "ünï cødé dir" / "my image ✓.png"
    save(Image.new("RGB", (5, 3), GREEN), path)
    loaded = load_rgb(str(path))
    assert loaded.path == path
    assert loaded.rgb.shape == (3, 5, 3)
    np.testing.assert_array_equal(loaded.rgb[1, 2], GREEN)


# --- errors ----------------------------------------------------------------------------------


def _assert_load_error(path: Path, match: str | None = None) -> ImageLoadError:
    with pytest.raises(ImageLoadError) as info:
        load_rgb(path)
    assert path.name in str(info.value)
    if match is not None:
        assert match in str(info.value)
    assert isinstance(info.value, ValueError)
    return info.value


def test_truncated_jpeg(tmp_path):
    data = jpeg_bytes()
    path = tmp_path / "cut off.jpg"
    path.write_bytes(data[: len(data) // 2])
    _assert_load_error(path, "truncated")


def test_random_bytes_named_jpg(tmp_path):
    path = tmp_path / "noise.jpg"
    path.write_bytes(np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _assert_load_error(path, "not an image")


def test_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not an image\n" * 20)
    _assert_load_error(path, "not an image")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    _assert_load_error(path)


def test_missing_file(tmp_path):
    _assert_load_error(tmp_path / "nowhere.png", "no such file")


def test_directory_is_not_an_image(tmp_path):
    folder = tmp_path / "folder.png"
    folder.mkdir()
    _assert_load_error(folder)


@pytest.mark.parametrize(
    ("size", "said"),
    [
        ((1200, 1000), "has 1.2 megapixels"),  # over the limit, where Pillow only warns
        ((2100, 1000), "has more than 2.0 megapixels"),  # where Pillow refuses to open it
    ],
)
def test_image_over_pixel_limit(tmp_path, monkeypatch, size, said):
    path = save(Image.new("L", size), tmp_path / "huge.png")
    monkeypatch.setattr(core.engine.images, "MAX_PIXELS", 1_000_000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        for read in (load_rgb, load_display, core.engine.images.image_size):
            with pytest.raises(ImageLoadError) as info:
                read(path)
            assert str(info.value) == (
                f"{path}: image too large: {said}, over the limit of 1.0 megapixels"
            )
    assert [str(w.message) for w in seen] == []  # Pillow's DecompressionBombWarning is silent


@pytest.mark.parametrize("read", [load_rgb, load_display, core.engine.images.image_size])
def test_permission_denied(tmp_path, monkeypatch, read):
    # Tests run as root, where chmod 000 does not stop a read: make open() fail as it would.
    path = save(Image.new("RGB", (8, 6)), tmp_path / "private.png")
    real_open = open

    def denying_open(file, *args, **kwargs):
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", denying_open)
    with pytest.raises(ImageLoadError) as info:
        read(path)
    assert str(info.value) == f"{path}: cannot be read (permission denied)"


def test_pixel_limit_restored(tmp_path):
    # Runs after the monkeypatched tests: an ordinary image loads again.
    assert Image.MAX_IMAGE_PIXELS == core.engine.images.MAX_PIXELS == 250_000_000
    assert load_rgb(save(Image.new("RGB", (200, 100)), tmp_path / "ok.png")).rgb.shape == (
        100,
        200,
        3,
    )


# --- listing ---------------------------------------------------------------------------------


def test_list_images_recursive_case_insensitive_sorted(tmp_path):
    files = [
        "b.PNG",
        "a.jpg",
        "sub/c.JpEg",
        "sub/deeper/d.webp",
        "sub/deeper/e.tif",
        "z/f.BMP",
        "g.tiff",
    ]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    for name in ("notes.txt", "a.xml", "sub/readme", "sub/image.png.bak", "archive.gif"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "dir.png").mkdir()  # a folder with an image suffix is not an image

    found = list_images(tmp_path)
    assert found == sorted(tmp_path / name for name in files)
    assert all(isinstance(p, Path) for p in found)
    assert list_images(str(tmp_path / "sub")) == [
        tmp_path / "sub/c.JpEg",
        tmp_path / "sub/deeper/d.webp",
        tmp_path / "sub/deeper/e.tif",
    ]


def test_list_images_empty_and_missing_folder(tmp_path):
    assert list_images(tmp_path) == []
    with pytest.raises(FileNotFoundError, match="nope"):
        list_images(tmp_path / "nope")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "file.png")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.JPG", True), ("b.jpeg", True), ("c.Tiff", True), ("d.gif", False), ("png", False)],
)
def test_is_image_file(name, expected):
    assert is_image_file(Path(name)) is expected


@pytest.mark.parametrize("real_format", ["PNG", "GIF"])
def test_wrong_suffix_is_read_by_content(tmp_path, real_format):
    """A file named .jpg that holds a PNG or GIF (the web sets have these) still loads."""
    img = Image.new("RGB", (12, 7), (200, 30, 30))
    path = tmp_path / "photo.jpg"
    img.save(path, format=real_format)
    loaded = load_rgb(path)
    assert loaded.rgb.shape == (7, 12, 3)
    assert tuple(int(v) for v in loaded.rgb[3, 5]) == pytest.approx((200, 30, 30), abs=4)
    assert core.engine.images.image_size(path) == (12, 7)


def test_image_size_swaps_for_exif_rotation(tmp_path):
    img = Image.new("RGB", (40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    assert (
        core.engine.images.image_size(path)
        == (20, 40)
        == (load_rgb(path).width, load_rgb(path).height)
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _orientation_6() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif.tobytes()[6:]  # an eXIf chunk holds the TIFF data without b"Exif\0\0"


TRAILERS = {
    "no metadata": b"",
    "eXIf after the pixels": _png_chunk(b"eXIf", _orientation_6()),
    "XMP after the pixels": _png_chunk(
        b"iTXt", b'XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta tiff:Orientation="6"/>'
    ),
}


@pytest.mark.parametrize("trailer", TRAILERS, ids=list(TRAILERS))
def test_image_size_of_a_png_reads_no_pixels(tmp_path, monkeypatch, trailer):
    """A 12-megapixel PNG: image_size never decodes it (Pillow's getexif() on a PNG
    decodes all pixels to look for metadata after them), and agrees with load_rgb."""
    plain = save(Image.new("L", (4000, 3000)), tmp_path / "plain.png").read_bytes()
    path = tmp_path / "big.png"
    path.write_bytes(plain[:-12] + TRAILERS[trailer] + plain[-12:])  # before IEND
    expected = (4000, 3000) if trailer == "no metadata" else (3000, 4000)

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("pixels decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert core.engine.images.image_size(path) == expected
    monkeypatch.undo()
    loaded = load_rgb(path)
    assert (loaded.width, loaded.height) == expected


def test_configurable_pixel_limit(tmp_path):
    path = save(Image.new("RGB", (100, 50)), tmp_path / "big.png")
    with pytest.raises(ImageLoadError, match="too large"):
        load_rgb(path, max_pixels=4999)
    assert load_rgb(path, max_pixels=5000).width == 100


# --- the screen copy -------------------------------------------------------------------------


def big_photo(path: Path, orientation: int | None = None) -> Path:
    """A 6000×4000 JPEG: grey, with a red block at x 3000–4500, y 1000–2500 (file pixels)."""
    pixels = np.full((4000, 6000, 3), 128, dtype=np.uint8)
    pixels[1000:2500, 3000:4500] = RED
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    return save(Image.fromarray(pixels), path, exif=exif, quality=90)


def test_display_copy_of_a_24_megapixel_jpeg_is_small_and_keeps_the_full_size(tmp_path):
    path = big_photo(tmp_path / "big.jpg")
    shown = load_display(path)
    assert shown.size == (6000, 4000)
    assert shown.rgb.shape == (1365, 2048, 3) and shown.rgb.dtype == np.uint8
    full = load_rgb(path).rgb
    expected = cv2.resize(full, (2048, 1365), interpolation=cv2.INTER_AREA)
    assert np.abs(shown.rgb.astype(int) - expected).mean() < 2
    assert tuple(shown.rgb[600, 1280]) == pytest.approx(RED, abs=8)  # inside the block
    small = load_display(path, max_side=500)
    assert small.rgb.shape == (333, 500, 3) and small.size == (6000, 4000)


def test_display_copy_applies_exif_orientation(tmp_path):
    path = big_photo(tmp_path / "turned.jpg", orientation=6)  # shown turned 90° clockwise
    shown = load_display(path, max_side=600)
    assert shown.size == (4000, 6000)
    assert shown.rgb.shape == (600, 400, 3)
    expected = cv2.resize(load_rgb(path).rgb, (400, 600), interpolation=cv2.INTER_AREA)
    assert np.abs(shown.rgb.astype(int) - expected).mean() < 2


def test_display_copy_of_a_small_image_is_the_image(tmp_path):
    img = Image.new("RGB", (30, 20), GREEN)
    path = save(img, tmp_path / "small.png")
    shown = load_display(path)
    assert shown.size == (30, 20)
    np.testing.assert_array_equal(shown.rgb, load_rgb(path).rgb)
    with pytest.raises(ImageLoadError, match="no such file"):
        load_display(tmp_path / "missing.jpg")
