"""Exports of projects whose database another program edited or an old SaliBox wrote:
text or blobs where numbers belong, inverted boxes, image paths that leave the project,
class names no format can store, and a project that must only be read."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from core.services.exporter import REFUSED, export_project
from core.store import Project
from desktop_app.cli.main import main
from tests.unit.core.services.test_export import add_image

#: (format, VOC layout) pairs that export_project accepts.
LAYOUTS = [("voc", "devkit"), ("voc", "beside"), ("yolo", "devkit"), ("coco", "devkit")]


def tamper(project: Project, sql: str, *params: object) -> None:
    """Run ``sql`` on the project's file with the sqlite3 module, as another program would."""
    with sqlite3.connect(project.db_path) as connection:
        connection.execute(sql, params)
    connection.close()


def box_id(project: Project, path: str) -> int:
    return project.box_records.boxes(project.image_by_path(path).id)[0].id


def exported_paths(out: Path, fmt: str, layout: str, folder: Path) -> list[str]:
    """The image paths an export wrote, read back from its files."""
    if fmt == "coco":
        return [
            i["file_name"] for i in json.loads((out / "annotations.json").read_text())["images"]
        ]
    if fmt == "yolo":
        return sorted(
            p.relative_to(out / "labels").as_posix()
            for p in out.rglob("*.txt")
            if p.parent.name == "labels"
        )
    where = folder if layout == "beside" else out / "Annotations"
    return sorted(p.name for p in where.rglob("*.xml"))


def run(project: Project, fmt: str, layout: str, out: Path, images: str = "none"):
    return export_project(
        project, fmt, None if layout == "beside" else out, images, voc_layout=layout
    )


@pytest.mark.parametrize(("fmt", "layout"), LAYOUTS)
def test_rows_holding_text_or_blobs_are_refused_and_the_rest_exported(
    folder, project, tmp_path, fmt, layout
):
    for name in ("good.png", "text.png", "blob.png", "width.png"):
        add_image(folder, project, name, "done", boxes=[("cat", (1, 1, 10, 10))])
    project.set_image_size(project.image_by_path("width.png").id, 40, 30)
    tamper(project, "UPDATE box SET x1 = 'left' WHERE id = ?", box_id(project, "text.png"))
    tamper(project, "UPDATE box SET y2 = ? WHERE id = ?", b"\x00\xff", box_id(project, "blob.png"))
    tamper(project, "UPDATE image SET width = 'wide' WHERE path = 'width.png'")
    summary = run(project, fmt, layout, tmp_path / "out")
    assert summary.images == 1 and summary.boxes == {"cat": 1}
    assert summary.skipped == {REFUSED: 3}
    assert len(summary.problems) == 3
    for name, fragment in [("blob", "b'\\x00\\xff'"), ("text", "'left'"), ("width", "'wide'")]:
        assert any(
            line.startswith(f"{name}.png: ") and fragment in line for line in summary.problems
        )
    assert len(exported_paths(tmp_path / "out", fmt, layout, folder)) == 1


def snapshot(top: Path) -> dict[Path, str]:
    """Every file below ``top`` with a digest of its bytes."""
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in top.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("fmt", "layout"), LAYOUTS)
def test_an_inverted_box_or_a_path_leaving_the_project_skips_only_that_image(
    folder, project, tmp_path, fmt, layout
):
    add_image(folder, project, "good.png", "done", boxes=[("cat", (1, 1, 10, 10))])
    add_image(folder, project, "inverted.png", "done", boxes=[("cat", (1, 1, 10, 10))])
    tamper(project, "UPDATE box SET x1 = 30, x2 = 5 WHERE id = ?", box_id(project, "inverted.png"))
    outside = tmp_path / "outside.png"
    Image.new("RGB", (40, 30)).save(outside)
    hostile = ["../../escape.png", "../../../etc/passwd", str(outside), "..\\..\\win.png"]
    for path in hostile:
        tamper(
            project,
            "INSERT INTO image (path, status, added_at) VALUES (?, 'done', ?)",
            path,
            "2024-01-01 00:00:00.000000",
        )
    out = tmp_path / "deep" / "out"
    before = snapshot(tmp_path)
    etc = {p.name for p in Path("/etc").iterdir()}
    summary = run(project, fmt, layout, out, images="none" if layout == "beside" else "copy")
    assert summary.images == 1 and summary.skipped == {REFUSED: 5}
    assert any(line.startswith("inverted.png: ") for line in summary.problems)
    for path in hostile:
        assert any(line.startswith(f"{path}: ") for line in summary.problems), path
    changed = {p for p, digest in snapshot(tmp_path).items() if before.get(p) != digest}
    allowed = folder / ".salibox" if layout != "beside" else folder
    assert all(p.is_relative_to(out) or p.is_relative_to(allowed) for p in changed), changed
    assert {p.name for p in Path("/etc").iterdir()} == etc
    assert len(exported_paths(out, fmt, layout, folder)) == 1


@pytest.mark.parametrize(("fmt", "layout"), LAYOUTS)
def test_a_class_name_no_format_can_store_leaves_out_its_boxes(
    folder, project, tmp_path, fmt, layout
):
    boxes = [("cat", (1, 1, 10, 10)), ("dog", (2, 2, 20, 20)), ("owl", (3, 3, 9, 9))]
    add_image(folder, project, "a.png", "done", boxes=boxes)
    add_image(folder, project, "b.png", "done", boxes=[("dog", (1, 1, 5, 5))])
    tamper(project, "UPDATE label_class SET name = 'two\nlines' WHERE name = 'dog'")
    tamper(project, "UPDATE label_class SET name = ? WHERE name = 'owl'", "o" * 1_000_000)
    summary = run(project, fmt, layout, tmp_path / "out")
    assert summary.images == 2 and summary.boxes == {"cat": 1}
    assert len(summary.warnings) == 2 and not summary.problems
    assert "'two\\nlines'" in summary.warnings[0] and summary.warnings[0].endswith(
        "the class is left out with its 2 boxes"
    )
    assert "1000000 characters" in summary.warnings[1] and len(summary.warnings[1]) < 300
    if fmt == "yolo":
        assert (tmp_path / "out" / "classes.txt").read_text() == "cat\n"


def test_a_long_valid_class_name_exports_without_its_voc_per_class_lists(folder, project, tmp_path):
    name = "森" * 128  # a valid name: 128 characters, but 384 bytes as a file name
    add_image(folder, project, "a.png", "done", boxes=[(name, (1, 1, 10, 10))])
    summary = export_project(project, "voc", tmp_path / "out")
    assert summary.images == 1 and summary.boxes == {name: 1}
    assert summary.warnings == [f"class {name!r:.40}... cannot name a file; no per-class lists"]
    assert name in (tmp_path / "out" / "Annotations" / "a.xml").read_text(encoding="utf-8")


def files_of(db: Path) -> dict[str, bytes]:
    """The database file and its -wal and -shm companions, as bytes."""
    return {p.name: p.read_bytes() for p in db.parent.glob(db.name + "*")}


@pytest.mark.parametrize(("fmt", "layout"), LAYOUTS)
def test_export_only_reads_the_project(folder, project, tmp_path, fmt, layout):
    """Running as root makes a chmod-ed file writable, so the project is opened with
    SQLite's ``query_only`` (any write fails) and a second connection watches
    ``PRAGMA data_version``, which changes when any other connection commits; the bytes of
    the database, its -wal and -shm files must not change either."""
    add_image(folder, project, "a.png", "done", boxes=[("cat", (1, 1, 10, 10))])
    add_image(folder, project, "b.png", "done")
    assert project.image_by_path("a.png").width is None  # the size is not known yet
    project.close()
    watcher = sqlite3.connect(project.db_path)
    version = watcher.execute("PRAGMA data_version").fetchone()
    with Project.open(project.db_path, pragmas={"query_only": "ON"}) as read_only:
        before = files_of(project.db_path)
        summary = run(read_only, fmt, layout, tmp_path / "out")
        assert files_of(project.db_path) == before
        assert read_only.image_by_path("a.png").width is None
    assert watcher.execute("PRAGMA data_version").fetchone() == version
    watcher.close()
    assert summary.images == 2 and not summary.problems


def test_cli_export_of_a_damaged_project_names_the_image(folder, project, tmp_path, capsys):
    add_image(folder, project, "good.png", "done", boxes=[("cat", (1, 1, 10, 10))])
    add_image(folder, project, "text.png", "done", boxes=[("cat", (1, 1, 10, 10))])
    tamper(project, "UPDATE box SET x1 = 'left' WHERE id = ?", box_id(project, "text.png"))
    argv = ["export", "--project", str(folder), "--format", "yolo", "--out", str(tmp_path / "y")]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "1 images, 1 boxes (cat 1); skipped 1 refused" in out
    assert "salibox: skipped text.png: " in err


@pytest.mark.parametrize("layout", ["devkit", "beside"])
def test_a_name_xml_or_the_file_system_cannot_take_leaves_out_one_image(
    folder, project, tmp_path, layout
):
    deep = "/".join(["d" * 120] * 3) + "/deep.png"  # its VOC id would be 370 bytes long
    add_image(folder, project, deep, "done", boxes=[("cat", (1, 1, 10, 10))])
    add_image(folder, project, "bell\x07.png", "done")
    add_image(folder, project, "good.png", "done")
    summary = run(project, "voc", layout, tmp_path / "out")
    assert summary.images == 2 and summary.boxes == {"cat": 1}
    assert len(summary.warnings) == 1
    assert summary.warnings[0].startswith("'bell\\x07.png': <")
    assert summary.warnings[0].endswith("holds a character XML cannot store; image left out")
    if layout == "devkit":
        ids = (tmp_path / "out" / "ImageSets" / "Main" / "trainval.txt").read_text().split()
        assert len(ids) == 2 and len(ids[0].encode()) == 200 and ids[1] == "good"
