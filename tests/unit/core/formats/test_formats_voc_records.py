"""The plain records formats share (core.formats.records) and turning a read VOC annotation
into one (core.formats.voc.voc_to_record)."""

from __future__ import annotations

import pytest

from core.formats.records import BoxRecord, ImageRecord
from core.formats.voc import AnnotationError, VocAnnotation, VocObject, read_voc, voc_to_record

# --- records ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "",
        "../x.jpg",
        "a/../../x.jpg",
        r"a\..\..\x.jpg",
        "/abs/x.jpg",
        "C:/x.jpg",
        "C:x.jpg",
        r"\\server\share\x.jpg",
        "a//x.jpg",
        "./x.jpg",
        "a/",
        "x\0.jpg",
    ],
)
def test_image_record_refuses_paths_outside_the_root(path):
    with pytest.raises(ValueError, match="relative POSIX path"):
        ImageRecord(path=path, width=10, height=10)


@pytest.mark.parametrize(
    ("name", "box"),
    [
        ("cat", (5, 5, 5, 9)),
        ("cat", (6, 5, 5, 9)),
        ("cat", (0, 0, float("nan"), 1)),
        (" ", (0, 0, 1, 1)),
    ],
)
def test_box_record_refuses_empty_boxes_and_names(name, box):
    with pytest.raises(ValueError):
        BoxRecord(name, box)


def test_image_record_refuses_empty_size():
    with pytest.raises(ValueError, match="empty"):
        ImageRecord(path="x.jpg", width=0, height=10)


# --- voc_to_record ----------------------------------------------------------------------------


def annotation(width=0, height=0, *boxes) -> VocAnnotation:
    return VocAnnotation(
        "x.jpg", width, height, [VocObject(f"o{i}", b) for i, b in enumerate(boxes)]
    )


def test_voc_to_record_takes_the_image_size_when_the_xml_has_none():
    record, warnings = voc_to_record(annotation(0, 0, (0, 0, 50, 40)), "b/cat.jpg", 50, 40)
    assert (record.width, record.height) == (50, 40)
    assert record.boxes[0].box == (0.0, 0.0, 50.0, 40.0)
    assert warnings == []


def test_voc_to_record_keeps_the_images_size_and_reports_a_mismatch():
    record, warnings = voc_to_record(annotation(640, 480, (0, 0, 600, 400)), "x.jpg", 480, 640)
    assert (record.width, record.height) == (480, 640)
    assert record.boxes[0].box == (0.0, 0.0, 480.0, 400.0)
    assert warnings[0] == (
        "x.jpg: the XML says 640 × 480 but the image is 480 × 640; the image's size is used"
    )
    assert "clipped" in warnings[1] and len(warnings) == 2


def test_voc_to_record_takes_the_xml_size_without_the_images():
    record, warnings = voc_to_record(annotation(64, 48, (0, 0, 60, 40)), "x.jpg", 0, 0)
    assert (record.width, record.height) == (64, 48) and warnings == []


@pytest.mark.parametrize(
    ("orientation", "turned"),
    [(1, None), (5, (2, 1, 4, 3)), (6, (44, 1, 46, 3)), (7, (44, 61, 46, 63)), (8, (2, 61, 4, 63))],
)
def test_voc_to_record_turns_boxes_of_the_stored_pixels(orientation, turned):
    # A 64 × 48 stored frame, box x 1..3, y 2..4; shown turned it is 48 × 64.
    record, warnings = voc_to_record(
        annotation(64, 48, (1, 2, 3, 4)), "x.jpg", 48, 64, orientation=orientation
    )
    assert record.boxes[0].box == (turned or (1, 2, 3, 4))
    assert ("turned" in warnings[0]) == (turned is not None) and len(warnings) == 1


def test_voc_to_record_clips_and_drops_with_warnings():
    ann = annotation(30, 20, (4, 4, 90, 20), (-3, 2, 10, 25), (31, 0, 40, 10), (5, 5, 6, 6))
    record, warnings = voc_to_record(ann, "b/ünï cødé.png", 0, 0)
    assert [b.box for b in record.boxes] == [(4, 4, 30, 20), (0, 2, 10, 20), (5, 5, 6, 6)]
    assert [b.class_name for b in record.boxes] == ["o0", "o1", "o3"]
    assert len(warnings) == 3
    assert all(w.startswith("b/ünï cødé.png: ") for w in warnings)
    assert "clipped" in warnings[0] and "clipped" in warnings[1]
    assert "'o2'" in warnings[2] and "dropped" in warnings[2]


def test_voc_to_record_warnings_name_the_xml_file_read(tmp_path):
    xml = tmp_path / "ünï cødé.xml"
    xml.write_text(
        "<annotation><size><width>30</width><height>20</height></size><object><name>cat</name>"
        "<bndbox><xmin>5</xmin><ymin>5</ymin><xmax>90</xmax><ymax>20</ymax></bndbox></object>"
        "</annotation>",
        encoding="utf-8",
    )
    record, warnings = voc_to_record(read_voc(xml), "b/ünï cødé.png", 30, 20)
    assert record.boxes[0].box == (4.0, 4.0, 30.0, 20.0)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"{xml} (b/ünï cødé.png): box (4, 4, 90, 20) of 'cat' clipped")


def test_voc_to_record_needs_some_size():
    with pytest.raises(AnnotationError, match=r"x\.jpg"):
        voc_to_record(annotation(0, 0, (0, 0, 1, 1)), "x.jpg", 0, 0)
