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

from core.store.database import WRITE, StoreError, sqlite_errors


class Sessions:
    """Transactions on ``engine``, whose database file is ``db_path``.

    ``busy_timeout`` (seconds) is how long a call waits for a lock another program holds;
    a write transaction takes SQLite's write lock at its start.
    """

    def __init__(self, engine: Engine, db_path: Path, busy_timeout: float) -> None:
        self._engine: Engine | None = engine
        self._makers = {
            False: sessionmaker(engine, expire_on_commit=False),
            True: sessionmaker(engine.execution_options(**{WRITE: True}), expire_on_commit=False),
        }
        self.db_path = db_path
        self.busy_timeout = busy_timeout

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Session]:
        """One transaction: committed on leaving, rolled back on an exception.

        Raises:
            StoreError: the project is closed, or SQLite failed (locked, full, damaged).
        """
        if self._engine is None:
            raise StoreError(f"{self.db_path}: project is closed.")
        with sqlite_errors(self.db_path, self.busy_timeout), self._makers[write].begin() as s:
            yield s

    @property
    def engine(self) -> Engine:
        """The open engine (for per-connection checks).

        Raises:
            StoreError: the project is closed.
        """
        if self._engine is None:
            raise StoreError(f"{self.db_path}: project is closed.")
        return self._engine

    def close(self) -> None:
        """Close all connections; SQLite then folds its write-ahead log into the file."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def closed(self) -> bool:
        return self._engine is None
