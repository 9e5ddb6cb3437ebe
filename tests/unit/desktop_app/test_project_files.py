"""Where the files beside a project's database go: unchanged for an SQLite project (beside
its file), in ``<image folder>/.salibox`` for a PostgreSQL one."""

from __future__ import annotations

import pytest

from core.scoring.review_queue import references_file
from core.services.training import model_file
from core.store import Project
from desktop_app.background.parts import maps_folder
from desktop_app.logs import log_file_of, shared_log_file
from desktop_app.shared_project import public_location


def test_an_sqlite_projects_files_stay_beside_its_file(project):
    db = project.db_path
    assert model_file(project, 7) == db.parent / "models" / "model-7.pt"
    assert references_file(project, "efficientnet_lite0") == db.with_name(
        "project.references-efficientnet_lite0.pt"
    )
    assert maps_folder(db) == maps_folder(str(db), "/elsewhere") == db.parent / "maps"
    assert log_file_of(db) == db.parent / "salibox.log"
    assert public_location(project) == str(db) == project.location


def test_a_server_projects_files_go_to_the_mount_of_its_image_folder(folder):
    url = "postgresql+psycopg://alice:secret@dbhost:5433/salibox?sslmode=require"
    assert maps_folder(url, folder) == folder.resolve() / ".salibox" / "maps"
    with pytest.raises(ValueError, match="image folder"):
        maps_folder(url)
    assert shared_log_file(folder).parent == folder
    assert shared_log_file(folder).name.startswith("salibox-")


def test_the_recent_list_names_a_database_without_its_password():
    from core.store.database import target

    where = target("postgresql+psycopg://alice:secret@dbhost:5433/salibox?sslmode=require")
    project = Project.__new__(Project)
    project.where = where
    assert public_location(project) == (
        "postgresql+psycopg://alice@dbhost:5433/salibox?sslmode=require"
    )
