"""Folder + VOC import into a project, and export back out, through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.formats.voc import read_voc
from core.store.project import Project
from desktop_app.cli.main import main
from tests.helpers.paths import DATASETS

VOC = """<annotation><filename>{name}</filename>
<size><width>{w}</width><height>{h}</height><depth>3</depth></size>{objects}</annotation>"""
OBJ = """<object><name>{cls}</name><difficult>{d}</difficult><bndbox><xmin>{x1}</xmin>
<ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"""


def voc(name, w, h, *objects) -> str:
    return VOC.format(name=name, w=w, h=h, objects="".join(OBJ.format(**o) for o in objects))


def save_image(path: Path, w: int, h: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name))
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)


def review_all(folder: Path) -> None:
    """Mark every image of the folder's project as reviewed, so an export writes them all
    (those without boxes as images with no objects)."""
    with Project.open(Project.default_db_path(folder)) as project:
        for row in project.images():
            project.set_status(row.id, "done")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Images in subfolders, VOC beside some, one broken XML, one size-0 XML, one box
    outside its image, two images with the same name in different folders."""
    root = tmp_path / "my project ✓"
    save_image(root / "a" / "cat.jpg", 80, 60)
    (root / "a" / "cat.xml").write_text(
        voc("cat.jpg", 80, 60, dict(cls="cat", d=0, x1=11, y1=6, x2=40, y2=30))
    )
    save_image(root / "b" / "cat.jpg", 50, 40)
    (root / "b" / "cat.xml").write_text(
        voc("cat.jpg", 0, 0, dict(cls="dog", d=1, x1=1, y1=1, x2=50, y2=40))
    )
    save_image(root / "b" / "ünï cødé.png", 30, 20)
    (root / "b" / "ünï cødé.xml").write_text(
        voc("x.png", 30, 20, dict(cls="cat", d=0, x1=5, y1=5, x2=90, y2=20))
    )
    save_image(root / "broken.png", 30, 20)
    (root / "broken.xml").write_text("<annotation><size>")
    save_image(root / "empty.png", 30, 20)
    return root


def test_import_registers_images_and_boxes_once(folder, capsys):
    assert main(["import", "--images", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "5 images found, 5 new" in out and "3 annotated" in out
    assert "broken.xml" in err and "malformed" in err
    assert "ünï cødé.xml" in err  # the clipped box is reported
    project = Project.open(Project.default_db_path(folder))
    try:
        assert project.count_images() == 5
        assert sorted(project.class_records.classes()) == ["cat", "dog"]
        row = project.image_by_path("b/cat.jpg")
        assert (row.width, row.height) == (50, 40)  # size 0 in the XML: taken from the image
        (box,) = project.box_records.boxes(row.id)
        assert box.box == (0.0, 0.0, 50.0, 40.0) and box.difficult and box.origin == "imported"
        (clipped,) = project.box_records.boxes(project.image_by_path("b/ünï cødé.png").id)
        assert clipped.box == (4.0, 4.0, 30.0, 20.0)
    finally:
        project.close()
    assert main(["import", "--images", str(folder)]) == 0
    assert "5 images found, 0 new" in capsys.readouterr().out
    project = Project.open(Project.default_db_path(folder))
    try:
        assert sum(len(project.box_records.boxes(r.id)) for r in project.images()) == 3
    finally:
        project.close()


def test_export_voc_round_trips_to_the_pixel(folder, tmp_path, capsys):
    assert main(["import", "--images", str(folder)]) == 0
    review_all(folder)
    out = tmp_path / "voc out"
    assert main(["export", "--project", str(folder), "--format", "voc", "--out", str(out)]) == 0
    xml_files = sorted((out / "Annotations").glob("*.xml"))
    assert len(xml_files) == 5  # every reviewed image, also the ones without boxes
    boxes = {f.stem: [o.box for o in read_voc(f).objects] for f in xml_files}
    assert sorted(map(tuple, boxes.values()), key=len) == sorted(
        [(), (), ((10.0, 5.0, 40.0, 30.0),), ((0.0, 0.0, 50.0, 40.0),), ((4.0, 4.0, 30.0, 20.0),)],
        key=len,
    )
    assert len(set(boxes)) == 5  # a/cat.jpg and b/cat.jpg do not collide

    # Import the export into a second project: the same boxes come back.
    second = tmp_path / "second.db"
    images = out / "JPEGImages"
    assert (
        main(
            [
                "export",
                "--project",
                str(folder),
                "--format",
                "voc",
                "--out",
                str(out),
                "--copy-images",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "import",
                "--images",
                str(images),
                "--annotations",
                str(out / "Annotations"),
                "--project",
                str(second),
            ]
        )
        == 0
    )
    project = Project.open(second)
    try:
        again = sorted(b.box for r in project.images() for b in project.box_records.boxes(r.id))
    finally:
        project.close()
    assert again == sorted(b for v in boxes.values() for b in v)


def test_export_yolo_and_coco(folder, tmp_path):
    assert main(["import", "--images", str(folder)]) == 0
    review_all(folder)
    yolo, coco = tmp_path / "yolo", tmp_path / "coco"
    assert main(["export", "--project", str(folder), "--format", "yolo", "--out", str(yolo)]) == 0
    assert main(["export", "--project", str(folder), "--format", "coco", "--out", str(coco)]) == 0
    assert len(list((yolo / "labels").rglob("*.txt"))) == 5
    doc = json.loads((coco / "annotations.json").read_text())
    assert len(doc["images"]) == 5 and len(doc["annotations"]) == 3


def test_export_of_a_missing_project_is_one_line(tmp_path, capsys):
    code = main(
        [
            "export",
            "--project",
            str(tmp_path / "nope.db"),
            "--format",
            "voc",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.skipif(not DATASETS.is_dir(), reason="../shared/datasets is not beside this checkout")
@pytest.mark.parametrize(
    ("images", "annotations"),
    [("raccoon/images", "raccoon/annotations"), ("fruit/train", None), ("fruit/test", None)],
)
def test_untouched_shared_sets_export_their_original_coordinates(images, annotations, tmp_path):
    images_dir = DATASETS / images
    db = tmp_path / "project.db"
    argv = ["import", "--images", str(images_dir), "--project", str(db)]
    if annotations:
        argv += ["--annotations", str(DATASETS / annotations)]
    assert main(argv) == 0
    out = tmp_path / "voc"
    assert main(["export", "--project", str(db), "--format", "voc", "--out", str(out)]) == 0
    originals = {p.stem: p for p in (DATASETS / (annotations or images)).glob("*.xml")}
    assert originals
    for stem, original in originals.items():
        exported = read_voc(out / "Annotations" / f"{stem}.xml")
        source = read_voc(original)
        assert [(o.name, o.box, o.difficult) for o in exported.objects] == [
            (o.name, o.box, o.difficult) for o in source.objects
        ], original


def test_coco_export_imports_into_a_new_project(folder, tmp_path, capsys):
    assert main(["import", "--images", str(folder)]) == 0
    review_all(folder)
    coco = tmp_path / "coco"
    assert main(["export", "--project", str(folder), "--format", "coco", "--out", str(coco)]) == 0
    second = tmp_path / "from coco.db"
    argv = ["import", "--images", str(folder), "--project", str(second)]
    assert main([*argv, "--coco", str(coco / "annotations.json")]) == 0
    assert "5 images found, 5 new" in capsys.readouterr().out
    with Project.open(Project.default_db_path(folder)) as a, Project.open(second) as b:
        for row in a.images():
            other = b.image_by_path(row.path)
            assert [(x.class_name, x.box, x.difficult) for x in a.box_records.boxes(row.id)] == [
                (x.class_name, x.box, x.difficult) for x in b.box_records.boxes(other.id)
            ]


def test_malformed_coco_is_one_line(folder, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    argv = ["import", "--images", str(folder), "--project", str(tmp_path / "p.db")]
    assert main([*argv, "--coco", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.json" in err[0]
