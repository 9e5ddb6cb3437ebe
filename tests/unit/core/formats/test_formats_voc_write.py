"""Writing Pascal VOC (core.formats.voc.write_voc): round trips, odd names, safe rewrites, and
every VOC file of the shared data sets rewritten with its original coordinates."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from defusedxml.ElementTree import parse as safe_parse
from hypothesis import given, settings
from hypothesis import strategies as st

from core.engine.images import load_rgb
from core.formats.records import BoxRecord, ImageRecord
from core.formats.voc import VocObject, read_voc, voc_to_record
from core.formats.voc import write_voc as _write_voc
from core.formats.voc_dataset import annotated_images
from tests.helpers.paths import DATASETS

CORNERS = ("xmin", "ymin", "xmax", "ymax")


def write_voc(record: ImageRecord, path: Path, verified: bool = True) -> Path:
    _write_voc(record, path, "images", f"images/{Path(record.path).name}", verified=verified)
    return path


# --- write_voc --------------------------------------------------------------------------------

names = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Cn", "Zl", "Zp")), min_size=1, max_size=12
).filter(lambda s: s.strip() == s and s != "")


@st.composite
def records(draw) -> ImageRecord:
    width, height = draw(st.integers(1, 5000)), draw(st.integers(1, 5000))
    boxes = []
    for _ in range(draw(st.integers(0, 6))):
        x1 = draw(st.integers(0, width - 1))
        y1 = draw(st.integers(0, height - 1))
        boxes.append(
            BoxRecord(
                class_name=draw(names),
                box=(x1, y1, draw(st.integers(x1 + 1, width)), draw(st.integers(y1 + 1, height))),
                difficult=draw(st.booleans()),
                truncated=draw(st.booleans()),
                occluded=draw(st.booleans()),
                pose=draw(st.sampled_from(["Unspecified", "Left", "Frontal", "tête à queue"])),
                verified=draw(st.booleans()),
            )
        )
    depth = draw(st.sampled_from([1, 3, 4]))
    return ImageRecord("sub dir/ünï.jpg", width, height, depth=depth, boxes=tuple(boxes))


@settings(max_examples=200, deadline=None)
@given(record=records(), verified=st.booleans())
def test_write_read_round_trip_to_the_pixel(tmp_path_factory, record, verified):
    path = write_voc(record, tmp_path_factory.mktemp("voc") / "ann.xml", verified)
    ann = read_voc(path)
    assert ann.warnings == []
    assert ann.verified == (verified and all(b.verified for b in record.boxes))
    back, warnings = voc_to_record(ann, record.path, 0, 0)
    assert warnings == []
    assert back == record  # integer boxes, names, flags, pose, depth, per-box verified
    # The rewritten file holds the same pixels as the record, as integers.
    root = safe_parse(str(path)).getroot()
    for obj, box in zip(root.iter("object"), record.boxes, strict=True):
        x1, y1, x2, y2 = box.box
        assert [obj.find(f"bndbox/{t}").text for t in CORNERS] == [
            str(x1 + 1),
            str(y1 + 1),
            str(x2),
            str(y2),
        ]


def test_verified_attribute_needs_a_reviewer_and_no_pseudo_labels(tmp_path):
    empty = ImageRecord("e.jpg", 10, 10)
    person = ImageRecord("p.jpg", 10, 10, boxes=(BoxRecord("cat", (0, 0, 5, 5)),))
    machine = ImageRecord("m.jpg", 10, 10, boxes=(BoxRecord("cat", (0, 0, 5, 5), verified=False),))
    for record, reviewed, expected in [
        (empty, True, True),
        (empty, False, False),
        (person, True, True),
        (person, False, False),
        (machine, True, False),
    ]:
        path = write_voc(record, tmp_path / "a.xml", reviewed)
        assert safe_parse(str(path)).getroot().get("verified") == ("yes" if expected else "no")
        assert read_voc(path).verified == expected


def test_image_without_boxes_writes_a_complete_file(tmp_path):
    path = write_voc(ImageRecord("x.png", 64, 48, depth=1), tmp_path / "x.xml")
    text = path.read_bytes()
    assert text.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<annotation")
    root = safe_parse(str(path)).getroot()
    assert [c.tag for c in root] == ["folder", "filename", "path", "source", "size", "segmented"]
    assert root.findtext("source/database") == "SaliBox"
    assert root.findtext("segmented") == "0"
    ann = read_voc(path)
    assert (ann.width, ann.height, ann.depth, ann.objects) == (64, 48, 1, [])


def test_unicode_and_spaces_in_names(tmp_path):
    record = ImageRecord(
        "sub dir/ünï cødé.jpg",
        30,
        20,
        boxes=(BoxRecord("traffic light ✓", (1, 2, 3, 4), pose="à gauche"),),
    )
    path = tmp_path / "dossier ✓" / "ünï cødé.xml"
    path.parent.mkdir()
    _write_voc(record, path, "sub dir", "sub dir/ünï cødé.jpg", verified=True)
    root = safe_parse(str(path)).getroot()
    assert root.findtext("folder") == "sub dir"
    assert root.findtext("filename") == "ünï cødé.jpg"
    assert root.findtext("path") == "sub dir/ünï cødé.jpg"
    ann = read_voc(path)
    assert ann.objects == [VocObject("traffic light ✓", (1.0, 2.0, 3.0, 4.0), pose="à gauche")]
    assert "ünï cødé.jpg".encode() in path.read_bytes()  # UTF-8, not character references


def test_windows_image_path_gives_its_file_name(tmp_path):
    record = ImageRecord("x.jpg", 5, 5)
    _write_voc(record, tmp_path / "x.xml", "pics", r"C:\data\pics\x.jpg", verified=True)
    assert read_voc(tmp_path / "x.xml").filename == "x.jpg"


def test_sub_pixel_box_becomes_the_pixel_under_its_centre(tmp_path):
    boxes = (BoxRecord("a", (3.6, 0.2, 3.9, 0.4)), BoxRecord("b", (9.8, 9.5, 10.0, 9.7)))
    ann = read_voc(write_voc(ImageRecord("x.jpg", 10, 10, boxes=boxes), tmp_path / "x.xml"))
    assert [o.box for o in ann.objects] == [(3.0, 0.0, 4.0, 1.0), (9.0, 9.0, 10.0, 10.0)]


def test_fractional_boxes_are_rounded(tmp_path):
    boxes = (BoxRecord("a", (10.4, 2.6, 20.6, 7.4)),)
    ann = read_voc(write_voc(ImageRecord("x.jpg", 30, 30, boxes=boxes), tmp_path / "x.xml"))
    assert ann.objects[0].box == (10.0, 3.0, 21.0, 7.0)


def test_character_xml_cannot_store_is_refused_and_the_old_file_kept(tmp_path):
    path = write_voc(ImageRecord("x.jpg", 10, 10), tmp_path / "x.xml")
    before = path.read_bytes()
    bad = ImageRecord("x.jpg", 10, 10, boxes=(BoxRecord("c\x01t", (0, 0, 1, 1)),))
    with pytest.raises(ValueError, match="XML cannot store"):
        write_voc(bad, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["x.xml"]  # no temporary file left behind


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = write_voc(ImageRecord("x.jpg", 10, 10), tmp_path / "x.xml")
    before = path.read_bytes()

    def refuse(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    record = ImageRecord("x.jpg", 10, 10, boxes=(BoxRecord("cat", (0, 0, 1, 1)),))
    with pytest.raises(OSError, match="No space"):
        write_voc(record, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["x.xml"]


# --- the shared data sets, file by file ---------------------------------------------------------


def corners(path: Path) -> list[tuple[str, list[int]]]:
    """Each object's name and its four corners as written in the file."""
    root = safe_parse(str(path)).getroot()
    return [
        (obj.findtext("name").strip(), [int(obj.findtext(f"bndbox/{t}")) for t in CORNERS])
        for obj in root.iter("object")
    ]


@pytest.mark.skipif(not DATASETS.is_dir(), reason="../shared/datasets is not beside this checkout")
def test_every_shared_voc_file_is_rewritten_with_its_original_coordinates(tmp_path):
    images = {
        xml: image
        for folder, ann_dir in [
            ("raccoon/images", DATASETS / "raccoon" / "annotations"),
            ("fruit", None),
        ]
        for image, xml in annotated_images(DATASETS / folder, ann_dir)
    }
    xml_files = sorted(DATASETS.rglob("*.xml"))
    assert len(xml_files) >= 500
    sized_from_image = 0
    for xml in xml_files:
        ann = read_voc(xml)
        width, height = ann.width, ann.height
        if width <= 0 or height <= 0:
            loaded = load_rgb(images[xml])
            width, height = loaded.width, loaded.height
            sized_from_image += 1
        record, warnings = voc_to_record(ann, f"{xml.parent.name}/{xml.stem}.jpg", width, height)
        assert warnings == [], xml
        out = tmp_path / "rewritten.xml"
        _write_voc(record, out, xml.parent.name, record.path, verified=ann.verified)
        original, rewritten = corners(xml), corners(out)
        assert rewritten == original, xml
        assert len(rewritten) == len(ann.objects) > 0, xml
    assert sized_from_image == 37
