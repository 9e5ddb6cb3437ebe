"""Exporting VOCdevkit sets (core.formats.voc_export): layout, image lists, splits, images."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from defusedxml.ElementTree import parse as safe_parse

from core.formats.records import BoxRecord, ImageRecord
from core.formats.voc import read_voc
from core.formats.voc_export import export_voc, image_ids, split_ids

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
