"""Parts of the worker: storing proposals, the map cache, error wording, its signals."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.formats.records import write_atomic
from core.store import Project
from core.store.database import target
from core.store.models import Origin, State
from core.store.rows import BoxSpec
from desktop_app.background.jobs import ProposeJob

if TYPE_CHECKING:
    from core.engine.proposals import ImageProposals, Proposal


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


#: A learned model's class is given to a proposal only when it is at least this likely;
#: below, it is a hint and the proposal takes the current class when accepted (a model
#: that knows only "raccoon" must not call every fruit a raccoon).
CLASS_CONFIDENCE = 0.5


def store_proposals(
    project: Project, image_id: int, result: ImageProposals, model_version_id: int | None = None
) -> None:
    """Replace the image's still-proposed proposals (one transaction), set its size if
    unknown and move it from ``new`` (or ``unreadable``, a file since mended) to
    ``proposed``; ``model_version_id`` names the learned model version they came from
    (None: zero-shot).

    A proposal carries a class only when a learned model named one of the project's
    classes; a zero-shot proposal's class is the network's (an ImageNet name), kept as its
    hint only, so such names never become the annotator's classes.
    """
    own = set(project.class_records.classes()) if model_version_id is not None else set()

    def sure(p: Proposal) -> bool:
        return p.class_name in own and p.confidence >= CLASS_CONFIDENCE

    specs = [
        BoxSpec(
            p.class_name if sure(p) else None,
            p.box,
            origin=Origin.PROPOSAL,
            state=State.PROPOSED,
            confidence=p.confidence,
            method=p.method,
            model_version_id=model_version_id,
            hint=None if sure(p) else p.class_name,
        )
        for p in result.proposals
    ]
    project.box_records.replace_proposals(image_id, specs)
    row = project.image(image_id)
    if row.width is None or row.height is None:
        project.set_image_size(image_id, *result.size)
    if row.status in ("new", "unreadable"):
        project.set_status(image_id, "proposed")


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
