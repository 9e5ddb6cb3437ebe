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


def test_voc_to_record_keeps_the_xml_size_and_reports_a_mismatch():
    record, warnings = voc_to_record(annotation(640, 480), "x.jpg", 480, 640)
    assert (record.width, record.height) == (640, 480)
    assert len(warnings) == 1 and "640 × 480" in warnings[0] and warnings[0].startswith("x.jpg")


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
