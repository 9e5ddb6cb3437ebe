"""Short transactions on one project database, shared by the project's records.

Every store call is one transaction with its own session, so the GUI thread and a worker
thread can both use one project. :class:`Sessions` owns the SQLAlchemy engine; the
project and each of its records (:mod:`core.store.box_records`,
:mod:`core.store.class_records`, :mod:`core.store.learning_records`) hold the same
:class:`Sessions` and nothing else of each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.store.database import WRITE, StoreError, Target, store_errors


class Sessions:
    """Transactions on ``engine``, whose database is ``where`` (an SQLite file or a server).

    ``busy_timeout`` (seconds) is how long a call waits for a lock another program holds;
    a write transaction takes the write lock at its start (SQLite's, or SaliBox's advisory
    lock on PostgreSQL: see :mod:`core.store.database`). ``data_folder`` is where files
    beside the database go (model versions): the SQLite file's folder, or for a server
    database ``<image folder>/.salibox``, set once the image folder is known. ``user`` is
    the app's user name: each session carries it in ``session.info["user"]``, and what
    logs an event or changes a box writes it (:mod:`core.store.boxes`).
    """

    def __init__(self, engine: Engine, where: Target, busy_timeout: float, user: str) -> None:
        self._engine: Engine | None = engine
        self._makers = {
            False: sessionmaker(engine, expire_on_commit=False),
            True: sessionmaker(engine.execution_options(**{WRITE: True}), expire_on_commit=False),
        }
        self.where = where
        self.busy_timeout = busy_timeout
        self.user = user
        self.data_folder: Path | None = None if where.file is None else where.file.parent

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Session]:
        """One transaction: committed on leaving, rolled back on an exception.

        Raises:
            StoreError: the project is closed, or the database failed (locked, full,
                damaged, server unreachable).
        """
        if self._engine is None:
            raise StoreError(f"{self.where.name}: project is closed.")
        with store_errors(self.where, self.busy_timeout), self._makers[write].begin() as s:
            s.info["user"] = self.user
            yield s

    @property
    def engine(self) -> Engine:
        """The open engine (for per-connection checks).

        Raises:
            StoreError: the project is closed.
        """
        if self._engine is None:
            raise StoreError(f"{self.where.name}: project is closed.")
        return self._engine

    def close(self) -> None:
        """Close all connections; SQLite then folds its write-ahead log into the file."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def closed(self) -> bool:
        return self._engine is None
