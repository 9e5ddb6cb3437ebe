"""Bringing a project database to the schema of this SaliBox with Alembic, safely.

Before an SQLite database that already holds data is upgraded, it is copied with SQLite's
backup API to ``<db>.backup-<old revision>-<UTC timestamp>``. A PostgreSQL database is not
copied (that is the server administrator's ``pg_dump``); its upgrade runs in one
transaction under the write lock, so a failed step leaves it as it was. A database stamped
with a revision this SaliBox does not know was written by a newer version and is refused
untouched.
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

from core.store.database import WRITE, StoreError, Target, set_wal

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


def _check(connection: Connection, where: Target) -> str | None:
    """The current revision, after refusing databases from a newer SaliBox or other programs."""
    current = current_revision(connection)
    if current is not None and current not in {r.revision for r in _script().walk_revisions()}:
        raise StoreError(
            f"{where.name}: project database was written by a newer SaliBox (schema revision "
            f"{current!r}); update SaliBox to open it."
        )
    if current is None and set(inspect(connection).get_table_names()) - {"alembic_version"}:
        kind = "a PostgreSQL database" if where.is_server else "an SQLite file"
        raise StoreError(f"{where.name}: is {kind} of another program, not a SaliBox project.")
    return current


def revision_of(engine: Engine, where: Target) -> str | None:
    """The checked revision of the database (None: no SaliBox schema yet)."""
    with engine.connect() as connection:
        return _check(connection, where)


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


def prepare(engine: Engine, where: Target | Path, had_data: bool) -> Path | None:
    """Check the database, switch an SQLite file to WAL and bring it to head.

    Returns the backup made before migrating, if any.

    Args:
        engine: the project engine (see :func:`core.store.database.make_engine` and
            :func:`~core.store.database.make_server_engine`).
        where: the database (an SQLite file's path, or a :class:`Target`), for messages
            and the backup.
        had_data: the file existed and was not empty before it was opened; only then is a
            backup made (never for a server database: see the module docstring).

    Raises:
        StoreError: the database comes from a newer SaliBox or another program (nothing is
            written then).
    """
    if isinstance(where, Path):
        where = Target(engine.url, where)
    head = head_revision()
    at_head = revision_of(engine, where) == head
    if where.file is not None:
        set_wal(engine)
    if at_head:
        return None
    # Migrate under the write lock, checking again: another SaliBox may have done it.
    with engine.connect().execution_options(**{WRITE: True}) as connection, connection.begin():
        current = _check(connection, where)
        if current == head:
            return None
        saved = backup(where.file, current) if had_data and where.file is not None else None
        command.upgrade(alembic_config(connection), "head")
    return saved
