"""Logging for the command line and the app, with the standard library.

Messages go to stderr (warnings and up; everything with ``--verbose``) and, once a project
is known, to a rotating file beside its database, ``.salibox/salibox.log`` (1 MB, three
old files kept; for a PostgreSQL project one per annotator in its data folder,
:func:`shared_log_file`), which the app's Errors panel opens. A user's bad input is one line; an
unexpected exception is one line plus "details in <log file>", its traceback in the file.
"""

from __future__ import annotations

import getpass
import logging
import logging.handlers
import re
from pathlib import Path

#: The log file's name, beside the project database.
LOG_NAME = "salibox.log"
#: Size at which the log file is rotated, bytes, and how many old files are kept.
MAX_BYTES, BACKUPS = 1_000_000, 3
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

log = logging.getLogger("salibox")


def log_file_of(db_path: str | Path) -> Path:
    """The log file of the project whose database is ``db_path``."""
    return Path(db_path).expanduser().resolve().parent / LOG_NAME


def start_console(verbose: bool = False) -> None:
    """Log to stderr: warnings and up, or SaliBox's debug lines and other libraries' info
    lines too when ``verbose``."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)  # other libraries' debug chatter (PIL's chunks) stays out
    log.setLevel(logging.DEBUG)
    log.disabled = False  # a library's logging.config call may have disabled it
    for handler in root.handlers:
        if getattr(handler, "salibox_console", False):
            root.removeHandler(handler)
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:  # the one line is shown by the caller; the traceback goes to the file
        console.addFilter(lambda record: not getattr(record, "file_only", False))
    console.setFormatter(logging.Formatter("salibox: %(levelname)s: %(message)s"))
    console.salibox_console = True  # type: ignore[attr-defined]
    root.addHandler(console)


def shared_log_file(data_folder: str | Path) -> Path:
    """The log file of this machine's app on a PostgreSQL project, in its data folder:
    ``salibox-<login name>.log``, one per annotator (several programs rotating one file
    would lose lines)."""
    try:
        login = getpass.getuser()
    except (OSError, KeyError):
        login = "unknown"
    safe = re.sub(r"[^\w.-]", "_", login)
    return Path(data_folder) / f"salibox-{safe}.log"


def log_to_project(db_path: str | Path) -> Path | None:
    """:func:`log_to_file` with the log file beside the SQLite file ``db_path``."""
    return log_to_file(log_file_of(db_path))


def log_to_file(path: Path) -> Path | None:
    """Also log to a project's log file ``path`` (SaliBox's debug lines and up, other
    libraries' info and up), instead of another project's; returns the file, or None when
    it cannot be written (a read-only folder)."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    log.setLevel(logging.DEBUG)
    log.disabled = False
    stop_project_log()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
        )
    except OSError:
        return None
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.salibox_project = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    return path


def stop_project_log() -> None:
    """Stop logging to a project's file (the project was closed)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "salibox_project", False):
            root.removeHandler(handler)
            handler.close()


def project_log() -> Path | None:
    """The project log file in use, or None."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, "salibox_project", False):
            return Path(handler.baseFilename)  # type: ignore[attr-defined]
    return None


def unexpected(exc: BaseException, what: str) -> str:
    """Log an unexpected exception with its traceback; returns the one line to show:
    "<what>: <exc> (a bug; details in <log file>)"."""
    trace = (type(exc), exc, exc.__traceback__)
    log.error("%s: %s", what, exc, exc_info=trace, extra={"file_only": True})
    where = project_log()
    details = f"details in {where}" if where is not None else "run with --verbose for details"
    return f"{what}: {type(exc).__name__}: {exc} (a bug; {details})"
