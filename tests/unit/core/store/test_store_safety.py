"""The project store under stress: schema migrations, locks, a full disk and killed processes."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from core.store import Project, StoreError
from core.store.migrate import alembic_config, backup, head_revision
from core.store.models import Base
from tests.helpers.paths import ROOT


@pytest.fixture
def db(folder):
    """A closed project with one image and one accepted box."""
    path = Project.default_db_path(folder)
    with Project.open(path, folder) as project:
        project.register_images(["a.jpg"])
        project.box_records.add_box(project.image_by_path("a.jpg").id, "cat", (1, 2, 3, 4))
    return path


def sql(path: Path, query: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.backup-*"))


# --- migrations --------------------------------------------------------------------------------


def test_fresh_database_is_at_head_and_matches_the_models(db):
    assert sql(db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    assert backups(db) == []  # nothing to back up when created
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    engine.dispose()


def test_database_from_a_newer_salibox_is_refused_untouched(db):
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dfeed9999'")
    conn.close()
    before = digest(db)
    with pytest.raises(StoreError, match="newer SaliBox") as info:
        Project.open(db)
    assert str(db) in str(info.value)
    assert digest(db) == before
    assert backups(db) == []


def test_sqlite_file_of_another_program_is_refused_untouched(tmp_path, folder):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.close()
    before = digest(other)
    with pytest.raises(StoreError, match="another program"):
        Project.open(other, folder)
    assert digest(other) == before


def test_file_that_is_not_a_database_is_refused(tmp_path, folder):
    junk = tmp_path / "photo.db"
    junk.write_bytes(b"\xff\xd8\xff\xe0 not a database at all" * 100)
    with pytest.raises(StoreError, match="not a SaliBox project database"):
        Project.open(junk, folder)
    assert junk.read_bytes().startswith(b"\xff\xd8\xff\xe0 not")


def test_empty_file_is_refused_untouched(tmp_path, folder):
    empty = tmp_path / "labels.db"
    empty.touch()  # an existing project is never empty: SaliBox writes its schema at once
    with pytest.raises(StoreError) as info:
        Project.open(empty, folder)
    assert str(info.value) == (
        f"{empty}: is an empty file, not a SaliBox project (left as it is); "
        "delete it to create a new project there."
    )
    assert empty.read_bytes() == b""
    assert sorted(tmp_path.iterdir()) == [empty, folder]  # no write-ahead log either


def overwrite_page(path: Path, table: str, seed: int = 11) -> None:
    """Random bytes over the root page of ``table``, as a failing disk or program might
    (read-only first, so that a write-ahead log stays as it is)."""
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        page = conn.execute(
            f"SELECT rootpage FROM sqlite_master WHERE name = '{table}'"
        ).fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    data = bytearray(path.read_bytes())
    data[(page - 1) * size : page * size] = random.Random(seed).randbytes(size)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("left_open", [False, True], ids=["closed", "killed"])
def test_damaged_database_is_refused_untouched(db, left_open):
    """A page no call of the session reads (training runs): opening used to succeed and
    then commit boxes into the damaged file."""
    if left_open:  # a process killed with changes still in the write-ahead log
        subprocess.run(
            [sys.executable, "-c", KILLED_WITH_A_BOX, str(db)],
            cwd=ROOT,
            check=True,
        )
        assert (db.parent / f"{db.name}-wal").stat().st_size > 0
    overwrite_page(db, "training_run")
    files = {p.name: digest(p) for p in db.parent.iterdir()}
    with pytest.raises(StoreError) as info, Project.open(db) as project:
        project.box_records.add_box(project.image_by_path("a.jpg").id, "cat", (5, 6, 7, 8))
    message = str(info.value)
    assert message.startswith(f"{db}: project database is damaged (SQLite's quick_check: ")
    assert message.endswith("); restore it from a backup.")
    assert {p.name: digest(p) for p in db.parent.iterdir()} == files


KILLED_WITH_A_BOX = """
import os, sys
from core.store import Project
project = Project.open(sys.argv[1])
project.box_records.add_box(project.image_by_path("a.jpg").id, "dog", (2, 3, 4, 5))
os._exit(0)
"""


def test_older_database_is_backed_up_then_upgraded(db, folder):
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    engine.dispose()
    assert sql(db, "SELECT count(*) FROM alembic_version") == [(0,)]
    downgraded = sql(db, "SELECT name FROM sqlite_master WHERE type = 'table'")

    with Project.open(db, folder) as project:  # the downgrade also dropped the settings
        project.register_images(["b.jpg"])
        assert project.count_images() == 1
    assert sql(db, "SELECT version_num FROM alembic_version") == [(head_revision(),)]
    (saved,) = backups(db)
    assert saved.name.startswith("project.db.backup-base-")
    assert sql(saved, "SELECT name FROM sqlite_master WHERE type = 'table'") == downgraded
    with Project.open(db) as project:  # reopening at head makes no further backup
        assert project.root == folder.resolve()
    assert len(backups(db)) == 1


def test_backup_includes_changes_still_in_the_write_ahead_log(db):
    with Project.open(db) as project:
        iid = project.image_by_path("a.jpg").id
        project.box_records.add_box(iid, "dog", (5, 5, 9, 9))
        assert (db.parent / f"{db.name}-wal").stat().st_size > 0
        saved = backup(db, "0001")
        again = backup(db, "0001")
    assert saved != again and saved.name.startswith("project.db.backup-0001-")
    assert sql(saved, "SELECT count(*) FROM box") == [(2,)]
    assert sql(saved, "PRAGMA integrity_check") == [("ok",)]


# --- locks -------------------------------------------------------------------------------------


def test_locked_database_gives_a_clear_error_and_loses_nothing(db, folder):
    project = Project.open(db, busy_timeout=0.2)
    iid = project.image_by_path("a.jpg").id
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked by another program") as info:
            project.box_records.add_box(iid, "cat", (0, 0, 9, 9))
        assert str(db) in str(info.value)
        assert len(project.box_records.boxes(iid)) == 1  # reading still works in WAL mode
    finally:
        other.execute("ROLLBACK")
        other.close()
    project.box_records.add_box(iid, "cat", (0, 0, 9, 9))
    assert [b.box for b in project.box_records.boxes(iid)] == [(1, 2, 3, 4), (0, 0, 9, 9)]
    project.close()


def test_migration_waiting_for_a_lock_fails_cleanly(db, folder):
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    engine.dispose()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            Project.open(db, folder, busy_timeout=0.2)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert backups(db) == []
    with Project.open(db, folder) as project:
        assert project.count_images() == 0


# --- full disk ---------------------------------------------------------------------------------


def test_full_disk_rolls_back_and_keeps_earlier_data(db):
    pages = sql(db, "PRAGMA page_count")[0][0]
    project = Project.open(db, pragmas={"max_page_count": pages + 6})
    iid = project.image_by_path("a.jpg").id
    added = []
    with pytest.raises(StoreError, match="disk is full") as info:
        for _ in range(5000):
            added.append(project.box_records.add_box(iid, "cat", (0, 0, 5, 5), method="m" * 1000))
    assert str(db) in str(info.value)
    assert len(added) > 0
    assert [b.id for b in project.box_records.boxes(iid)][1:] == added
    project.close()
    assert sql(db, "PRAGMA integrity_check") == [("ok",)]
    with Project.open(db) as project:  # room again: nothing lost, writing works
        assert [b.id for b in project.box_records.boxes(iid)][1:] == added
        assert len(project.box_records.events()) == len(added) + 1
        project.box_records.add_box(iid, "cat", (0, 0, 5, 5))


# --- killed process ----------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killed_writer_loses_no_committed_box(db):
    rng = random.Random(7)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    for _ in range(5):
        child = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "helpers" / "crash_child.py"), str(db)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None
        first = [child.stdout.readline() for _ in range(rng.randint(1, 25))]
        assert all(first), "the child stopped before it was killed"
        time.sleep(rng.uniform(0, 0.02))
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=10)
        assert child.returncode == -signal.SIGKILL
        printed = [int(n) for n in b"".join([*first, rest]).split()]
        assert sql(db, "PRAGMA integrity_check") == [("ok",)]
        with Project.open(db) as project:
            states = {
                b.id: b.state for b in project.box_records.boxes(project.image_by_path("a.jpg").id)
            }
        assert all(states.get(box_id) == "accepted" for box_id in printed)
