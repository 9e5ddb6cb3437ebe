"""Bringing a project database to the schema of this SaliBox with Alembic, safely.

Before a database that already holds data is upgraded, it is copied with SQLite's backup
API to ``<db>.backup-<old revision>-<UTC timestamp>``. A database stamped with a revision
this SaliBox does not know was written by a newer version and is refused untouched.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from core.store.database import WRITE, StoreError, set_wal

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the migrations folder, without an alembic.ini.

    ``connection`` is handed to ``migrations/env.py``; its open transaction (if any) also
    covers the migration.
    """
    config = Config()
    # ConfigParser interpolation: a literal "%" in the path must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this SaliBox knows."""
    head = _script().get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision stamped in the database, None for a database never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def _check(connection: Connection, db_path: Path) -> str | None:
    """The current revision, after refusing databases from a newer SaliBox or other programs."""
    current = current_revision(connection)
    if current is not None and current not in {r.revision for r in _script().walk_revisions()}:
        raise StoreError(
            f"{db_path}: project database was written by a newer SaliBox (schema revision "
            f"{current!r}); update SaliBox to open it."
        )
    if current is None and set(inspect(connection).get_table_names()) - {"alembic_version"}:
        raise StoreError(f"{db_path}: is an SQLite file of another program, not a SaliBox project.")
    return current


def backup(db_path: Path, revision: str | None) -> Path:
    """Copy ``db_path`` (including its write-ahead log) to a new backup file beside it."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    stem = f"{db_path.name}.backup-{revision or 'base'}-{stamp}"
    target, n = db_path.with_name(stem), 1
    while target.exists():
        n += 1
        target = db_path.with_name(f"{stem}-{n}")
    source, copy = sqlite3.connect(db_path), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
    return target


def prepare(engine: Engine, db_path: Path, had_data: bool) -> Path | None:
    """Check the database, switch it to WAL and bring it to head.

    Returns the backup made before migrating, if any.

    Args:
        engine: the project engine (see :func:`core.store.database.make_engine`).
        db_path: its file, for messages and the backup.
        had_data: the file existed and was not empty before it was opened; only then is a
            backup made.

    Raises:
        StoreError: the database comes from a newer SaliBox or another program (nothing is
            written then).
    """
    head = head_revision()
    with engine.connect() as connection:
        at_head = _check(connection, db_path) == head
    set_wal(engine)
    if at_head:
        return None
    # Migrate under the write lock, checking again: another SaliBox may have done it.
    with engine.connect().execution_options(**{WRITE: True}) as connection, connection.begin():
        current = _check(connection, db_path)
        if current == head:
            return None
        saved = backup(db_path, current) if had_data else None
        command.upgrade(alembic_config(connection), "head")
    return saved
