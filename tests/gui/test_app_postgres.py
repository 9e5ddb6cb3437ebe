"""The app on a PostgreSQL project (``python main.py FOLDER --db URL``): real widgets, the
real worker and backbone, a real server (:mod:`tests.helpers.postgres`; skipped with the
reason when no server can be started here)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from core.store import Project
from core.store.models import Box
from desktop_app.logs import project_log
from desktop_app.project_settings import DEFAULTS
from desktop_app.shared_project import mount_of, user_name
from tests.helpers.training import write_blob

LONG = 120_000  # ms: the first job also loads the network

pytestmark = pytest.mark.usefixtures("isolated_settings")


@pytest.fixture
def database(postgres_server):
    """A new empty database (no SaliBox tables yet), as an administrator creates one."""
    url = postgres_server.empty_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def blobs(tmp_path) -> tuple[Path, list[tuple[int, ...]]]:
    folder = tmp_path / "mount of the shared folder"
    folder.mkdir()
    return folder, [write_blob(folder / f"b{i}.png", seed=i) for i in range(4)]


def all_proposed(session) -> bool:
    rows = session.project.images()
    return bool(rows) and all(r.status == "proposed" for r in rows)


def with_password(url: str) -> str:
    """``url`` with a password (the test server trusts every local connection)."""
    head, tail = url.split("://", 1)
    user, rest = tail.split("@", 1)
    return f"{head}://{user}:secret@{rest}"


def test_a_session_on_a_database_proposes_remembers_and_reopens_it(qtbot, session, blobs, database):
    folder, boxes = blobs
    assert user_name()  # the login name until one is chosen
    assert session.set_user_name("  alice ")
    assert not session.set_user_name("\t")  # refused, shown, the name stays
    assert user_name() == "alice"

    assert session.open(str(folder), db=with_password(database))
    project = session.project
    assert project.is_server and project.root == folder.resolve() and project.user == "alice"
    assert project.count_images() == 4  # the folder's images, registered on first open
    assert not (folder / ".salibox" / "project.db").exists()
    assert "alice on " in session.window.windowTitle()
    assert "secret" not in session.window.windowTitle()
    # The worker opened the project again by its URL, in its thread, and proposed.
    qtbot.waitUntil(lambda: all_proposed(session), timeout=LONG)
    assert session.worker._project is not project and session.worker._project.is_server
    maps = folder / ".salibox" / "maps"
    qtbot.waitUntil(lambda: len(list(maps.glob("*.npy"))) == 4, timeout=LONG)
    assert project_log() is not None and project_log().parent == folder / ".salibox"

    controller = session.controller
    controller.edits.set_class("blob")
    controller.show_index(0)
    shown = controller.current_id()
    controller.edits.add_drawn_box(boxes[0])
    proposal = next(b for b in project.box_records.boxes(shown) if b.state == "proposed")
    project.box_records.accept_box(proposal.id, "blob")  # what Space on a proposal does
    session.close()

    # The recent list names the database without its password; the mount is remembered.
    recent = session.window.recent_projects()[0]
    assert recent == database and mount_of(database) == folder.resolve()
    session.window.recent_menu.actions()[0].trigger()  # File > Open recent > the URL
    reopened = session.project
    assert reopened is not None and reopened.is_server and reopened.root == folder.resolve()
    states = sorted(b.state for b in reopened.box_records.boxes(shown))
    assert states.count("accepted") == 2
    with reopened.engine.connect() as connection:
        by = connection.scalars(
            select(Box.updated_by).where(Box.image_id == shown, Box.state == "accepted")
        ).all()
    assert by == ["alice", "alice"]
    events = reopened.box_records.events()
    assert {e["user_name"] for e in events if e["image_id"] == shown} == {"alice"}

    # A new name is written from now on, by the app and by its worker.
    assert session.set_user_name("bob")
    assert reopened.user == "bob" and session.worker._user == "bob"


def test_training_from_the_app_writes_its_model_under_the_data_folder(
    qtbot, session, blobs, database
):
    folder, boxes = blobs
    assert session.open(str(folder), db=database)
    session.apply_settings(replace(DEFAULTS, retrain_after=3))
    qtbot.waitUntil(lambda: all_proposed(session), timeout=LONG)
    controller = session.controller
    controller.edits.set_class("blob")
    for index in range(3):
        controller.show_index(index)
        controller.edits.add_drawn_box(boxes[index])
    records = session.project.learning_records
    qtbot.waitUntil(lambda: records.active_model_version() is not None, timeout=LONG)
    version = records.active_model_version()
    assert session.project.data_folder == folder.resolve() / ".salibox"
    models = folder / ".salibox" / "models"
    assert [p.name for p in models.glob("*.pt")] == [Path(version.path).name]
    # Any annotator's mount finds it: the stored path is relative to the data folder.
    assert not Path(version.path).is_absolute()


def test_a_project_on_a_database_opens_from_the_command_line_arguments(database, tmp_path):
    from desktop_app.cli.main import build_app_parser

    args = build_app_parser().parse_args([str(tmp_path), "--db", database])
    assert (args.target, args.db) == (str(tmp_path), database)
    with Project.open(args.db, args.target, user="carol") as project:
        assert project.user == "carol" and project.is_server


def test_two_annotators_each_with_their_mount_share_one_database(
    qtbot, session, blobs, database, tmp_path
):
    import shutil

    from desktop_app.app import Session
    from ui.canvas.view import Canvas
    from ui.main_window import MainWindow

    folder, boxes = blobs
    theirs = tmp_path / "bob's mount"
    shutil.copytree(folder, theirs)  # the same files, seen at another path
    assert session.set_user_name("alice") and session.open(str(folder), db=database)
    first = session.project.image_by_path("b0.png").id
    session.controller.edits.set_class("blob")
    session.controller.show_index(0)
    session.controller.edits.add_drawn_box(boxes[0])

    window = MainWindow()
    canvas = Canvas()
    window.set_canvas(canvas)
    qtbot.addWidget(window)
    other = Session(window, canvas)
    try:
        assert other.set_user_name("bob") and other.open(str(theirs), db=database)
        assert other.project.root == theirs.resolve() and other.project.count_images() == 4
        assert session.project.user == "alice"  # each app writes its own name
        # Bob sees Alice's box and adds one on another image; each name is on its change.
        assert [b.class_name for b in other.project.box_records.boxes(first)] == ["blob"]
        other.controller.show_index(1)
        other.controller.edits.add_drawn_box(boxes[1])
        second = other.project.image_by_path("b1.png").id
        qtbot.waitUntil(lambda: (theirs / ".salibox" / "maps").is_dir(), timeout=LONG)
    finally:
        other.close()
    drawn = {
        b.id: b.image_id
        for image_id in (first, second)
        for b in session.project.box_records.boxes(image_id)
        if b.origin == "human"
    }
    events = session.project.box_records.events()
    added = {drawn[e["box_id"]]: e["user_name"] for e in events if e["box_id"] in drawn}
    assert added == {first: "alice", second: "bob"}


def test_a_shared_folder_names_its_database_and_its_model_files_for_every_mount(
    qtbot, session, blobs, database, tmp_path
):
    import shutil

    folder, _boxes = blobs
    assert session.set_user_name("alice") and session.open(str(folder), db=database)
    alice = session.project
    models = alice.data_folder / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "model-1.pt").write_bytes(b"weights")
    version = alice.learning_records.add_model_version(
        models / "model-1.pt", "efficientnet_lite0", ["blob"]
    )
    alice.learning_records.set_active_model_version(version)
    session.close()
    pointer = folder / ".salibox" / "database.url"
    assert pointer.read_text().strip() == database  # no password in it: there is none
    theirs = tmp_path / "bob's mount"
    shutil.copytree(folder, theirs)  # the shared folder as another machine mounts it
    # `python main.py FOLDER` with no --db: the database the folder names, not a new file.
    assert session.set_user_name("bob") and session.open(str(theirs))
    bob = session.project
    assert bob.is_server and bob.root == theirs.resolve() and bob.count_images() == 4
    assert not (theirs / ".salibox" / "project.db").exists()
    active = bob.learning_records.active_model_version()
    assert active is not None and active.path == "models/model-1.pt"  # as stored: relative
    assert active.file == theirs.resolve() / ".salibox" / "models" / "model-1.pt"
    assert active.file.read_bytes() == b"weights"  # every mount reaches the same file
