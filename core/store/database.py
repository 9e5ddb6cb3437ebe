"""The engine of a project database and the translation of its failures into StoreError.

A project lives in an SQLite file (the default, no server) or in a PostgreSQL database
named by URL (``postgresql+psycopg://user@host/db``, psycopg 3, the ``postgres`` extra);
:func:`target` tells which. Both keep one writer at a time, as SQLite does:

- SQLite: every connection runs with ``foreign_keys=ON``, ``synchronous=FULL`` (a
  committed change is on disk when the call returns) and a busy timeout. Transactions are
  begun explicitly: ``BEGIN IMMEDIATE`` for writes, so a writer waits for the write lock up
  front instead of failing when a read transaction tries to become a write transaction,
  and ``BEGIN`` for reads.
- PostgreSQL (:func:`make_server_engine`): a write transaction runs at READ COMMITTED and
  first takes a transaction-level advisory lock (:data:`WRITE_LOCK`) that every SaliBox
  writer of that database takes, waiting at most the busy timeout (``lock_timeout``). So
  writers queue as on SQLite, and the read-then-write steps of the store (a new class at
  the end of the order, counting new images, ``merge`` of a setting) see no other
  writer's change midway, without serialization failures to retry. Read transactions run
  at REPEATABLE READ: one snapshot, as an SQLite read transaction, never blocked by
  writers. Commits are durable (the server's ``synchronous_commit`` default).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    create_engine,
    event,
    func,
    make_url,
    select,
)
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session

#: Seconds a call waits for another program's lock before failing.
DEFAULT_BUSY_TIMEOUT = 5.0

#: Execution option that makes a connection begin its transactions with ``BEGIN IMMEDIATE``.
WRITE = "salibox_write"

_PRAGMA_VALUE = re.compile(r"^-?\w+$")

#: The key of the PostgreSQL advisory lock every write transaction holds (per database):
#: "SaliBox" in ASCII.
WRITE_LOCK = 0x53616C69426F78

#: What to install for PostgreSQL projects.
POSTGRES_EXTRA = "pip install 'salibox[postgres]' (psycopg 3)"


class StoreError(RuntimeError):
    """A project database could not be used; the message names the file and says why."""


@dataclass(frozen=True)
class Target:
    """Where a project's database is.

    Attributes:
        url: the SQLAlchemy URL (with its password, if one was given).
        file: the SQLite file (absolute), None for a database on a server.
    """

    url: URL
    file: Path | None

    @property
    def is_server(self) -> bool:
        return self.file is None

    @property
    def name(self) -> str:
        """The file, or the URL with its password hidden: what messages and logs show."""
        return str(self.file) if self.file is not None else self.url.render_as_string(True)

    @property
    def location(self) -> str:
        """What :func:`target` takes back to name the same database (password included)."""
        return str(self.file) if self.file is not None else self.url.render_as_string(False)


def is_url(db: str | Path) -> bool:
    """Whether ``db`` names a database by URL (``scheme://...``) rather than a file."""
    return isinstance(db, str) and re.match(r"^[A-Za-z][\w+.-]*://", db) is not None


def target(db: str | Path) -> Target:
    """The database ``db`` names: an SQLite file path, an ``sqlite:///`` URL or a
    PostgreSQL URL (``postgresql://`` means psycopg 3, ``postgresql+psycopg://``).

    Raises:
        StoreError: a URL that cannot be read, of another database or driver, or without
            a database name.
    """
    if not is_url(db):
        file = Path(db).expanduser().resolve()
        return Target(URL.create("sqlite", database=str(file)), file)
    try:
        url = make_url(str(db))
    except ArgumentError as exc:
        raise StoreError(f"{db}: is not a database URL ({exc}).") from None
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise StoreError(f"{db}: an SQLite URL needs a file (sqlite:///path/project.db).")
        return target(Path(url.database))
    if backend != "postgresql":
        raise StoreError(
            f"{url.render_as_string(True)}: SaliBox keeps projects in SQLite files or in "
            f"PostgreSQL (postgresql+psycopg://user@host/database), not in {backend}."
        )
    if "+" not in url.drivername:
        url = url.set(drivername="postgresql+psycopg")
    elif driver != "psycopg":
        raise StoreError(
            f"{url.render_as_string(True)}: SaliBox talks to PostgreSQL through psycopg 3; "
            "write postgresql+psycopg://."
        )
    if not url.database:
        raise StoreError(f"{url.render_as_string(True)}: the URL names no database.")
    return Target(url, None)


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


def make_server_engine(url: URL, busy_timeout: float) -> Engine:
    """An engine on a PostgreSQL database with SaliBox's transaction settings (module
    docstring): writers take :data:`WRITE_LOCK`, waiting at most ``busy_timeout`` seconds
    for it and for any row lock; readers see one snapshot.

    Raises:
        StoreError: psycopg 3 is not installed.
    """
    try:
        engine = create_engine(
            url,
            pool_pre_ping=True,  # a connection the server dropped is replaced, not an error
            connect_args={
                "connect_timeout": max(1, round(busy_timeout)),
                "application_name": "salibox",
            },
        )
    except ModuleNotFoundError as exc:
        raise StoreError(
            f"{url.render_as_string(True)}: PostgreSQL projects need psycopg 3 "
            f"({exc.name} is missing): {POSTGRES_EXTRA}."
        ) from None
    timeout_ms = max(1, round(busy_timeout * 1000))

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # The first statements of the transaction (psycopg sends BEGIN before them).
        if connection.get_execution_options().get(WRITE, False):
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {timeout_ms}")
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
        else:
            connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")

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


#: One sentence per PostgreSQL error class (SQLSTATE), for :func:`_describe_server`.
_SERVER_MESSAGES = {
    "28P01": "refused the user name or password (authentication failed); check the URL, "
    "~/.pgpass or PGPASSWORD",
    "28000": "refused the connection (authentication failed: not allowed for this user or "
    "host in pg_hba.conf)",
    "3D000": "does not exist on the server; create it first (createdb NAME, or CREATE "
    "DATABASE NAME as an administrator)",
    "42501": "refused the change: the user lacks the privilege; the last change was not saved",
    "53100": "could not be written because the server's disk is full; "
    "the last change was not saved",
    "53300": "refused the connection: the server has too many connections",
    "57P01": "lost its connection: the server ended it (shut down, or an administrator's "
    "command); the last change was not saved",
    "57P03": "is starting up or shutting down; retry in a moment",
    "40001": "conflicted with another annotator's change; the last change was not saved, retry",
    "40P01": "conflicted with another annotator's change; the last change was not saved, retry",
}


def _describe_server(exc: DBAPIError, name: str, busy_timeout: float) -> StoreError:
    """A StoreError with one sentence for a PostgreSQL (psycopg) failure."""
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or ""
    text = str(orig).strip()
    first = text.splitlines()[0] if text else type(orig).__name__
    if state == "55P03":  # lock_not_available: lock_timeout ran out
        message = f"is locked by another SaliBox writing to it (waited {busy_timeout:g} s); retry"
    elif state in _SERVER_MESSAGES:
        message = _SERVER_MESSAGES[state]
    elif "password authentication failed" in text or "no password supplied" in text:
        message = _SERVER_MESSAGES["28P01"]
    elif re.search(r'role "[^"]*" does not exist', text):
        message = (
            "refused the user name (authentication failed: the server has no such role); "
            "check the user in the URL"
        )
    elif "does not exist" in text and "database" in text:
        message = _SERVER_MESSAGES["3D000"]
    elif "connection" in text and any(
        words in text
        for words in ("refused", "timeout", "timed out", "translate host", "resolve", "No route")
    ):
        message = (
            f"cannot be reached: no PostgreSQL server answers there ({first}); check the host "
            "and port and that the server runs"
        )
    elif exc.connection_invalidated or "server closed the connection" in text:
        message = f"lost its connection to the server ({first}); the last change was not saved"
    else:
        message = f"failed: {first}"
    return StoreError(f"{name}: project database {message}.")


@contextmanager
def sqlite_errors(db_path: Path, busy_timeout: float) -> Iterator[None]:
    """Turn SQLite failures inside the block into :class:`StoreError`."""
    try:
        yield
    except (sqlite3.Error, DBAPIError) as exc:
        raise _describe(exc, db_path, busy_timeout) from exc


@contextmanager
def store_errors(where: Target, busy_timeout: float) -> Iterator[None]:
    """Turn database failures inside the block into :class:`StoreError` (SQLite or
    PostgreSQL, by ``where``)."""
    if where.file is not None:
        with sqlite_errors(where.file, busy_timeout):
            yield
        return
    try:
        yield
    except DBAPIError as exc:
        raise _describe_server(exc, where.name, busy_timeout) from exc


def database_now(s: Session) -> datetime:
    """The current time as aware UTC, from the server's clock for PostgreSQL (all
    annotators then share one clock: leases of claims and trainings), else this machine's."""
    if s.get_bind().dialect.name == "postgresql":
        now = s.scalar(select(func.timezone("UTC", func.clock_timestamp())))
        assert now is not None
        return now.replace(tzinfo=UTC)
    return datetime.now(UTC)
