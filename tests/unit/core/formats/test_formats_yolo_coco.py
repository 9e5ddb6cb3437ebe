"""YOLO export (core.formats.yolo), COCO export (core.formats.coco) and the COCO round
trip; the import of other tools' files is in test_coco_import.py."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.formats.coco import export_coco
from core.formats.coco_import import import_coco
from core.formats.records import BoxRecord, ImageRecord
from core.formats.yolo import export_yolo

# --- YOLO -------------------------------------------------------------------------------------


def test_yolo_lines_for_hand_computed_boxes(tmp_path):
    record = ImageRecord(
        "sub dir/ünï.jpg",
        200,
        100,
        boxes=(
            BoxRecord("dog", (20, 10, 60, 50)),  # centre (40, 30), size 40 × 40
            BoxRecord("cat", (-10, 0, 10, 100)),  # clipped to (0, 0, 10, 100)
            BoxRecord("cat", (0.5, 99.5, 200, 100)),
            BoxRecord("cat", (210, 0, 230, 10)),  # outside: left out
            BoxRecord("bird", (0, 0, 5, 5)),  # not an exported class: left out
        ),
    )
    report = export_yolo([record], tmp_path / "out", ["cat", "dog"], tmp_path)
    label = tmp_path / "out" / "labels" / "sub dir" / "ünï.txt"
    assert label.read_text().splitlines() == [
        "1 0.200000 0.300000 0.200000 0.400000",
        "0 0.025000 0.500000 0.050000 1.000000",
        "0 0.501250 0.997500 0.997500 0.005000",
    ]
    assert (report.images, report.objects, report.classes) == (1, 3, 2)
    assert len(report.warnings) == 3
    assert "clipped" in report.warnings[0] and "left out" in report.warnings[1]
    assert "'bird'" in report.warnings[2]


def test_yolo_classes_file_keeps_the_given_order(tmp_path):
    record = ImageRecord(
        "x.jpg",
        10,
        10,
        boxes=(BoxRecord("apple", (0, 0, 5, 5)), BoxRecord("zebra", (5, 5, 10, 10))),
    )
    export_yolo([record], tmp_path / "out", ["zebra", "ünï fruit", "apple"], tmp_path)
    assert (tmp_path / "out" / "classes.txt").read_text(encoding="utf-8") == (
        "zebra\nünï fruit\napple\n"
    )
    lines = (tmp_path / "out" / "labels" / "x.txt").read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["2", "0"]


def test_yolo_empty_label_files_and_mirrored_images(tmp_path):
    root = tmp_path / "project"
    paths = ["a/x.jpg", "a/x.png", "b/empty.png", "c.jpg"]
    for n, path in enumerate(paths):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(f"image {n}".encode())
    records = [
        ImageRecord(p, 10, 10, boxes=(BoxRecord("cat", (0, 0, 5, 5)),) if p == "c.jpg" else ())
        for p in paths
    ]
    report = export_yolo(records, tmp_path / "out", ["cat"], root, images="copy")
    labels = sorted(
        p.relative_to(tmp_path / "out" / "labels").as_posix()
        for p in (tmp_path / "out" / "labels").rglob("*.txt")
    )
    assert labels == ["a/x.txt", "b/empty.txt", "c.txt"]
    assert (tmp_path / "out" / "labels" / "b" / "empty.txt").read_bytes() == b""
    assert (tmp_path / "out" / "labels" / "c.txt").read_text() == (
        "0 0.250000 0.250000 0.500000 0.500000\n"
    )
    images = sorted(
        p.relative_to(tmp_path / "out" / "images").as_posix()
        for p in (tmp_path / "out" / "images").rglob("*")
        if p.is_file()
    )
    assert images == ["a/x.jpg", "b/empty.png", "c.jpg"]  # a/x.png shares a/x.txt: left out
    assert (tmp_path / "out" / "images" / "a" / "x.jpg").read_bytes() == b"image 0"
    assert report.images == 3 and report.files_written == 1 + 3 + 3
    assert len(report.warnings) == 1 and "a/x.png" in report.warnings[0]


@pytest.mark.parametrize("classes", [["cat", "cat"], ["cat", ""], ["two\nlines"]])
def test_yolo_refuses_bad_class_lists(tmp_path, classes):
    with pytest.raises(ValueError):
        export_yolo([], tmp_path / "out", classes, tmp_path)
    assert not (tmp_path / "out").exists()


# --- COCO export and import -------------------------------------------------------------------


def sample() -> list[ImageRecord]:
    return [
        ImageRecord(
            "sub dir/ünï cødé.jpg",
            640,
            480,
            boxes=(
                BoxRecord("cat", (10, 20, 110, 220)),
                BoxRecord(
                    "traffic light",
                    (0.25, 1.5, 639.75, 480.0),
                    difficult=True,
                    truncated=True,
                    occluded=True,
                    pose="Left",
                    verified=False,
                ),
            ),
        ),
        ImageRecord("empty.png", 30, 20, depth=1),
        ImageRecord("b/x.jpg", 50, 40, boxes=(BoxRecord("cat", (1, 2, 3, 4)),)),
    ]


def test_coco_export_layout(tmp_path):
    report = export_coco(sample(), tmp_path / "coco.json", ["traffic light", "cat"])
    doc = json.loads((tmp_path / "coco.json").read_text(encoding="utf-8"))
    assert doc["categories"] == [{"id": 1, "name": "traffic light"}, {"id": 2, "name": "cat"}]
    assert [(i["id"], i["file_name"], i["width"], i["height"]) for i in doc["images"]] == [
        (1, "sub dir/ünï cødé.jpg", 640, 480),
        (2, "empty.png", 30, 20),
        (3, "b/x.jpg", 50, 40),
    ]
    first, second, third = doc["annotations"]
    assert first == {
        "id": 1,
        "image_id": 1,
        "category_id": 2,
        "bbox": [10.0, 20.0, 100.0, 200.0],
        "area": 20000.0,
        "iscrowd": 0,
        "attributes": {
            "difficult": False,
            "truncated": False,
            "occluded": False,
            "pose": "Unspecified",
            "verified": True,
        },
    }
    assert all(isinstance(v, float) for v in first["bbox"])
    assert second["bbox"] == [0.25, 1.5, 639.5, 478.5] and second["category_id"] == 1
    assert second["attributes"]["verified"] is False and second["attributes"]["pose"] == "Left"
    assert (third["id"], third["image_id"]) == (3, 3)
    assert (report.images, report.objects, report.classes, report.warnings) == (3, 3, 2, [])


def test_coco_round_trip_gives_identical_records(tmp_path):
    records = sample()
    export_coco(records, tmp_path / "coco.json", ["cat", "traffic light"])
    assert import_coco(tmp_path / "coco.json") == (records, [])


@st.composite
def coco_records(draw) -> list[ImageRecord]:
    """Images with boxes on quarter pixels."""
    records = []
    for n in range(draw(st.integers(1, 4))):
        width, height = draw(st.integers(1, 4096)), draw(st.integers(1, 4096))
        boxes = []
        for _ in range(draw(st.integers(0, 4))):
            xs = sorted(
                draw(st.lists(st.integers(0, 4 * width), min_size=2, max_size=2, unique=True))
            )
            ys = sorted(
                draw(st.lists(st.integers(0, 4 * height), min_size=2, max_size=2, unique=True))
            )
            boxes.append(
                BoxRecord(
                    draw(st.sampled_from(["cat", "dog", "ünï"])),
                    (xs[0] / 4, ys[0] / 4, xs[1] / 4, ys[1] / 4),
                    difficult=draw(st.booleans()),
                    verified=draw(st.booleans()),
                )
            )
        records.append(ImageRecord(f"d/{n}.jpg", width, height, boxes=tuple(boxes)))
    return records


@settings(max_examples=100, deadline=None)
@given(records=coco_records())
def test_coco_round_trip_is_exact_for_quarter_pixels(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("coco") / "c.json"
    export_coco(records, path, ["cat", "dog", "ünï"])
    back, warnings = import_coco(path)
    assert warnings == []
    assert back == records
    assert [b.box for r in back for b in r.boxes] == [b.box for r in records for b in r.boxes]


@settings(max_examples=100, deadline=None)
@given(
    xs=st.lists(st.floats(0, 1000), min_size=2, max_size=2, unique=True),
    ys=st.lists(st.floats(0, 1000), min_size=2, max_size=2, unique=True),
)
def test_coco_round_trip_of_any_float_box_within_an_ulp(tmp_path_factory, xs, ys):
    (x1, x2), (y1, y2) = sorted(xs), sorted(ys)
    record = ImageRecord("x.jpg", 1000, 1000, boxes=(BoxRecord("cat", (x1, y1, x2, y2)),))
    path = tmp_path_factory.mktemp("coco") / "c.json"
    export_coco([record], path, ["cat"])
    (back,), _ = import_coco(path)
    assert back.boxes[0].box == pytest.approx((x1, y1, x2, y2), rel=1e-15, abs=1e-12)


def test_coco_export_clips_and_leaves_out(tmp_path):
    record = ImageRecord(
        "x.jpg",
        10,
        10,
        boxes=(
            BoxRecord("cat", (-2, 0, 5, 12)),
            BoxRecord("cat", (11, 0, 12, 5)),
            BoxRecord("owl", (0, 0, 1, 1)),
        ),
    )
    report = export_coco([record], tmp_path / "c.json", ["cat"])
    doc = json.loads((tmp_path / "c.json").read_text())
    assert [a["bbox"] for a in doc["annotations"]] == [[0.0, 0.0, 5.0, 10.0]]
    assert len(report.warnings) == 3 and report.objects == 1
