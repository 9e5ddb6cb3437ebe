"""What the app opens: a folder, a project file, a database URL (from the command line or
the recent list), and the window title that names it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the store (SQLAlchemy) loads once a project is opened, not at start-up
    from core.store import Project


def open_target(target: str | None, db: str | None, report: Callable[[str], None]) -> Project:
    """Open (or create) the project ``target`` names: a folder of images (its project in
    ``.salibox/``, created with the folder's images and VOC files; or the PostgreSQL
    database the folder names, see :func:`~desktop_app.shared_project.database_of`), a
    project file, or a
    database URL from the recent list (with this annotator's mount of its images); with
    ``db`` a shared database and ``target`` this annotator's image folder. ``report`` gets
    each import problem (at most 20).

    Raises:
        ValueError: neither a target nor a database.
    """
    from core.store import Project
    from core.store.database import is_url
    from desktop_app.shared_project import database_of, leave_pointer, mount_of, user_name

    user = user_name()
    if db is None and target is not None and is_url(target):  # from the recent list
        db, folder = target, mount_of(target)
    else:
        folder = None if not target else Path(target)
    if db is None and folder is not None and folder.is_dir():
        db = database_of(folder)  # a shared folder names its project's database
    if db is not None:  # a shared project: its images are where this annotator has them
        root = None if folder is None else folder.expanduser().resolve()
        project = Project.open(db, root, user=user)
        if root is not None and project.count_images() == 0:
            _import(project, root, report)
        leave_pointer(project)
        return project
    if not target:
        raise ValueError("give a folder of images, a project file or a database URL")
    path = Path(target)
    if path.is_dir():
        db_file = Project.default_db_path(path)
        fresh = not db_file.exists()
        project = Project.open(db_file, root=path.resolve() if fresh else None, user=user)
        if fresh:
            _import(project, path, report)
        return project
    return Project.open(path, user=user)


def _import(project: Project, folder: Path, report: Callable[[str], None]) -> None:
    """Register the folder's images and import the VOC files beside them."""
    from core.services.importer import import_folder

    for line in import_folder(project, folder).problems[:20]:
        report(line)


def window_title(project: Project) -> str:
    """The image folder; for a shared project also the user name and the database."""
    from desktop_app.shared_project import public_location

    title = f"SaliBox — {project.root}"
    if project.is_server:
        title += f" — {project.user} on {public_location(project)}"
    return title
