"""The SQLite engine of a project and the translation of SQLite failures into StoreError.

Every connection runs with ``foreign_keys=ON``, ``synchronous=FULL`` (a committed change
is on disk when the call returns) and a busy timeout. Transactions are begun explicitly:
``BEGIN IMMEDIATE`` for writes, so a writer waits for the write lock up front instead of
failing when a read transaction tries to become a write transaction, and ``BEGIN`` for reads.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError

#: Seconds a call waits for another program's lock before failing.
DEFAULT_BUSY_TIMEOUT = 5.0

#: Execution option that makes a connection begin its transactions with ``BEGIN IMMEDIATE``.
WRITE = "salibox_write"

_PRAGMA_VALUE = re.compile(r"^-?\w+$")


class StoreError(RuntimeError):
    """A project database could not be used; the message names the file and says why."""


def make_engine(
    db_path: Path, busy_timeout: float, pragmas: Mapping[str, int | str] | None = None
) -> Engine:
    """An engine on ``db_path`` with SaliBox's connection settings.

    Args:
        db_path: the SQLite file (created on first connection).
        busy_timeout: seconds to wait for a lock held by another connection.
        pragmas: extra ``PRAGMA name = value`` run on every new connection after the
            standard ones (tests use ``max_page_count`` to simulate a full disk).
    """
    settings: dict[str, int | str] = {
        "foreign_keys": "ON",
        "synchronous": "FULL",
        "busy_timeout": round(busy_timeout * 1000),
        **(pragmas or {}),
    }
    for name, value in settings.items():
        if not name.isidentifier() or not _PRAGMA_VALUE.match(str(value)):
            raise ValueError(f"bad pragma {name} = {value!r}")
    engine = create_engine(
        URL.create("sqlite", database=str(db_path)),
        connect_args={"timeout": busy_timeout, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # no implicit BEGIN: see _begin
        for name, value in settings.items():
            dbapi_connection.execute(f"PRAGMA {name} = {value}")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def set_wal(engine: Engine) -> None:
    """Switch the database file to write-ahead logging (persistent, outside a transaction)."""
    connection = engine.raw_connection()
    try:
        driver = connection.driver_connection
        assert driver is not None  # a raw connection holds its DB-API connection
        mode = driver.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    finally:
        connection.close()
    if mode != "wal":
        raise sqlite3.OperationalError(f"journal mode stayed {mode!r}")


def check_intact(db_path: Path, busy_timeout: float) -> None:
    """Refuse a damaged database before anything is written to it.

    Runs SQLite's ``PRAGMA quick_check`` (the structure of every page, not the contents of
    indexes against their tables; 0.05 s on the 27 MB file of 100,000 images, 0.3 s when
    it is not in the disk cache) on a connection that writes nothing. When a write-ahead
    log is beside the file (a process did not close it, or still has it open) the
    connection is read-only, so that closing it does not fold the log into the file.

    Raises:
        StoreError: the check found damage.
        sqlite3.Error: the file could not be read (for :func:`sqlite_errors`).
    """
    wal = db_path.with_name(f"{db_path.name}-wal")
    mode = "ro" if wal.exists() else "rw"
    connection = sqlite3.connect(
        f"{db_path.as_uri()}?mode={mode}", uri=True, timeout=busy_timeout, isolation_level=None
    )
    try:
        connection.execute("PRAGMA query_only = ON")
        problems = [row[0] for row in connection.execute("PRAGMA quick_check(1)")]
    finally:
        connection.close()
    if problems != ["ok"]:
        raise StoreError(
            f"{db_path}: project database is damaged (SQLite's quick_check: "
            f"{problems[0].splitlines()[-1]}); restore it from a backup."
        )


def _describe(exc: sqlite3.Error | DBAPIError, db_path: Path, busy_timeout: float) -> StoreError:
    """A StoreError with one sentence for an SQLite failure on ``db_path``."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    code = getattr(orig, "sqlite_errorcode", 0) & 0xFF
    locked = f"is locked by another program (waited {busy_timeout:g} s); close it there and retry"
    messages = {  # by primary SQLite result code
        5: locked,  # SQLITE_BUSY
        6: locked,  # SQLITE_LOCKED
        8: "cannot be written (read-only file or folder); the last change was not saved",
        10: f"could not be read or written (disk or file-system error: {orig}); "
        "the last change was not saved",
        11: "is damaged (SQLite reports corruption); restore it from a backup",
        13: "could not be written because the disk is full; the last change was not saved",
        14: "cannot be opened (missing folder or no permission)",
        26: "is not a SaliBox project database (not an SQLite file)",
    }
    return StoreError(f"{db_path}: project database {messages.get(code, f'failed: {orig}')}.")


@contextmanager
def sqlite_errors(db_path: Path, busy_timeout: float) -> Iterator[None]:
    """Turn SQLite failures inside the block into :class:`StoreError`."""
    try:
        yield
    except (sqlite3.Error, DBAPIError) as exc:
        raise _describe(exc, db_path, busy_timeout) from exc
