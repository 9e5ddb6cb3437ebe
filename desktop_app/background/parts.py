"""Parts of the worker: the map cache, error wording, its signals (storing proposals is
:mod:`core.services.proposal_rows`)."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.formats.records import write_atomic
from core.store import Project
from core.store.database import target
from desktop_app.background.jobs import ProposeJob


def maps_folder(db_path: str | Path, root: str | Path | None = None) -> Path:
    """Where the maps of a project are kept: ``maps/`` in its data folder
    (:attr:`Project.data_folder`): beside the SQLite file ``db_path``, or for a PostgreSQL
    URL in ``<root>/.salibox``, ``root`` being this annotator's mount of the images."""
    where = target(db_path)
    if where.file is not None:
        return where.file.parent / "maps"
    if root is None:
        raise ValueError(f"{where.name}: a PostgreSQL project's maps need its image folder")
    return Path(root).expanduser().resolve() / ".salibox" / "maps"


def reason_of(exc: BaseException) -> str:
    """One readable sentence for an exception (KeyError's str() adds quotes)."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return str(text) or type(exc).__name__


def should_propose(project: Project, job: ProposeJob) -> bool:
    """Whether to propose for the job's image: forced, or still ``new`` without boxes."""
    if job.force:
        return True
    try:
        row = project.image(job.image_id)
    except KeyError:  # removed from the project since it was queued
        return False
    return row.status == "new" and not project.box_records.boxes(job.image_id)


def mark_unreadable(project: Project, image_id: int) -> None:
    """Give an image whose file cannot be decoded the status ``unreadable`` (unless a
    person reviewed it already: their boxes stay as they were)."""
    if project.image(image_id).status in ("new", "proposed"):
        project.set_status(image_id, "unreadable")


class MapCache:
    """The proposals' maps: the most recent ``size`` in memory, all in ``folder/<id>.npy``
    (float16), so a reopened project shows them without recomputing. Safe from any thread."""

    def __init__(self, folder: Path, size: int) -> None:
        self.folder = folder
        self._size = size
        self._maps: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, image_id: int) -> np.ndarray | None:
        """The image's map, ``(S, S)`` float32 0-1 (read-only), or None when it has none."""
        with self._lock:
            cached = self._maps.get(image_id)
            if cached is not None:
                self._maps.move_to_end(image_id)
                return cached
        try:
            loaded = np.load(self.folder / f"{image_id}.npy", allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        if loaded.ndim != 2:
            return None
        return self.remember(image_id, loaded, replace=False)

    def remember(self, image_id: int, saliency: np.ndarray, replace: bool) -> np.ndarray:
        """Cache a read-only float32 copy; with ``replace=False`` a map cached meanwhile
        (a newer one from the worker) wins over this one (read from disk)."""
        value = np.array(saliency, dtype=np.float32)
        value.flags.writeable = False
        with self._lock:
            if not replace and image_id in self._maps:
                self._maps.move_to_end(image_id)
                return self._maps[image_id]
            self._maps[image_id] = value
            self._maps.move_to_end(image_id)
            while len(self._maps) > self._size:
                self._maps.popitem(last=False)
        return value

    def save(self, image_id: int, saliency: np.ndarray) -> None:
        """Write ``<id>.npy`` as float16 through a temporary file and a rename."""
        self.folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(saliency, dtype=np.float16), allow_pickle=False)
        write_atomic(self.folder / f"{image_id}.npy", buffer.getvalue())


class WorkerSignals(QObject):
    """The worker's signals, on an object that stays in the thread that made the worker.

    PySide runs a receiver without a thread of its own (a lambda, a plain function) in the
    thread of the *sender*; were these signals on the worker, such receivers would run in
    the worker thread. Emitted from the worker thread, they reach every receiver in the GUI
    thread through a queued connection.
    """

    proposals_ready = Signal(int)
    progress = Signal(str, int, int)
    step = Signal(str, str)
    failed = Signal(int, str)
    cancelled = Signal()
    task_finished = Signal(object)
