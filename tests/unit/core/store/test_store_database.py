"""The project store (core.store): opening, settings, threads and connection settings."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import text

from core.store import Project, StoreError
from tests.helpers.store import image_id

# --- opening -----------------------------------------------------------------------------------


def test_create_close_reopen_keeps_data(folder):
    db = Project.default_db_path(folder)
    assert db == folder / ".salibox" / "project.db"
    with Project.open(db, folder) as project:
        assert project.root == folder.resolve()
        assert project.db_path == db.resolve()
        project.register_images(["a.jpg", "b/c.jpg"])
        box = project.box_records.add_box(project.image_by_path("a.jpg").id, "cat", (1, 2, 30, 40))
        project.set_setting("theme", "dark")
    assert db.is_file()
    with Project.open(db) as project:  # root comes from the file
        assert project.root == folder.resolve()
        assert [im.path for im in project.images()] == ["a.jpg", "b/c.jpg"]
        assert [b.id for b in project.box_records.boxes(project.image_by_path("a.jpg").id)] == [box]
        assert project.class_records.classes() == ["cat"]
        assert project.setting("theme") == "dark"
        assert project.setting("missing", "fallback") == "fallback"
        assert [e["action"] for e in project.box_records.events()] == ["add"]


def test_custom_db_path_and_missing_file_without_root(tmp_path, folder):
    db = tmp_path / "elsewhere" / "labels.db"
    with pytest.raises(StoreError, match="give the image folder"):
        Project.open(db)
    assert not db.parent.exists()
    with Project.open(db, folder) as project:
        assert project.root == folder.resolve()
    assert db.is_file()


def test_root_mismatch_refused(tmp_path, folder):
    db = Project.default_db_path(folder)
    Project.open(db, folder).close()
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(StoreError, match="belongs to image folder") as info:
        Project.open(db, other)
    assert str(db.resolve()) in str(info.value)
    with Project.open(db, folder / "." / ".." / folder.name) as project:  # same folder
        assert project.root == folder.resolve()


def test_root_must_be_a_folder(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Project.open(tmp_path / "p.db", tmp_path / "nope")
    assert not (tmp_path / "p.db").exists()


def test_closed_project_refuses_calls(project):
    project.close()
    project.close()  # twice is fine
    with pytest.raises(StoreError, match="closed"):
        project.images()


def test_settings_overwrite(project):
    project.set_setting("k", "1")
    project.set_setting("k", "2")
    assert project.setting("k") == "2"
    assert project.setting("nothing") is None


# --- threads and connection settings -----------------------------------------------------------


def test_two_threads_write_concurrently(project):
    ids = [image_id(project, f"{n}.jpg") for n in range(2)]
    barrier, errors, added = threading.Barrier(2), [], [[], []]

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(60):
                bid = project.box_records.add_box(
                    ids[n], f"class {n}", (0, 0, i + 1, i + 1), state="proposed"
                )
                project.box_records.accept_box(bid)
                added[n].append(bid)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for n in range(2):
        rows = project.box_records.boxes(ids[n])
        assert [r.id for r in rows] == added[n]
        assert {r.state for r in rows} == {"accepted"}
    assert len(project.box_records.events()) == 240


@pytest.mark.sqlite_only
def test_pragmas_and_foreign_keys_are_on(project):
    with sqlite3.connect(project.db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # stored in the file
    with project.engine.connect() as conn:  # per-connection settings
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_deleting_an_image_cascades_to_its_boxes_and_events(project):
    """There is no image deletion in the API yet; this checks the schema's cascade with the
    project's own connection settings (foreign keys on)."""
    keep, gone = image_id(project, "keep.jpg"), image_id(project, "gone.jpg")
    project.box_records.add_box(keep, "cat", (0, 0, 5, 5))
    project.box_records.add_box(gone, "cat", (0, 0, 5, 5))
    with project.engine.begin() as conn:
        conn.execute(text("DELETE FROM image WHERE id = :id"), {"id": gone})
        assert conn.execute(text("SELECT count(*) FROM box")).scalar() == 1
    assert [e["image_id"] for e in project.box_records.events()] == [keep]
    assert len(project.box_records.boxes(keep)) == 1
