"""Small parts of the proposal worker: where maps live, error wording, its signals."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal


def maps_folder(db_path: str | Path) -> Path:
    """Where the maps of the project stored in ``db_path`` are kept."""
    return Path(db_path).expanduser().resolve().parent / "maps"


def reason_of(exc: BaseException) -> str:
    """One readable sentence for an exception (KeyError's str() adds quotes)."""
    text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
    return str(text) or type(exc).__name__


class WorkerSignals(QObject):
    """The worker's signals, on an object that stays in the thread that made the worker.

    PySide runs a receiver without a thread of its own (a lambda, a plain function) in the
    thread of the *sender*; were these signals on the worker, such receivers would run in
    the worker thread. Emitted from the worker thread, they reach every receiver in the GUI
    thread through a queued connection.
    """

    proposals_ready = Signal(int)
    progress = Signal(str, int, int)
    failed = Signal(int, str)
    cancelled = Signal()
