"""A SaliBox project: a folder of images and one database with their boxes and reviews.

The database is an SQLite file (the default: ``<folder>/.salibox/project.db``, no server)
or a PostgreSQL database named by URL (``postgresql+psycopg://user@host/salibox``) that
several annotators share, each with their own mount of the image folder: image paths are
relative to the folder (see :mod:`core.store.database` for how writes are serialised).

Callers get plain frozen dataclasses, never ORM objects. Every call is one transaction
with its own session, so the GUI thread and a worker thread can both use one
:class:`Project`; a call that writes has committed (and synced to disk) when it returns,
and a call that changes a box logs an :class:`~core.store.models.Event` in the same
transaction. Boxes are ``(x1, y1, x2, y2)`` in continuous pixel edges of the image as
displayed (README "Coordinates"). This module opens, closes and queries images and
settings; it holds four records that share its transactions
(:class:`~core.store.sessions.Sessions`): ``class_records``
(:mod:`core.store.class_records`), ``box_records`` (:mod:`core.store.box_records`),
``learning_records`` (:mod:`core.store.learning_records`) and ``claim_records``
(:mod:`core.store.claim_records`).

Errors: :class:`StoreError` for what a user can cause (locked, full disk, damaged or
foreign file, wrong image folder), :class:`InvalidBoxError` (a StoreError and a
ValueError) for bad coordinates, ValueError for unknown status, state, origin or sort key,
KeyError for an image or box id that does not exist.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Insert, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.exc import StaleDataError

from core.store import queries
from core.store.box_records import BoxRecords
from core.store.claim_records import ClaimRecords
from core.store.class_records import ClassRecords
from core.store.database import (
    DEFAULT_BUSY_TIMEOUT,
    StoreError,
    Target,
    check_intact,
    make_engine,
    make_server_engine,
    store_errors,
    target,
)
from core.store.learning_records import LearningRecords
from core.store.migrate import prepare, revision_of
from core.store.models import (
    STATUSES,
    Image,
    Setting,
    utc_now,
)
from core.store.rows import (
    ImageRow,
    choice,
    clean_user_name,
    login_name,
    relative_path,
)
from core.store.sessions import Sessions

#: Paths inserted per statement by :meth:`Project.register_images`.
CHUNK = 5000


class Project:
    """An open project. Create or open one with :meth:`Project.open`; close it when done.

    Attributes:
        root: the image folder (absolute); image paths are relative to it.
        where: the database (:class:`~core.store.database.Target`): its ``name`` for
            messages, its ``location`` to open it again.
        user: the user name this app writes on every event and box change
            (:meth:`set_user`; default the login name).
        class_records: the annotator's classes.
        box_records: boxes and the event log.
        learning_records: training runs, model versions, labelled boxes.
        claim_records: who reviews which image now (leases).
    """

    def __init__(
        self,
        engine: Engine,
        where: Target | Path,
        busy_timeout: float,
        user: str | None = None,
    ) -> None:
        if isinstance(where, Path):
            where = Target(engine.url, where)
        self.where = where
        self._sessions = Sessions(
            engine, where, busy_timeout, login_name() if user is None else clean_user_name(user)
        )
        self._session = self._sessions.transaction
        self.root = Path()
        self.class_records = ClassRecords(self._sessions)
        self.box_records = BoxRecords(self._sessions)
        self.learning_records = LearningRecords(self._sessions)
        self.claim_records = ClaimRecords(self._sessions)

    # --- opening and closing -----------------------------------------------------------------

    @staticmethod
    def default_db_path(image_folder: str | Path) -> Path:
        """Where a project keeps its database by default: ``<folder>/.salibox/project.db``."""
        return Path(image_folder) / ".salibox" / "project.db"

    @property
    def db_path(self) -> Path:
        """The SQLite file (absolute).

        Raises:
            StoreError: the project is in a PostgreSQL database (see :attr:`where`).
        """
        if self.where.file is None:
            raise StoreError(
                f"{self.where.name}: project is in a PostgreSQL database, not a file; "
                "use its location (project.where.location) and data_folder instead."
            )
        return self.where.file

    @property
    def user(self) -> str:
        """The user name written on every event and box change from now on."""
        return self._sessions.user

    def set_user(self, name: str) -> None:
        """Write ``name`` (stripped) as the user from now on; ValueError when it is empty,
        longer than :data:`~core.store.rows.MAX_USER_NAME` or holds a control character."""
        self._sessions.user = clean_user_name(name)

    @property
    def is_server(self) -> bool:
        """Whether the project is in a PostgreSQL database (else an SQLite file)."""
        return self.where.is_server

    @property
    def location(self) -> str:
        """What :meth:`open` takes to open this project again: the file or the URL."""
        return self.where.location

    @property
    def data_folder(self) -> Path:
        """Where files beside the database go (model versions): the SQLite file's folder,
        or ``<image folder>/.salibox`` for a PostgreSQL project, so that each annotator's
        mount of the folder finds them."""
        folder = self._sessions.data_folder
        return self.root / ".salibox" if folder is None else folder

    @classmethod
    def open(
        cls,
        db_path: str | Path,
        root: str | Path | None = None,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        pragmas: Mapping[str, int | str] | None = None,
        user: str | None = None,
    ) -> Project:
        """Open a project database, creating it (and its folder) if missing.

        Args:
            db_path: the SQLite file, or a database URL: ``postgresql+psycopg://user@host/db``
                (the database must exist; it gets SaliBox's tables when first opened with
                ``root``) or ``sqlite:///path``.
            root: the image folder. Required to create a project; when opening an SQLite
                one it must match the folder stored in it. A PostgreSQL project is shared,
                so ``root`` is this annotator's mount of the folder and may differ from the
                one stored (which is used when ``root`` is None).
            busy_timeout: seconds to wait for a lock held by another program (and, for a
                server, to connect).
            pragmas: extra SQLite ``PRAGMA`` settings for every connection (for tests).
            user: the user name written on every event and box change (default the login
                name); ValueError when it is empty or not printable.

        Opening applies pending schema migrations, after copying the file to
        ``<db>.backup-<old revision>-<timestamp>``.

        An existing file is checked with SQLite's ``PRAGMA quick_check`` first
        (:func:`~core.store.database.check_intact`): an empty, damaged or foreign file is
        refused before anything is written to it.

        Raises:
            StoreError: no such file and no root, root not a folder or not the project's,
                an empty file, a file from a newer SaliBox or another program, locked,
                damaged or unwritable; for a server: unreachable, authentication failed,
                no such database, psycopg not installed.
        """
        where = target(db_path)
        user = None if user is None else clean_user_name(user)
        root = None if root is None else Path(root).expanduser().resolve()
        if root is not None and not root.is_dir():
            raise StoreError(f"{root}: image folder does not exist.")
        if where.file is None:
            if pragmas:
                raise ValueError("pragmas are SQLite settings; a PostgreSQL project takes none")
            return cls._open_server(where, root, busy_timeout, user)
        db_path = where.file
        if db_path.is_dir():
            raise StoreError(f"{db_path}: is a folder, not a project database file.")
        if not db_path.exists():
            if root is None:
                raise StoreError(f"{db_path}: no such project database; give the image folder.")
            try:
                db_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{db_path.parent}: cannot create folder ({exc}).") from exc
        had_data = db_path.exists()
        if had_data and db_path.stat().st_size == 0:  # SaliBox writes its schema at once
            raise StoreError(
                f"{db_path}: is an empty file, not a SaliBox project (left as it is); "
                "delete it to create a new project there."
            )
        engine = make_engine(db_path, busy_timeout, pragmas)
        project = cls(engine, where, busy_timeout, user)
        try:
            with store_errors(where, busy_timeout):
                if had_data:
                    check_intact(db_path, busy_timeout)
                prepare(engine, where, had_data)
            project.root = project._check_root(root)
        except BaseException:
            project.close()
            raise
        return project

    @classmethod
    def _open_server(
        cls, where: Target, root: Path | None, busy_timeout: float, user: str | None
    ) -> Project:
        """:meth:`open` for a PostgreSQL database (which must exist)."""
        engine = make_server_engine(where.url, busy_timeout)
        project = cls(engine, where, busy_timeout, user)
        try:
            with store_errors(where, busy_timeout):
                if root is None and revision_of(engine, where) is None:
                    raise StoreError(
                        f"{where.name}: holds no SaliBox project yet; give the image folder "
                        "to create one there."
                    )
                prepare(engine, where, had_data=False)
            project.root = project._check_root(root)
            project._sessions.data_folder = project.root / ".salibox"
        except BaseException:
            project.close()
            raise
        return project

    def _check_root(self, root: Path | None) -> Path:
        name = self.where.name
        stored = self.setting("root")
        if stored is None:
            if root is None:
                raise StoreError(f"{name}: records no image folder; give the folder.")
            self.set_setting("root", str(root))
            return root
        if self.where.is_server:  # shared: each annotator has their own mount of the folder
            if root is None and not Path(stored).is_dir():
                raise StoreError(
                    f"{name}: its image folder {stored} is not on this machine; "
                    "give your mount of it."
                )
            return Path(stored) if root is None else root
        if root is not None and root != Path(stored):
            raise StoreError(f"{name}: belongs to image folder {stored}, not {root}.")
        return Path(stored)

    def close(self) -> None:
        """Close all connections; SQLite then folds its write-ahead log into the file."""
        self._sessions.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (every other call then raises StoreError)."""
        return self._sessions.closed

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for per-connection checks); StoreError once closed."""
        return self._sessions.engine

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- settings ----------------------------------------------------------------------------

    def setting(self, key: str, default: str | None = None) -> str | None:
        with self._session() as s:
            value = s.scalar(select(Setting.value).where(Setting.key == key))
        return default if value is None else value

    def set_setting(self, key: str, value: str) -> None:
        with self._session(write=True) as s:
            s.merge(Setting(key=key, value=value))

    # --- images ------------------------------------------------------------------------------

    def register_images(self, rel_paths: Iterable[str]) -> int:
        """Add images by POSIX path relative to the root; known paths are skipped.

        One transaction, inserted in chunks of :data:`CHUNK`. Returns how many were new.

        Raises:
            ValueError: an absolute path or one that leaves the root.
        """
        table = Image.__table__
        dialect_insert = postgresql_insert if self.where.is_server else sqlite_insert
        insert: Insert = dialect_insert(table).on_conflict_do_nothing(  # type: ignore[arg-type]
            index_elements=["path"]
        )
        count = select(func.count()).select_from(table)
        now, paths = utc_now(), iter(rel_paths)
        with self._session(write=True) as s:
            before = s.scalar(count) or 0
            while chunk := list(islice(paths, CHUNK)):
                s.execute(insert, [{"path": relative_path(p), "added_at": now} for p in chunk])
            return (s.scalar(count) or 0) - before

    def _update_image(self, image_id: int, **values: Any) -> None:
        with self._session(write=True) as s:
            changed = s.execute(update(Image).where(Image.id == image_id).values(**values))
            if changed.rowcount == 0:  # type: ignore[attr-defined]  # an UPDATE's CursorResult
                raise KeyError(f"no image with id {image_id}")

    def set_image_size(self, image_id: int, width: int, height: int) -> None:
        """Record the size in pixels after EXIF orientation."""
        if width < 1 or height < 1:
            raise ValueError(f"image size {width}x{height} is not positive")
        self._update_image(image_id, width=int(width), height=int(height))

    def set_status(self, image_id: int, status: str) -> None:
        self._update_image(image_id, status=choice(status, STATUSES, "status"))

    def set_scores(self, scores: Iterable[tuple[int, float | None, float | None]]) -> None:
        """Store ``(image id, image_score, confidence)`` triples in one transaction; None
        clears a value.

        Raises:
            ValueError: a value that is not a finite number.
            KeyError: an image id that does not exist (then nothing is stored).
        """
        rows = [{"id": i, "image_score": s, "confidence": c} for i, s, c in scores]
        for row in rows:
            if not all(v is None or math.isfinite(v) for v in row.values()):
                raise ValueError(f"scores of image {row['id']} are not finite numbers")
        if not rows:
            return
        try:
            with self._session(write=True) as s:
                s.execute(update(Image), rows)
        except StaleDataError as exc:
            raise KeyError("some of the image ids do not exist; no score was stored") from exc

    def _one_image(self, where: Any) -> ImageRow | None:
        with self._session() as s:
            row = s.execute(select(*queries.IMAGE_COLUMNS).where(where)).first()
        return None if row is None else ImageRow(*row)

    def image(self, image_id: int) -> ImageRow:
        row = self._one_image(Image.id == image_id)
        if row is None:
            raise KeyError(f"no image with id {image_id}")
        return row

    def image_by_path(self, rel_path: str) -> ImageRow | None:
        return self._one_image(Image.path == relative_path(rel_path))

    def images(
        self,
        status: str | None = None,
        class_name: str | None = None,
        order_by: str = "path",
        descending: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ImageRow]:
        """Images filtered and sorted by SQL.

        Args:
            status: only images with this status.
            class_name: only images with a box of this class that is not rejected.
            order_by: ``path``, ``status`` (workflow order new -> skipped), ``image_score``,
                ``confidence`` (images without one come last either way) or ``random``.
                Ties are broken by id.
            descending: reverse the order.
            limit, offset: the page to return.
        """
        query = queries.images(status, class_name, order_by, descending, limit, offset)
        with self._session() as s:
            return [ImageRow(*row) for row in s.execute(query)]

    def count_images(self, status: str | None = None) -> int:
        query = select(func.count()).select_from(Image)
        if status is not None:
            query = query.where(Image.status == choice(status, STATUSES, "status"))
        with self._session() as s:
            return s.scalar(query) or 0
