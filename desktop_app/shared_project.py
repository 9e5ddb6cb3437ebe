"""What the app keeps of who annotates and where a shared project lives, in its own
settings (``QSettings``, per user of this machine, never in the shared folder):

- the user name (``user/name``; default the login name) that :class:`Project` writes on
  every event and box change;
- for each PostgreSQL project opened, its URL without any password (passwords belong in
  ``~/.pgpass``) and this annotator's mount of its image folder (``databases/mounts``), so
  File → Open recent, which lists the URL, reopens the database with the same folder.

In the shared image folder itself the app leaves one file, ``.salibox/database.url``: the
URL (without password) of the PostgreSQL database that holds the folder's project, so that
``python main.py FOLDER`` on anyone's mount of it opens that database instead of creating a
separate SQLite project (:func:`database_of`).

The store is imported by the functions that need it only: the app's window shows first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ui.user_settings import settings

if TYPE_CHECKING:
    from core.store import Project

#: The app setting that holds the user name.
USER_KEY = "user/name"
#: The app setting that maps each database URL (without password) to its image folder.
MOUNTS_KEY = "databases/mounts"


def user_name() -> str:
    """This app's user name: the one set in the app (File → User name…), else the login
    name."""
    from core.store.rows import clean_user_name, login_name

    stored = settings().value(USER_KEY, "")
    try:
        return clean_user_name(str(stored)) if stored else login_name()
    except ValueError:  # a hand-edited settings file
        return login_name()


def save_user_name(name: str) -> str:
    """Remember ``name`` (stripped) as this app's user name; ValueError when it is empty,
    too long or not printable."""
    from core.store.rows import clean_user_name

    cleaned = clean_user_name(name)
    settings().setValue(USER_KEY, cleaned)
    return cleaned


def public_location(project: Project) -> str:
    """What names ``project`` in the recent list and the title: the SQLite file, or the
    database URL without its password."""
    if not project.is_server:
        return str(project.db_path)
    from sqlalchemy import URL

    url = project.where.url  # URL.set(password=None) would keep the password
    bare = URL.create(url.drivername, url.username, None, url.host, url.port, url.database)
    return bare.update_query_dict(dict(url.query)).render_as_string(hide_password=False)


def _mounts() -> dict[str, str]:
    try:
        value = json.loads(str(settings().value(MOUNTS_KEY, "{}")))
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def remember_mount(project: Project) -> None:
    """Remember this annotator's image folder of a PostgreSQL project (nothing for SQLite,
    whose file records its folder)."""
    if project.is_server:
        mounts = _mounts()
        mounts[public_location(project)] = str(project.root)
        settings().setValue(MOUNTS_KEY, json.dumps(mounts))


def mount_of(url: str) -> Path | None:
    """The image folder this annotator last used with the database ``url`` (given without
    a password), if it is still a folder here."""
    folder = _mounts().get(url)
    return Path(folder) if folder and Path(folder).is_dir() else None


#: The file in a shared image folder that names its project's database (one URL).
POINTER = Path(".salibox") / "database.url"


def leave_pointer(project: Project) -> None:
    """Write, in a PostgreSQL project's image folder, the URL (without password) of its
    database (:data:`POINTER`); nothing for an SQLite project. A folder that cannot be
    written to gets none (the app opens with ``--db`` there as before)."""
    if not project.is_server:
        return
    pointer = project.root / POINTER
    try:
        pointer.parent.mkdir(parents=True, exist_ok=True)
        if not pointer.exists() or pointer.read_text().strip() != public_location(project):
            pointer.write_text(public_location(project) + "\n", encoding="utf-8")
    except OSError:
        pass


def database_of(folder: Path) -> str | None:
    """The database URL a shared image folder names (:data:`POINTER`), None when it names
    none or holds its own SQLite project."""
    pointer = folder / POINTER
    if (folder / ".salibox" / "project.db").exists() or not pointer.is_file():
        return None
    try:
        url = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return url or None
