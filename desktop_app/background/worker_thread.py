"""The proposal worker's thread: start a :class:`ProposalWorker` in its own low-priority
``QThread`` and stop it again."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QThread

from core.engine import defaults
from core.store import Project
from desktop_app.background.worker import CACHE_SIZE, ProposalWorker


def start_worker(
    project: Project | str | Path,
    backbone_name: str = "efficientnet_lite0",
    method: str = "default",
    device: str = defaults.DEVICE,
    batch_size: int = defaults.BATCH_SIZE,
    *,
    weights_path: str | Path | None = None,
    cache_size: int = CACHE_SIZE,
    preload: bool = False,
    root: str | Path | None = None,
    user: str | None = None,
) -> tuple[QThread, ProposalWorker]:
    """Start a :class:`ProposalWorker` in a new thread (nothing is loaded until its first
    job, unless ``preload``). Keep both objects; end with :func:`stop_worker` (or ``worker.stop()``,
    ``thread.quit()``, ``thread.wait()``)."""
    worker = ProposalWorker(
        project,
        backbone_name,
        method,
        device,
        batch_size,
        weights_path=weights_path,
        cache_size=cache_size,
        preload=preload,
        root=root,
        user=user,
    )
    thread = QThread()
    thread.setObjectName("SaliBox proposals")
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    thread.start(QThread.Priority.LowPriority)
    return thread, worker


def stop_worker(thread: QThread, worker: ProposalWorker, timeout_ms: int = 60_000) -> bool:
    """Stop the worker and wait for its thread to end; True when it has."""
    worker.stop()
    thread.quit()
    return bool(thread.wait(timeout_ms))
