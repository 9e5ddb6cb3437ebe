"""A project in a PostgreSQL database: opening by URL, errors in one sentence, the shared
image folder, the write lock that queues writers as SQLite does, and the schema."""

from __future__ import annotations

import sys
import threading
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from core.store import Project, StoreError
from core.store.database import WRITE_LOCK, target
from core.store.migrate import head_revision
from core.store.models import Base


@pytest.fixture
def server(postgres_server):
    return postgres_server


@pytest.fixture
def url(server):
    return server.clean_database()


# --- naming a database -------------------------------------------------------------------------


def test_urls_name_sqlite_files_and_postgresql_databases(tmp_path):
    assert target(tmp_path / "p.db").file == tmp_path / "p.db"
    assert target(f"sqlite:///{tmp_path}/p.db").file == tmp_path / "p.db"
    where = target("postgresql://ann:secret@db.lab:5433/salibox")
    assert where.is_server and where.url.drivername == "postgresql+psycopg"
    assert "secret" not in where.name and where.name.endswith("@db.lab:5433/salibox")
    assert where.location == "postgresql+psycopg://ann:secret@db.lab:5433/salibox"
    for bad, says in [
        ("mysql://u@h/db", "not in mysql"),
        ("postgresql+psycopg2://u@h/db", "psycopg 3"),
        ("postgresql+psycopg://u@h", "names no database"),
        ("sqlite://", "needs a file"),
    ]:
        with pytest.raises(StoreError, match=says):
            target(bad)


def test_a_project_opens_by_sqlite_url(tmp_path, folder):
    with Project.open(f"sqlite:///{tmp_path}/p.db", folder) as project:
        assert project.db_path == tmp_path / "p.db" and not project.is_server


# --- opening a server database -----------------------------------------------------------------


def test_create_and_reopen_by_url_with_each_annotators_mount(server, url, folder, tmp_path):
    with Project.open(url, folder) as project:
        assert project.is_server and project.location == url
        assert project.root == folder.resolve()
        assert project.data_folder == folder.resolve() / ".salibox"
        project.register_images(["a.jpg", "sub/b.jpg"])
        with pytest.raises(StoreError, match="not a file"):
            project.db_path  # noqa: B018
    mount = tmp_path / "my mount"
    mount.mkdir()
    with Project.open(url, mount) as other:  # another annotator's mount of the same folder
        assert other.root == mount.resolve() and other.data_folder == mount.resolve() / ".salibox"
        assert [i.path for i in other.images()] == ["a.jpg", "sub/b.jpg"]
    with Project.open(url) as again:  # the folder it was created with
        assert again.root == folder.resolve()


def test_an_empty_database_needs_the_image_folder(server, folder):
    empty = server.empty_database()
    with pytest.raises(StoreError, match="give the image folder"):
        Project.open(empty)
    with Project.open(empty, folder) as project:
        assert project.count_images() == 0


def test_the_stored_folder_must_exist_here_when_none_is_given(server, url, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    Project.open(url, gone).close()
    gone.rmdir()
    with pytest.raises(StoreError, match="not on this machine; give your mount"):
        Project.open(url)


def test_a_database_of_another_program_is_refused_untouched(server, folder):
    other = server.empty_database()
    with Project.open(other, folder) as project, project.engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    with pytest.raises(StoreError, match="PostgreSQL database of another program"):
        Project.open(other, folder)


def test_server_errors_say_what_is_wrong(server, url, folder):
    host = f"{server.host}:{server.port}"
    cases = {
        f"postgresql+psycopg://{server.user}@{server.host}:1/x": "cannot be reached",
        f"postgresql+psycopg://{server.user}@{host}/no_such_db": "does not exist on the server",
        f"postgresql+psycopg://nobody@{host}/salibox_test": "authentication failed",
    }
    for bad, says in cases.items():
        with pytest.raises(StoreError, match=says) as info:
            Project.open(bad, folder, busy_timeout=2)
        assert str(info.value).startswith("postgresql+psycopg://")


def test_models_and_migrations_agree_on_postgresql(url, folder):
    with Project.open(url, folder) as project, project.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == head_revision()
        assert compare_metadata(context, Base.metadata) == []


# --- one writer at a time ----------------------------------------------------------------------


def test_a_writer_waits_for_another_then_fails_cleanly(url, folder):
    with Project.open(url, folder, busy_timeout=0.5) as project:
        image = project.register_images(["a.jpg"])
        holder = project.engine.connect()
        try:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": WRITE_LOCK})
            start = time.monotonic()
            with pytest.raises(StoreError, match=r"locked by another SaliBox .*0\.5 s"):
                project.set_setting("theme", "dark")
            assert time.monotonic() - start >= 0.4
            assert project.count_images() == image  # readers are not blocked
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": WRITE_LOCK})
            holder.close()
        project.set_setting("theme", "dark")
        assert project.setting("theme") == "dark"


def test_two_projects_writing_at_once_lose_nothing(url, folder):
    """Two connections of two Project objects: each read-then-write step (a new class goes
    last in the order, register counts what it added) sees no other writer midway."""
    first = Project.open(url, folder)
    second = Project.open(url, folder)
    added: dict[str, int] = {}
    try:

        def work(project: Project, tag: str) -> None:
            added[tag] = project.register_images(f"{tag}/{i}.jpg" for i in range(30))
            added[tag] += project.register_images(f"shared/{i}.jpg" for i in range(30))
            for i in range(15):
                project.class_records.ensure_class(f"{tag}-{i}")

        threads = [
            threading.Thread(target=work, args=(p, t)) for p, t in ((first, "a"), (second, "b"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert added["a"] + added["b"] == first.count_images() == 90
        with first.engine.connect() as conn:
            positions = conn.execute(text("SELECT position FROM label_class")).scalars().all()
        assert sorted(positions) == list(range(30))
    finally:
        first.close()
        second.close()


def test_without_psycopg_a_server_project_says_what_to_install(monkeypatch, folder):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(StoreError, match=r"salibox\[postgres\]"):
        Project.open("postgresql+psycopg://u@localhost/salibox", folder)


def test_a_dropped_connection_fails_one_call_cleanly_and_the_next_reconnects(url, folder):
    with Project.open(url, folder) as project:
        project.register_images(["a.jpg"])
        with (
            pytest.raises(StoreError, match=r"lost its connection.*not saved"),
            project._sessions.transaction(write=True) as s,
        ):
            s.execute(text("INSERT INTO setting VALUES ('theme', 'dark')"))
            s.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        assert project.setting("theme") is None  # rolled back with the connection
        project.set_setting("theme", "light")  # a new connection from the pool
        assert project.setting("theme") == "light" and project.count_images() == 1
        with project.engine.connect() as admin:  # every pooled connection dropped at once
            admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        assert project.count_images() == 1  # pre-ping replaces a dead connection
