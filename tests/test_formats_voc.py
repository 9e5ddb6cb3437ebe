"""Writing Pascal VOC (core.formats.voc), exporting VOCdevkit sets (core.formats.voc_export)
and the plain records they share (core.formats.records)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from defusedxml.ElementTree import parse as safe_parse
from hypothesis import given, settings
from hypothesis import strategies as st

from core.datasets import annotated_images
from core.formats.records import BoxRecord, ImageRecord
from core.formats.voc import AnnotationError, VocAnnotation, VocObject, read_voc, voc_to_record
from core.formats.voc import write_voc as _write_voc
from core.formats.voc_export import export_voc, image_ids, split_ids
from core.images import load_rgb

CORNERS = ("xmin", "ymin", "xmax", "ymax")


def write_voc(record: ImageRecord, path: Path, verified: bool = True) -> Path:
    _write_voc(record, path, "images", f"images/{Path(record.path).name}", verified=verified)
    return path


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


# --- export_voc -------------------------------------------------------------------------------


def box(name: str, x1=0, y1=0, x2=4, y2=4, difficult=False) -> BoxRecord:
    return BoxRecord(name, (x1, y1, x2, y2), difficult=difficult)


def dataset(n: int = 30) -> list[ImageRecord]:
    """``n`` images: every third without boxes, cats, dogs and difficult-only dogs."""
    out = []
    for i in range(n):
        kind = i % 3
        boxes = () if kind == 0 else (box("cat"),) if kind == 1 else (box("dog", difficult=True),)
        if i == 4:
            boxes = (box("cat"), box("dog"), box("dog", difficult=True))
        out.append(ImageRecord(f"img_{i:02d}.jpg", 10, 10, boxes=boxes))
    return out


def read_list(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_export_voc_layout_and_lists(tmp_path):
    out = tmp_path / "VOC2012"
    report = export_voc(dataset(), out, tmp_path)
    main = out / "ImageSets" / "Main"
    xml = sorted((out / "Annotations").glob("*.xml"))
    assert len(xml) == 30  # the 10 images without boxes too
    assert not (out / "JPEGImages").exists()
    trainval, train, val = (read_list(main / f"{s}.txt") for s in ("trainval", "train", "val"))
    assert trainval == sorted(p.stem for p in xml)
    assert sorted(train + val) == trainval and not set(train) & set(val)
    assert train == sorted(train) and val == sorted(val)
    assert len(val) == 6  # round(30 × 0.2)
    assert (report.images, report.train, report.val, report.classes) == (30, 24, 6, 2)
    assert report.objects == 1 + 9 + 10 + 2
    assert report.files_written == 30 + 3 + 2 * 3
    assert report.warnings == []
    cat = dict(line.split(maxsplit=1) for line in read_list(main / "cat_trainval.txt"))
    dog = dict(line.split(maxsplit=1) for line in read_list(main / "dog_trainval.txt"))
    assert list(cat) == trainval
    assert (cat["img_00"], cat["img_01"], cat["img_02"], cat["img_04"]) == ("-1", "1", "-1", "1")
    assert (dog["img_00"], dog["img_01"], dog["img_02"], dog["img_04"]) == ("-1", "-1", "0", "1")
    lines = read_list(main / "dog_trainval.txt")
    assert "img_00 -1" in lines and "img_02  0" in lines and "img_04  1" in lines
    for split, members in (("train", train), ("val", val)):
        assert [line.split()[0] for line in read_list(main / f"cat_{split}.txt")] == members
    root = safe_parse(str(out / "Annotations" / "img_01.xml")).getroot()
    assert root.findtext("folder") == "VOC2012"
    assert root.findtext("filename") == "img_01.jpg"
    assert root.findtext("path") == "JPEGImages/img_01.jpg"


def test_export_voc_split_is_deterministic_per_seed(tmp_path):
    def val_of(seed: int, name: str, records=None) -> list[str]:
        export_voc(records or dataset(), tmp_path / name, tmp_path, seed=seed)
        return read_list(tmp_path / name / "ImageSets" / "Main" / "val.txt")

    first = val_of(0, "a")
    assert val_of(0, "b", list(reversed(dataset()))) == first  # input order does not matter
    assert val_of(1, "c") != first
    assert split_ids([f"i{n}" for n in range(30)], 0.2, 0) == split_ids(
        [f"i{n}" for n in range(29, -1, -1)], 0.2, 0
    )
    train, val = split_ids([f"i{n}" for n in range(10)], 0.0, 0)
    assert (len(train), val) == (10, [])
    with pytest.raises(ValueError, match="val_fraction"):
        export_voc(dataset(), tmp_path / "d", tmp_path, val_fraction=1.5)
    assert not (tmp_path / "d").exists()


def test_export_voc_duplicate_stems_do_not_collide(tmp_path):
    paths = ["a/x.jpg", "b/x.jpg", "a/x.png", "a__x.jpg", "a__X.gif", "A/X.jpg", "sub dir/ünï.jpg"]
    records = [
        ImageRecord(p, 20, 20, boxes=(box("cat", i, i, i + 5, i + 5),)) for i, p in enumerate(paths)
    ]
    ids = image_ids(paths)
    assert len({i.casefold() for i in ids.values()}) == len(paths)
    assert ids["b/x.jpg"] == "b__x" and ids["sub dir/ünï.jpg"] == "sub_dir__ünï"
    export_voc(records, tmp_path / "out", tmp_path)
    assert len(list((tmp_path / "out" / "Annotations").iterdir())) == len(paths)
    for i, path in enumerate(paths):
        ann = read_voc(tmp_path / "out" / "Annotations" / f"{ids[path]}.xml")
        assert ann.objects[0].box == (i, i, i + 5, i + 5)
        assert ann.filename == ids[path] + Path(path).suffix


def make_images(root: Path, paths: list[str]) -> list[ImageRecord]:
    for n, path in enumerate(paths):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(f"image {n}".encode())
    return [ImageRecord(p, 10, 10) for p in paths]


def test_export_voc_copies_and_links_images(tmp_path):
    records = make_images(tmp_path / "project", ["a/x.jpg", "b/x.png", "ünï.jpg"])
    copy = export_voc(records, tmp_path / "copy", tmp_path / "project", images="copy")
    link = export_voc(records, tmp_path / "link", tmp_path / "project", images="link")
    expected = {"a__x.jpg": b"image 0", "b__x.png": b"image 1", "ünï.jpg": b"image 2"}
    for out in ("copy", "link"):
        files = {p.name: p for p in (tmp_path / out / "JPEGImages").iterdir()}
        assert {name: p.read_bytes() for name, p in files.items()} == expected
        assert all(p.is_symlink() == (out == "link") for p in files.values())
    target = (tmp_path / "link" / "JPEGImages" / "a__x.jpg").resolve()
    assert target == (tmp_path / "project" / "a" / "x.jpg").resolve()
    assert copy.files_written == link.files_written == 3 + 3 + 3
    # Exporting again over the same folder replaces the files.
    again = export_voc(records, tmp_path / "link", tmp_path / "project", images="copy")
    assert not (tmp_path / "link" / "JPEGImages" / "a__x.jpg").is_symlink()
    assert again.warnings == []


def test_export_voc_copies_where_links_are_refused(tmp_path, monkeypatch):
    records = make_images(tmp_path, ["x.jpg", "y.jpg"])

    def refuse(*_):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "symlink", refuse)
    report = export_voc(records, tmp_path / "out", tmp_path, images="link")
    copied = tmp_path / "out" / "JPEGImages" / "x.jpg"
    assert copied.read_bytes() == b"image 0" and not copied.is_symlink()
    assert len(report.warnings) == 1 and "2 images were copied" in report.warnings[0]


def test_export_voc_missing_image_still_exports_its_annotation(tmp_path):
    records = [*make_images(tmp_path, ["x.jpg"]), ImageRecord("gone.jpg", 10, 10)]
    report = export_voc(records, tmp_path / "out", tmp_path, images="copy")
    assert (tmp_path / "out" / "Annotations" / "gone.xml").is_file()
    assert [p.name for p in (tmp_path / "out" / "JPEGImages").iterdir()] == ["x.jpg"]
    assert len(report.warnings) == 1 and "gone.jpg" in report.warnings[0]


def test_export_voc_verified_callback(tmp_path):
    records = [ImageRecord("e.jpg", 5, 5), ImageRecord("b.jpg", 5, 5, boxes=(box("cat"),))]
    export_voc(records, tmp_path / "default", tmp_path)
    export_voc(records, tmp_path / "all", tmp_path, verified=lambda r: True)
    assert not read_voc(tmp_path / "default" / "Annotations" / "e.xml").verified
    assert read_voc(tmp_path / "default" / "Annotations" / "b.xml").verified
    assert read_voc(tmp_path / "all" / "Annotations" / "e.xml").verified


def test_export_voc_class_that_cannot_name_a_file(tmp_path):
    records = [ImageRecord("x.jpg", 5, 5, boxes=(box("cat/dog"), box("..")))]
    report = export_voc(records, tmp_path / "out", tmp_path)
    assert sorted(os.listdir(tmp_path / "out" / "ImageSets" / "Main")) == [
        "train.txt",
        "trainval.txt",
        "val.txt",
    ]
    assert len(report.warnings) == 2
    assert [o.name for o in read_voc(tmp_path / "out" / "Annotations" / "x.xml").objects] == [
        "cat/dog",
        "..",
    ]


def test_export_voc_refuses_unknown_image_mode(tmp_path):
    with pytest.raises(ValueError, match="images="):
        export_voc([], tmp_path / "out", tmp_path, images="hardlink")


# --- the shared data sets, file by file ---------------------------------------------------------

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


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
