"""A throw-away PostgreSQL server for the tests, started with pytest-postgresql's executor.

One server per test session (:func:`start_server`) with a database already migrated to
head; each test gets it emptied (:meth:`Server.clean_database`: ``TRUNCATE ... RESTART
IDENTITY``, 0.06 s, against 0.25 s to copy a database). A test that needs a database of its
own (empty, or to migrate) takes :meth:`Server.new_database` or :meth:`Server.empty_database`.

The server binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/<ver>/bin``)
or whatever ``pg_ctl`` is on PATH or under ``pg_config --bindir``; ``SALIBOX_PG_CTL`` names one
explicitly. Without them :func:`missing` gives the reason the PostgreSQL tests skip.

PostgreSQL's ``initdb`` refuses to run as root, and CI runs as root: then the server runs as
the ``postgres`` user (which Debian's package creates) through ``setpriv``, in a data folder
that user owns.
"""

from __future__ import annotations

import getpass
import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The database every test database is copied from, migrated to head once per session.
TEMPLATE = "salibox_template"
#: The database the tests share, emptied before each.
SHARED = "salibox_test"
#: Who runs the server when the tests run as root.
SERVER_USER = "postgres"
#: Durability off: a test server loses nothing that matters when it crashes.
FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"


def find_pg_ctl() -> str | None:
    """The ``pg_ctl`` of an installed PostgreSQL server, newest version first, or None."""
    candidates = [os.environ.get("SALIBOX_PG_CTL"), shutil.which("pg_ctl")]
    try:
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        candidates.append(str(Path(bindir) / "pg_ctl"))
    except (OSError, subprocess.SubprocessError):
        pass
    versions = glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
    candidates += sorted(versions, key=lambda p: int(Path(p).parts[-3]), reverse=True)
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            initdb = Path(candidate).resolve().with_name("initdb")
            if initdb.exists():
                return str(Path(candidate).resolve())
    return None


def missing() -> str | None:
    """Why the PostgreSQL tests cannot run here (None: they can)."""
    try:
        import psycopg  # noqa: F401
        import pytest_postgresql  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed: pip install -e '.[dev]' (psycopg, pytest-postgresql)"
    if find_pg_ctl() is None:
        return (
            "PostgreSQL server binaries (pg_ctl, initdb) not found: install Debian's "
            "`postgresql` package (apt-get install postgresql) or set SALIBOX_PG_CTL"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root needs a {SERVER_USER!r} user to run the server as"
    return None


def _as_server_user(pg_ctl: str, folder: Path) -> tuple[str, Path]:
    """A ``pg_ctl`` that runs as :data:`SERVER_USER` and a data folder that user owns."""
    user = pwd.getpwnam(SERVER_USER)
    wrapper = folder / "pg_ctl"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec setpriv --reuid={user.pw_uid} --regid={user.pw_gid} --init-groups "
        f'"{pg_ctl}" "$@"\n'
    )
    wrapper.chmod(0o755)
    data = folder / "server"
    data.mkdir()
    os.chown(data, user.pw_uid, user.pw_gid)
    folder.chmod(0o755)  # the server user reaches its data folder and log
    return str(wrapper), data


@dataclass
class Server:
    """A running server; :meth:`new_database` hands out fresh databases at head."""

    executor: object
    host: str
    port: int
    user: str
    folder: Path
    _names: itertools.count = field(default_factory=itertools.count)

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as connection:
            connection.execute(statement)

    def wait_ready(self, seconds: float = 60.0) -> None:
        """Wait until the server accepts connections (its port opens before that)."""
        import psycopg

        deadline = time.monotonic() + seconds
        while True:
            try:
                self._admin("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def clean_database(self) -> str:
        """The shared database at head with every SaliBox table emptied and its ids
        starting at 1 again; its SQLAlchemy URL."""
        import psycopg

        from core.store.models import Base

        tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=SHARED, autocommit=True
        ) as connection:
            connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        return self.url(SHARED)

    def new_database(self) -> str:
        """A new database at head (a copy of the template); its SQLAlchemy URL."""
        name = f"salibox_test_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def empty_database(self) -> str:
        """A new database without any table; its SQLAlchemy URL."""
        name = f"salibox_empty_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        self._admin(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")

    def stop(self) -> None:
        try:
            self.executor.stop()  # type: ignore[attr-defined]
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def start_server() -> Server:
    """Start a server on a free port with a migrated :data:`TEMPLATE` database."""
    import port_for
    from pytest_postgresql.executors import PostgreSQLExecutor

    from core.store.database import make_server_engine, target
    from core.store.migrate import prepare

    pg_ctl = find_pg_ctl()
    assert pg_ctl is not None, missing()
    folder = Path(tempfile.mkdtemp(prefix="salibox-postgres-"))
    data = folder / "server"
    user = getpass.getuser()
    if os.geteuid() == 0:
        pg_ctl, data = _as_server_user(pg_ctl, folder)
        user = SERVER_USER
    port = port_for.select_random()
    executor = PostgreSQLExecutor(
        executable=pg_ctl,
        host="127.0.0.1",
        port=port,
        datadir=str(data / "data"),
        unixsocketdir=str(data),
        logfile=str(data / "server.log"),
        startparams="-w",
        dbname=TEMPLATE,
        user=user,
        postgres_options=FAST,
    )
    server = Server(executor, "127.0.0.1", port, user, folder)
    try:
        executor.start()
        server.wait_ready()
        server._admin(f"CREATE DATABASE {TEMPLATE}")
        where = target(server.url(TEMPLATE))
        engine = make_server_engine(where.url, 5.0)
        try:
            prepare(engine, where, had_data=False)
        finally:
            engine.dispose()
        server._admin(f"CREATE DATABASE {SHARED} TEMPLATE {TEMPLATE}")
    except BaseException:
        server.stop()
        raise
    return server
