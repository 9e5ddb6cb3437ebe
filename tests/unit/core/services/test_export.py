"""Which images an export writes (core.services.exporter), cancelling it, VOC beside each image, and
the ``export`` command's --include-unreviewed and --voc-layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from defusedxml.ElementTree import parse as safe_parse
from PIL import Image

from core.formats.voc import read_voc, voc_to_record
from core.services.exporter import (
    NO_ACCEPTED_BOXES,
    NOT_REVIEWED,
    UNREADABLE,
    ExportCancelled,
    export_project,
)
from core.store import Project
from desktop_app.cli.main import main


def add_image(folder: Path, project: Project, name: str, status: str, boxes=(), proposals=()):
    """A 40 × 30 PNG registered with ``status``, accepted ``boxes`` and proposed
    ``proposals``, each ``(class, (x1, y1, x2, y2))``; returns its id."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), (len(name) * 9 % 255, 80, 120)).save(path, format="PNG")
    project.register_images([name])
    image_id = project.image_by_path(name).id
    for class_name, box in boxes:
        project.box_records.add_box(image_id, class_name, box)
    for class_name, box in proposals:
        project.box_records.add_box(image_id, class_name, box, origin="proposal", state="proposed")
    project.set_status(image_id, status)
    return image_id


@pytest.fixture
def mixed(folder, project) -> Project:
    """Two reviewed images (one without boxes), one partly reviewed with an accepted box,
    one with only a proposal, one unreadable with a box, one reviewed but not decodable."""
    add_image(
        folder,
        project,
        "a.png",
        "done",
        boxes=[("dog", (1, 1, 10, 10)), ("cat", (2, 2, 20, 20)), ("cat", (5, 5, 15, 25))],
    )
    rejected = project.box_records.add_box(project.image_by_path("a.png").id, "cat", (0, 0, 4, 4))
    project.box_records.reject_box(rejected)
    add_image(folder, project, "b.png", "done")
    add_image(
        folder,
        project,
        "c.png",
        "in_review",
        boxes=[("cat", (3, 3, 30, 20))],
        proposals=[("dog", (0, 0, 9, 9))],
    )
    add_image(folder, project, "d.png", "proposed", proposals=[("cat", (1, 2, 30, 28))])
    add_image(folder, project, "e.png", "unreadable", boxes=[("cat", (1, 1, 5, 5))])
    (folder / "f.jpg").write_bytes(b"not an image")
    project.register_images(["f.jpg"])
    project.set_status(project.image_by_path("f.jpg").id, "done")
    return project


def test_default_exports_reviewed_images_only_with_negatives(mixed, tmp_path):
    out = tmp_path / "voc"
    summary = export_project(mixed, "voc", out)
    assert sorted(p.name for p in (out / "Annotations").iterdir()) == ["a.xml", "b.xml"]
    negative = read_voc(out / "Annotations" / "b.xml")
    assert negative.objects == [] and negative.verified  # a reviewed image with no objects
    assert summary.images == 2
    assert summary.boxes == {"dog": 1, "cat": 2}  # no rejected box, in the project's order
    assert list(summary.boxes) == [c for c in mixed.class_records.classes() if c in summary.boxes]
    assert summary.skipped == {NOT_REVIEWED: 2, UNREADABLE: 2}
    assert summary.skipped_lines() == ["2 not reviewed", "2 unreadable"]
    assert len(summary.problems) == 1 and "f.jpg" in summary.problems[0]
    assert summary.split is not None and sum(summary.split) == 2


def test_include_unreviewed_adds_images_with_accepted_boxes_only(mixed, tmp_path):
    out = tmp_path / "yolo"
    summary = export_project(mixed, "yolo", out, include_unreviewed=True)
    labels = sorted(p.name for p in (out / "labels").iterdir())
    assert labels == ["a.txt", "b.txt", "c.txt"]  # never d (only a proposal) nor e or f
    assert len((out / "labels" / "c.txt").read_text().splitlines()) == 1  # not the proposal
    assert (out / "labels" / "b.txt").read_text() == ""
    assert summary.boxes == {"dog": 1, "cat": 3}
    assert summary.skipped == {NO_ACCEPTED_BOXES: 1, UNREADABLE: 2}
    voc = tmp_path / "voc"
    export_project(mixed, "voc", voc, include_unreviewed=True)
    assert read_voc(voc / "Annotations" / "a.xml").verified
    assert not read_voc(voc / "Annotations" / "c.xml").verified  # not reviewed by a person


def test_coco_lists_the_same_images(mixed, tmp_path):
    summary = export_project(mixed, "coco", tmp_path / "coco")
    doc = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    assert [i["file_name"] for i in doc["images"]] == ["a.png", "b.png"]
    assert len(doc["annotations"]) == 3 == sum(summary.boxes.values())


def test_progress_counts_to_the_total(mixed, tmp_path):
    seen: list[tuple[int, int]] = []
    export_project(mixed, "yolo", tmp_path / "y", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (6, 6)  # 3 candidates (a, b, f): read and written, f only read
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize(
    ("fmt", "layout"),
    [("voc", "devkit"), ("yolo", "devkit"), ("coco", "devkit"), ("voc", "beside")],
)
def test_cancel_leaves_no_partial_files(folder, project, tmp_path, fmt, layout):
    for i in range(10):
        add_image(folder, project, f"img{i}.png", "done", boxes=[("cat", (1, 1, 9, 9))])
    checks: list[int] = []

    def cancelled() -> bool:
        checks.append(1)
        return len(checks) > 15  # 10 read, then 5 written

    out = tmp_path / "out"
    with pytest.raises(ExportCancelled):
        export_project(project, fmt, out, voc_layout=layout, cancelled=cancelled)
    written = [p for p in [*out.rglob("*"), *folder.rglob("*")] if p.is_file()]
    assert not [p for p in written if p.name.endswith(".tmp")]
    xml = [p for p in written if p.suffix == ".xml"]
    labels = [p for p in written if p.parent.name == "labels"]
    if fmt == "coco":
        assert not (out / "annotations.json").exists()
    else:
        assert len(xml) + len(labels) == 5
        assert all(read_voc(p).objects for p in xml)
        assert all(p.read_text().count("\n") == 1 for p in labels)
    assert not list(out.rglob("ImageSets/**/*.txt"))  # VOCdevkit lists come last


def test_voc_beside_writes_labelimg_files_the_reader_reads_back(folder, project, tmp_path):
    boxes = [("cat", (2.0, 3.0, 20.0, 25.0)), ("dog", (0.0, 0.0, 40.0, 30.0))]
    add_image(folder, project, "sub dir/ünï.png", "done", boxes=boxes)
    add_image(folder, project, "neg.png", "done")
    add_image(folder, project, "todo.png", "new")
    (folder / "todo.xml").write_text("<annotation/>")  # an unreviewed image's file stays
    summary = export_project(project, "voc", None, voc_layout="beside")
    assert summary.images == 2 and summary.split is None
    xml = folder / "sub dir" / "ünï.xml"
    root = safe_parse(str(xml)).getroot()
    assert root.findtext("folder") == "sub dir"
    assert root.findtext("filename") == "ünï.png"
    assert root.findtext("path") == str(folder / "sub dir" / "ünï.png")
    record, warnings = voc_to_record(read_voc(xml), "sub dir/ünï.png", 40, 30)
    assert [(b.class_name, b.box) for b in record.boxes] == boxes and not warnings
    assert read_voc(folder / "neg.xml").objects == []
    assert (folder / "todo.xml").read_text() == "<annotation/>"
    with pytest.raises(ValueError):
        export_project(project, "voc", None, "copy", voc_layout="beside")


def test_cli_export_reviewed_only_unless_include_unreviewed(mixed, folder, tmp_path, capsys):
    base = ["export", "--project", str(folder), "--format", "coco"]
    assert main([*base, "--out", str(tmp_path / "c1")]) == 0
    out, err = capsys.readouterr()
    assert "2 images, 3 boxes (dog 1, cat 2)" in out
    assert "skipped 2 not reviewed, 2 unreadable" in out and "f.jpg" in err
    assert main([*base, "--out", str(tmp_path / "c2"), "--include-unreviewed"]) == 0
    assert "3 images, 4 boxes" in capsys.readouterr().out
    doc = json.loads((tmp_path / "c2" / "annotations.json").read_text())
    assert [i["file_name"] for i in doc["images"]] == ["a.png", "b.png", "c.png"]


def test_cli_voc_layout_beside(mixed, folder, tmp_path, capsys):
    base = ["export", "--project", str(folder), "--format", "voc", "--voc-layout", "beside"]
    assert main(base) == 0
    assert "beside the images" in capsys.readouterr().out
    assert sorted(p.name for p in folder.glob("*.xml")) == ["a.xml", "b.xml"]
    assert main([*base, "--out", str(tmp_path / "x")]) == 2
    assert main(["export", "--project", str(folder), "--format", "yolo"]) == 2
    assert "--out" in capsys.readouterr().err
