"""A SaliBox project: a folder of images and one SQLite file with their boxes and reviews.

Callers get plain frozen dataclasses, never ORM objects. Every call is one transaction
with its own session, so the GUI thread and a worker thread can both use one
:class:`Project`; a call that writes has committed (and synced to disk) when it returns,
and a call that changes a box logs an :class:`~core.store.models.Event` in the same
transaction. Boxes are ``(x1, y1, x2, y2)`` in continuous pixel edges of the image as
displayed (README "Coordinates").

Errors: :class:`StoreError` for what a user can cause (locked, full disk, damaged or
foreign file, wrong image folder), :class:`InvalidBoxError` (a StoreError and a
ValueError) for bad coordinates, ValueError for unknown status, state, origin or sort key,
KeyError for an image or box id that does not exist.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from core.store import boxes as box_changes
from core.store import learning, queries
from core.store.database import DEFAULT_BUSY_TIMEOUT, WRITE, StoreError, make_engine, sqlite_errors
from core.store.migrate import prepare
from core.store.models import (
    STATUSES,
    Box,
    Event,
    Image,
    LabelClass,
    ModelVersion,
    Setting,
    TrainingRun,
    utc_now,
)
from core.store.rows import (
    BoxRow,
    ImageRow,
    LabelledImageRow,
    ModelVersionRow,
    TrainingRunRow,
    box_row,
    choice,
    clean_class_name,
    relative_path,
)

#: Paths inserted per statement by :meth:`Project.register_images`.
CHUNK = 5000


class Project:
    """An open project. Create or open one with :meth:`Project.open`; close it when done.

    Attributes:
        root: the image folder (absolute); image paths are relative to it.
        db_path: the SQLite file (absolute).
    """

    def __init__(self, engine: Engine, db_path: Path, busy_timeout: float) -> None:
        self._engine: Engine | None = engine
        self._busy_timeout = busy_timeout
        self._sessions = {
            False: sessionmaker(engine, expire_on_commit=False),
            True: sessionmaker(engine.execution_options(**{WRITE: True}), expire_on_commit=False),
        }
        self.db_path = db_path
        self.root = Path()

    # --- opening and closing -----------------------------------------------------------------

    @staticmethod
    def default_db_path(image_folder: str | Path) -> Path:
        """Where a project keeps its database by default: ``<folder>/.salibox/project.db``."""
        return Path(image_folder) / ".salibox" / "project.db"

    @classmethod
    def open(
        cls,
        db_path: str | Path,
        root: str | Path | None = None,
        *,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        pragmas: Mapping[str, int | str] | None = None,
    ) -> Project:
        """Open a project database, creating it (and its folder) if missing.

        Args:
            db_path: the SQLite file.
            root: the image folder. Required to create a project; when opening one it
                must match the folder stored in it.
            busy_timeout: seconds to wait for a lock held by another program.
            pragmas: extra SQLite ``PRAGMA`` settings for every connection (for tests).

        Opening applies pending schema migrations, after copying the file to
        ``<db>.backup-<old revision>-<timestamp>``.

        Raises:
            StoreError: no such file and no root, root not a folder or not the project's,
                a file from a newer SaliBox or another program, locked, damaged or
                unwritable.
        """
        db_path = Path(db_path).expanduser().resolve()
        root = None if root is None else Path(root).expanduser().resolve()
        if root is not None and not root.is_dir():
            raise StoreError(f"{root}: image folder does not exist.")
        if db_path.is_dir():
            raise StoreError(f"{db_path}: is a folder, not a project database file.")
        if not db_path.exists():
            if root is None:
                raise StoreError(f"{db_path}: no such project database; give the image folder.")
            try:
                db_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{db_path.parent}: cannot create folder ({exc}).") from exc
        had_data = db_path.exists() and db_path.stat().st_size > 0
        engine = make_engine(db_path, busy_timeout, pragmas)
        project = cls(engine, db_path, busy_timeout)
        try:
            with sqlite_errors(db_path, busy_timeout):
                prepare(engine, db_path, had_data)
            project.root = project._check_root(root)
        except BaseException:
            project.close()
            raise
        return project

    def _check_root(self, root: Path | None) -> Path:
        stored = self.setting("root")
        if stored is None:
            if root is None:
                raise StoreError(f"{self.db_path}: records no image folder; give the folder.")
            self.set_setting("root", str(root))
            return root
        if root is not None and root != Path(stored):
            raise StoreError(f"{self.db_path}: belongs to image folder {stored}, not {root}.")
        return Path(stored)

    def close(self) -> None:
        """Close all connections; SQLite then folds its write-ahead log into the file."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called (every other call then raises StoreError)."""
        return self._engine is None

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _session(self, write: bool = False) -> Iterator[Session]:
        """One transaction: committed on leaving, rolled back on an exception."""
        if self._engine is None:
            raise StoreError(f"{self.db_path}: project is closed.")
        with sqlite_errors(self.db_path, self._busy_timeout), self._sessions[write].begin() as s:
            yield s

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
        insert = sqlite_insert(table).on_conflict_do_nothing(index_elements=["path"])
        count = select(func.count()).select_from(table)
        now, paths = utc_now(), iter(rel_paths)
        with self._session(write=True) as s:
            before = s.scalar(count) or 0
            while chunk := list(islice(paths, CHUNK)):
                s.execute(insert, [{"path": relative_path(p), "added_at": now} for p in chunk])
            return (s.scalar(count) or 0) - before

    def _update_image(self, image_id: int, **values: Any) -> None:
        with self._session(write=True) as s:
            if s.execute(update(Image).where(Image.id == image_id).values(**values)).rowcount == 0:
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

    # --- classes -----------------------------------------------------------------------------

    def classes(self) -> list[str]:
        """Class names in creation order."""
        with self._session() as s:
            return list(s.scalars(select(LabelClass.name).order_by(LabelClass.id)))

    def user_classes(self) -> list[str]:
        """Classes of the annotator, in creation order: those with a box drawn, imported or
        reviewed by a person, and those created without boxes. Classes that only name
        unreviewed proposals (a network's own classes) are left out."""
        by_person = (Box.origin.in_(("human", "imported"))) | (
            Box.state.in_(("accepted", "edited")) & Box.verified
        )
        has_box = select(Box.id).where(Box.class_id == LabelClass.id)
        query = (
            select(LabelClass.name)
            .where(has_box.where(by_person).exists() | ~has_box.exists())
            .order_by(LabelClass.id)
        )
        with self._session() as s:
            return list(s.scalars(query))

    def ensure_class(self, name: str) -> int:
        """The id of class ``name`` (surrounding spaces removed), created if new."""
        with self._session(write=True) as s:
            return box_changes.class_id(s, clean_class_name(name))

    # --- boxes: each call is one transaction that also logs an event ---------------------------

    def add_box(
        self,
        image_id: int,
        class_name: str,
        box: Sequence[float],
        *,
        origin: str = "human",
        state: str = "accepted",
        confidence: float | None = None,
        method: str | None = None,
        model_version_id: int | None = None,
        difficult: bool = False,
        truncated: bool = False,
        occluded: bool = False,
        pose: str = "Unspecified",
        verified: bool = True,
    ) -> int:
        """Add one box ``(x1, y1, x2, y2)`` in pixel edges; returns its id.

        Raises:
            InvalidBoxError: coordinates not finite or not x1 < x2 and y1 < y2.
            ValueError: unknown origin or state, empty class name.
            KeyError: no such image.
        """
        spec = {
            "class_name": class_name,
            "box": box,
            "origin": origin,
            "state": state,
            "confidence": confidence,
            "method": method,
            "model_version_id": model_version_id,
            "difficult": difficult,
            "truncated": truncated,
            "occluded": occluded,
            "pose": pose,
            "verified": verified,
        }
        return self.add_boxes(image_id, [spec])[0]

    def add_boxes(self, image_id: int, boxes: Sequence[Mapping[str, Any]]) -> list[int]:
        """Add many boxes to one image in one transaction; returns their ids in order.

        Each mapping has ``class_name`` and ``box`` and optionally the keyword arguments of
        :meth:`add_box`. Boxes of origin ``imported`` are logged as ``import``, others as
        ``add``. One bad box adds none.
        """
        with self._session(write=True) as s:
            return box_changes.add(s, image_id, boxes)

    def replace_proposals(self, image_id: int, boxes: Sequence[Mapping[str, Any]]) -> list[int]:
        """In one transaction, delete the image's unreviewed proposals (origin ``proposal``,
        state ``proposed``) and add ``boxes`` (as for :meth:`add_boxes`); what a person
        reviewed or drew stays. Returns the new ids."""
        stale = queries.boxes(image_id, ["proposed"])
        with self._session(write=True) as s:
            for box, _name in s.execute(stale).all():
                if box.origin == "proposal":
                    box_changes.delete(s, box.id)
            return box_changes.add(s, image_id, boxes) if boxes else []

    def accept_box(self, box_id: int) -> None:
        """Accept a box (an ``edited`` box stays ``edited``, which counts as accepted)."""
        with self._session(write=True) as s:
            box_changes.review(s, box_id, "accepted", "accept")

    def reject_box(self, box_id: int) -> None:
        with self._session(write=True) as s:
            box_changes.review(s, box_id, "rejected", "reject")

    def edit_box(
        self, box_id: int, box: Sequence[float] | None = None, class_name: str | None = None
    ) -> None:
        """Move and/or relabel a box. One not drawn by hand (a proposal, an imported box)
        becomes ``edited``, which counts as accepted; one drawn by hand stays ``accepted``."""
        with self._session(write=True) as s:
            box_changes.edit(s, box_id, box, class_name)

    def delete_box(self, box_id: int) -> None:
        """Remove a box; the event log keeps its class, coordinates and state."""
        with self._session(write=True) as s:
            box_changes.delete(s, box_id)

    def restore_box(self, row: BoxRow) -> None:
        """Put a box back as ``row`` (an earlier :meth:`boxes` result) describes it, under
        its id, even if it was deleted since: what undo and redo use."""
        with self._session(write=True) as s:
            box_changes.restore(s, row)

    def boxes(self, image_id: int, states: Iterable[str] | None = None) -> list[BoxRow]:
        """The boxes of an image in creation order, optionally only those in ``states``."""
        query = queries.boxes(image_id, states)
        with self._session() as s:
            return [box_row(box, name) for box, name in s.execute(query)]

    def events(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The event log, newest first: id, at (aware UTC datetime), image_id, box_id,
        action, detail."""
        columns = (Event.id, Event.at, Event.image_id, Event.box_id, Event.action, Event.detail)
        query = select(*columns).order_by(Event.id.desc()).limit(limit)
        with self._session() as s:
            return [dict(row._mapping) for row in s.execute(query)]

    # --- the learning loop: training runs, model versions, labelled boxes ----------------------

    def start_training_run(self, params: Mapping[str, Any]) -> int:
        """Record a fine-tuning run as ``running`` with its JSON-able ``params``; its id."""
        with self._session(write=True) as s:
            return learning.start_run(s, params)

    def finish_training_run(
        self,
        run_id: int,
        status: str,
        metrics: Mapping[str, Any] | None = None,
        model_version_id: int | None = None,
    ) -> None:
        """End a run as ``done``, ``failed`` or ``cancelled`` (ValueError otherwise).

        Raises:
            KeyError: no such run or model version.
        """
        with self._session(write=True) as s:
            if model_version_id is not None and s.get(ModelVersion, model_version_id) is None:
                raise KeyError(f"no model version with id {model_version_id}")
            learning.finish_run(s, run_id, status, metrics, model_version_id)

    def training_runs(self) -> list[TrainingRunRow]:
        """Every training run, newest first."""
        with self._session() as s:
            runs = s.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()))
            return [learning.run_row(r) for r in runs]

    def add_model_version(
        self,
        path: str | Path,
        backbone: str,
        classes: Sequence[str],
        metrics: Mapping[str, Any] | None = None,
    ) -> int:
        """Record a model file (stored relative to the database folder when inside it);
        returns its id. It is not made active (see :meth:`set_active_model_version`)."""
        version = ModelVersion(
            path=learning.stored_path(self.db_path.parent, path),
            backbone=backbone,
            classes=list(classes),
            metrics=dict(metrics or {}),
        )
        with self._session(write=True) as s:
            s.add(version)
            s.flush()
            return version.id

    def model_versions(self) -> list[ModelVersionRow]:
        """Every model version, newest first."""
        with self._session() as s:
            versions = s.scalars(select(ModelVersion).order_by(ModelVersion.id.desc()))
            return [learning.version_row(self.db_path.parent, v) for v in versions]

    def active_model_version(self) -> ModelVersionRow | None:
        """The version proposals come from, or None (zero-shot proposals)."""
        with self._session() as s:
            version_id = learning.active_id(s)
            version = None if version_id is None else s.get(ModelVersion, version_id)
            return None if version is None else learning.version_row(self.db_path.parent, version)

    def set_active_model_version(self, version_id: int | None) -> None:
        """Propose with this version from now on; None for zero-shot proposals.

        Raises:
            KeyError: no such version.
        """
        with self._session(write=True) as s:
            learning.set_active(s, version_id)

    def count_labelled_boxes(self, include_unverified: bool = False) -> int:
        """How many boxes are accepted or edited (only those a person checked, unless
        ``include_unverified``): the count that triggers fine-tuning."""
        with self._session() as s:
            return learning.count_labels(s, include_unverified)

    def labelled_boxes(self, include_unverified: bool = False) -> list[LabelledImageRow]:
        """The images with accepted or edited boxes, by image id, with those boxes.

        Args:
            include_unverified: also boxes no person checked (pseudo-labels, imports
                marked unverified).
        """
        with self._session() as s:
            return learning.labelled(s, include_unverified)
