"""Hypothesis strategies and the property of the VOC reader's fuzz tests, shared by
tests/unit/core/formats/test_voc_hostile.py (a small budget) and bench/fuzz_voc.py (a long run).

The property: reading any bytes as a VOC file, and matching it against a real image,
raises nothing but :class:`AnnotationError`, and every box read lies inside its image.
"""

from __future__ import annotations

import math
from pathlib import Path
from xml.sax.saxutils import escape

from hypothesis import strategies as st
from PIL import Image

from core.formats.voc import AnnotationError, read_voc, voc_to_record
from core.formats.voc_image import read_voc_for_image
from core.store.rows import clean_class_name
from tests.helpers.paths import DATASETS

#: Real VOC files to mutate: the annotations/ folders of ../shared/datasets and fruit/train.
REAL_FILES = sorted(
    [*DATASETS.glob("*/annotations/*.xml"), *DATASETS.glob("fruit/train/*.xml")]
    if DATASETS.is_dir()
    else []
)
#: The image every fuzzed file is matched against: stored 64 × 48, shown 48 × 64.
IMAGE_SIZE = (64, 48)

ENCODINGS = [None, "utf-8", "UTF-16", "Shift_JIS", "GBK", "EUC-JP", "windows-1252", "latin-1"]
_ODD_NUMBERS = ["", " 12 ", "1e19", "1e300", "-1e308", "0x10", "1_0", "12px", "٣", "9" * 5000]
#: Numbers as text: any float, or one of the odd ones.
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr), st.sampled_from(_ODD_NUMBERS)
)
#: Mostly ``True``: Hypothesis draws the first value of a sampled list more often.
MOSTLY = st.sampled_from([True] * 9 + [False])
NAMES = st.one_of(
    st.sampled_from(["cat", " dog ", "", "  ", "猫", "a&#10;b", "x" * 129, "\u2028", "\x85"]),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40),
)
TOKENS = [
    b"<object>", b"</object>", b"<name>", b"</name>", b"<bndbox>", b"</bndbox>", b"<xmin>",
    b"<size>", b"<width>", b"</width>", b"1e309", b"-1e19", b"nan", b"&#10;", b"&lol;",
    b"<!DOCTYPE a [<!ENTITY lol 'x'>]>", b'<!DOCTYPE a SYSTEM "file:///etc/passwd">',
    b'<?xml version="1.0" encoding="Shift_JIS"?>', b'<?xml version="1.0" encoding="x-bogus"?>',
    b'encoding="rot13"', b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b"\x82\xa0", b"\x81",
    b"<![CDATA[", b"]]>", b"</annotation>", b"<annotation>", b"<annotation verified='yes'>",
]  # fmt: skip


def _xml_text(text: str) -> str:
    """``text`` as XML character data, its characters XML 1.0 refuses dropped; ``&#10;``
    in it stays a character reference."""
    kept = "".join(c for c in text if c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff"))
    return escape(kept).replace("&amp;#10;", "&#10;")


@st.composite
def _coordinates(draw: st.DrawFn) -> str:
    """A ``<bndbox>``'s content: mostly a plain box of pixel indices (inside the image or
    not), else odd numbers, and now and then a coordinate missing."""
    if draw(MOSTLY):
        x, y = draw(st.integers(-20, 100)), draw(st.integers(-20, 100))
        values = [
            str(v) for v in (x, y, x + draw(st.integers(0, 80)), y + draw(st.integers(0, 80)))
        ]
    else:
        values = [draw(NUMBERS) for _ in range(4)]
    return "".join(
        f"<{tag}>{escape(value)}</{tag}>"
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), values, strict=True)
        if draw(MOSTLY) or draw(MOSTLY)
    )


@st.composite
def _object(draw: st.DrawFn) -> str:
    fields = draw(st.lists(st.sampled_from(["difficult", "truncated", "occluded"]), max_size=3))
    parts = [f"<name>{_xml_text(draw(NAMES))}</name>"] if draw(MOSTLY) else []
    parts += [f"<{f}>{draw(st.sampled_from(['0', '1', 'yes']))}</{f}>" for f in fields]
    if draw(MOSTLY):
        parts.append(f"<bndbox>{draw(_coordinates())}</bndbox>")
    return f"<object>{''.join(draw(st.permutations(parts)))}</object>"


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """A VOC file, mostly valid: a declared encoding, odd sizes, names and numbers."""
    encoding = draw(st.sampled_from(ENCODINGS))
    declaration = "" if encoding is None else f'<?xml version="1.0" encoding="{encoding}"?>\n'
    size = draw(
        st.sampled_from(
            ["<width>64</width><height>48</height>", "<width>48</width><height>64</height>", ""]
        )
        | st.builds(
            "<width>{}</width><height>{}</height><depth>{}</depth>".format,
            *(NUMBERS.map(escape) for _ in range(3)),
        )
    )
    objects = "".join(draw(st.lists(_object(), min_size=int(draw(MOSTLY)), max_size=8)))
    text = (
        f"{declaration}<annotation verified='{draw(st.sampled_from(['yes', 'no']))}'>"
        f"<filename>{_xml_text(draw(NAMES))}</filename><size>{size}</size>{objects}</annotation>"
    )
    return text.encode(encoding or "utf-8", "xmlcharrefreplace")


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    """``base``'s bytes with a few cuts, insertions (of XML-ish tokens or random bytes),
    overwrites and repeats."""
    data = bytearray(draw(base))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        end = draw(st.integers(at, min(len(data), at + 64)))
        kind = draw(st.sampled_from(["cut", "token", "bytes", "repeat", "truncate"]))
        if kind == "cut":
            del data[at:end]
        elif kind == "token":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif kind == "bytes":
            data[at:end] = draw(st.binary(max_size=8))
        elif kind == "repeat":
            data[at:at] = data[at:end] * draw(st.integers(1, 4))
        else:
            del data[at:]
    return bytes(data)


def real_files() -> st.SearchStrategy[bytes]:
    """The bytes of one of :data:`REAL_FILES` (none can be drawn when there are none)."""
    return st.sampled_from(REAL_FILES).map(Path.read_bytes)


def write_image(folder: Path) -> Path:
    """A 64 × 48 JPEG with EXIF orientation 6 (shown 48 × 64) in ``folder``."""
    exif = Image.Exif()
    exif[0x0112] = 6
    path = folder / "image.jpg"
    Image.new("RGB", IMAGE_SIZE).save(path, exif=exif)
    return path


def _inside(record_width: int, record_height: int, box: tuple[float, ...]) -> bool:
    x1, y1, x2, y2 = box
    return (
        all(map(math.isfinite, box))
        and 0 <= x1 < x2 <= record_width
        and (0 <= y1 < y2 <= record_height)
    )


def check(data: bytes, xml: Path, image: Path) -> None:
    """The property, for ``data`` written to ``xml`` and the image from :func:`write_image`."""
    xml.write_bytes(data)
    try:
        ann = read_voc(xml, max_objects=50)
    except AnnotationError:
        return
    assert len(ann.objects) <= 50
    assert all(clean_class_name(o.name) == o.name for o in ann.objects)
    assert all(isinstance(w, str) and str(xml) in w for w in ann.warnings)
    record, _, _ = read_voc_for_image(xml, image, "image.jpg", max_objects=50)
    assert (record.width, record.height) == IMAGE_SIZE[::-1]
    assert all(_inside(record.width, record.height, b.box) for b in record.boxes)
    try:
        alone, _ = voc_to_record(ann, "image.jpg", 0, 0)
    except AnnotationError:
        return
    assert 1 <= alone.width <= 1_000_000 and 1 <= alone.height <= 1_000_000
    assert all(_inside(alone.width, alone.height, b.box) for b in alone.boxes)
