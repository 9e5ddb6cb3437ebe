"""The annotator's classes in the store: proposals without a class, checked names, the
class calls (rename, merge, delete, reorder) and the migration that mends old projects."""

from __future__ import annotations

import shutil

import pytest
from alembic import command
from sqlalchemy import text

from core.formats.classes_file import read_classes_file
from core.store import InvalidClassNameError, Project
from core.store.class_records import ClassInUseError
from core.store.database import make_engine, make_server_engine, target
from core.store.migrate import alembic_config
from core.store.models import STATES
from tests.helpers.paths import DATA
from tests.helpers.store import image_id


def proposal(project, image, hint="Arctic fox", box=(1, 1, 9, 9)) -> int:
    return project.box_records.add_box(
        image, None, box, origin="proposal", state="proposed", confidence=0.19, hint=hint
    )


def test_a_proposal_without_a_class_adds_no_class_and_keeps_its_hint(project):
    image = image_id(project)
    box_id = proposal(project, image)
    assert project.class_records.classes() == []
    (row,) = project.box_records.boxes(image)
    assert (row.id, row.class_name, row.hint, row.state) == (box_id, None, "Arctic fox", "proposed")


@pytest.mark.parametrize("state", [s for s in STATES if s != "proposed"])
def test_only_a_proposal_still_to_review_may_lack_a_class(project, state):
    with pytest.raises(ValueError, match="needs a class"):
        project.box_records.add_box(
            image_id(project), None, (1, 1, 5, 5), origin="proposal", state=state
        )
    with pytest.raises(ValueError, match="needs a class"):
        project.box_records.add_box(image_id(project), None, (1, 1, 5, 5))  # drawn by hand


def test_accepting_a_proposal_without_a_class_needs_one(project):
    image = image_id(project)
    box_id = proposal(project, image)
    with pytest.raises(ValueError, match="no class"):
        project.box_records.accept_box(box_id)
    assert project.box_records.boxes(image)[0].state == "proposed"  # nothing changed
    project.box_records.accept_box(box_id, class_name="raccoon")
    (row,) = project.box_records.boxes(image)
    assert (row.class_name, row.state, row.verified) == ("raccoon", "accepted", True)
    assert project.class_records.classes() == ["raccoon"]
    event = project.box_records.events(limit=1)[0]
    assert event["detail"]["class"] == {"from": None, "to": "raccoon"}


def test_moving_a_proposal_without_a_class_needs_one(project):
    image = image_id(project)
    box_id = proposal(project, image)
    with pytest.raises(ValueError, match="no class"):
        project.box_records.edit_box(box_id, box=(2, 2, 8, 8))
    project.box_records.edit_box(box_id, box=(2, 2, 8, 8), class_name="raccoon")
    (row,) = project.box_records.boxes(image)
    assert (row.class_name, row.state, row.box) == ("raccoon", "edited", (2.0, 2.0, 8.0, 8.0))


def test_undo_puts_a_proposal_back_without_a_class(project):
    image = image_id(project)
    before = project.box_records.boxes(image)[0] if proposal(project, image) else None
    project.box_records.accept_box(before.id, class_name="raccoon")
    project.box_records.restore_box(before)
    assert project.box_records.boxes(image) == [before]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("cat\ndog", "control character"),
        ("tab\there", "control character"),
        ("nul\x00", "control character"),
        ("x" * 129, "129 characters"),
    ],
)
def test_invalid_class_names_are_refused(project, name, reason):
    with pytest.raises(InvalidClassNameError, match=reason):
        project.class_records.ensure_class(name)
    with pytest.raises(InvalidClassNameError):
        project.box_records.add_box(image_id(project), name, (1, 1, 5, 5))
    assert project.class_records.classes() == []


def test_class_names_are_stripped_and_may_be_any_text(project):
    assert project.class_records.add_classes(
        ["  Raccoon ", "Große Katze", "x" * 128, "Raccoon"]
    ) == [
        "Raccoon",
        "Große Katze",
        "x" * 128,
        "Raccoon",
    ]
    assert project.class_records.classes() == ["Raccoon", "Große Katze", "x" * 128]


def test_rename_moves_every_box_and_refuses_an_existing_name(project):
    image = image_id(project)
    project.box_records.add_box(image, "racoon", (1, 1, 5, 5))
    project.box_records.add_box(image, "cat", (2, 2, 6, 6))
    assert project.class_records.rename_class("racoon", " raccoon ") == "raccoon"
    assert [b.class_name for b in project.box_records.boxes(image)] == ["raccoon", "cat"]
    assert project.class_records.classes() == ["raccoon", "cat"]
    with pytest.raises(ValueError, match="merge"):
        project.class_records.rename_class("raccoon", "cat")
    with pytest.raises(KeyError):
        project.class_records.rename_class("dog", "wolf")


def test_merge_gives_the_boxes_the_target_class(project):
    image = image_id(project)
    project.box_records.add_box(image, "kitty", (1, 1, 5, 5))
    project.box_records.add_box(image, "cat", (2, 2, 6, 6))
    project.class_records.ensure_class("dog")
    assert project.class_records.merge_class("kitty", "cat") == 1
    assert [b.class_name for b in project.box_records.boxes(image)] == ["cat", "cat"]
    assert project.class_records.class_counts() == {"cat": 2, "dog": 0}


def test_delete_is_refused_while_labels_use_the_class_unless_they_go_too(project):
    image = image_id(project)
    project.box_records.add_box(image, "cat", (1, 1, 5, 5))
    project.box_records.add_box(image, "cat", (2, 2, 6, 6), origin="imported")
    pending = project.box_records.add_box(
        image, "cat", (3, 3, 7, 7), origin="proposal", state="proposed"
    )
    project.box_records.add_box(image, "dog", (2, 2, 6, 6))
    with pytest.raises(ClassInUseError) as refused:
        project.class_records.delete_class("cat")
    assert refused.value.count == 2
    assert project.class_records.classes() == ["cat", "dog"]
    assert project.class_records.delete_class("cat", delete_boxes=True) == 2
    assert project.class_records.classes() == ["dog"]
    rows = {b.id: b for b in project.box_records.boxes(image)}
    assert rows[pending].class_name is None and rows[pending].hint == "cat"
    assert [b.class_name for b in rows.values()] == [None, "dog"]
    assert project.class_records.delete_class("dog", delete_boxes=True) == 1
    project.class_records.ensure_class("empty")
    assert project.class_records.delete_class("empty") == 0
    assert project.class_records.classes() == []


def test_classes_can_be_reordered(project):
    project.class_records.add_classes(["a", "b", "c", "d"])
    project.class_records.move_class("d", 0)
    assert project.class_records.classes() == ["d", "a", "b", "c"]
    project.class_records.move_class("d", 99)
    assert project.class_records.classes() == ["a", "b", "c", "d"]
    project.class_records.ensure_class("e")  # a new class comes last
    project.class_records.move_class("b", 2)
    assert project.class_records.classes() == ["a", "c", "b", "d", "e"]


def test_class_counts_count_labels_only(project):
    image = image_id(project)
    project.box_records.add_box(image, "cat", (1, 1, 5, 5))
    box_id = project.box_records.add_box(
        image, "cat", (2, 2, 6, 6), origin="proposal", state="proposed"
    )
    project.box_records.reject_box(box_id)
    project.class_records.ensure_class("dog")
    assert project.class_records.class_counts() == {"cat": 1, "dog": 0}


def test_classes_file_one_name_a_line(tmp_path):
    path = tmp_path / "predefined_classes.txt"
    path.write_bytes("\ufeffdog\r\n\r\n person \ncat\ndog\n".encode() + b"x" * 200 + b"\n")
    read = read_classes_file(path)
    assert read.names == ["dog", "person", "cat"]
    assert len(read.problems) == 1 and "line 6" in read.problems[0]
    path.write_bytes(b"\xff\xfe\x00broken")
    with pytest.raises(ValueError, match="UTF-8"):
        read_classes_file(path)


# --- mending a project written before user classes (schema revision 0001) --------------------


@pytest.fixture
def old_project(request, backend, folder):
    """A project as SaliBox wrote it at revision 0001 (an SQLite file, or a PostgreSQL
    database of its own), with what the old app did: every proposal named after its
    ImageNet class, proposals replaced (orphan classes), an edited proposal keeping its
    ImageNet name, a class typed but unused. Its location, for ``Project.open``."""
    if backend == "sqlite":
        location = Project.default_db_path(folder)
        location.parent.mkdir(parents=True)
        engine = make_engine(location, 5.0, None)
    else:
        location = request.getfixturevalue("postgres_server").empty_database()
        engine = make_server_engine(target(location).url, 5.0)
    rows = [
        "INSERT INTO setting VALUES ('root', '{root}')",
        "INSERT INTO image (id, path, status, added_at) VALUES "
        "(1, 'a.jpg', 'in_review', '2026-01-01'), (2, 'b.jpg', 'proposed', '2026-01-01')",
        "INSERT INTO label_class (id, name) VALUES (1, 'Arctic fox'), (2, 'raccoon'), "
        "(3, 'timber wolf'), (4, 'toy terrier'), (5, 'typed but unused'), (6, 'tabby')",
    ]
    box = (
        "INSERT INTO box (id, image_id, class_id, x1, y1, x2, y2, origin, state, difficult,"
        " truncated, occluded, pose, verified, created_at, updated_at) VALUES "
        "({id}, {image}, {cls}, 1, 1, 9, 9, '{origin}', '{state}', FALSE, FALSE, FALSE,"
        " 'Unspecified', {verified}, '2026-01-01', '2026-01-01')"
    )
    boxes = [
        (1, 1, 1, "proposal", "proposed", False),  # still a proposal: loses "Arctic fox"
        (2, 1, 2, "human", "accepted", True),  # drawn: raccoon stays
        (3, 1, 3, "proposal", "edited", True),  # an edited proposal: a label, keeps its class
        (4, 2, 1, "proposal", "rejected", True),  # rejected: loses its class
        (5, 2, 6, "proposal", "proposed", False),  # tabby: a proposal only ...
        (9, 2, 2, "proposal", "proposed", False),  # raccoon: a user class, kept
    ]
    events = [
        # toy terrier: named by proposals that were replaced since; tabby: once drawn
        """INSERT INTO event (image_id, box_id, action, detail, at) VALUES
        (1, 1, 'add', '{"class": "Arctic fox", "origin": "proposal"}', '2026-01-01'),
        (2, 4, 'add', '{"class": "Arctic fox", "origin": "proposal"}', '2026-01-01'),
        (2, 7, 'add', '{"class": "toy terrier", "origin": "proposal"}', '2026-01-01'),
        (2, 7, 'delete', '{"class": "toy terrier"}', '2026-01-01'),
        (2, 8, 'add', '{"class": "tabby", "origin": "human"}', '2026-01-01'),
        (2, 8, 'delete', '{"class": "tabby"}', '2026-01-01')""",
    ]
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        for statement in rows:
            conn.execute(text(statement.format(root=folder)))
        for i, image, cls, origin, state, verified in boxes:
            conn.execute(
                text(
                    box.format(
                        id=i, image=image, cls=cls, origin=origin, state=state, verified=verified
                    )
                )
            )
        for statement in events:
            conn.execute(text(statement))
        if backend == "sqlite":  # the last box id handed out, as after deleting boxes 10-12
            conn.execute(text("UPDATE sqlite_sequence SET seq = 12 WHERE name = 'box'"))
        else:
            conn.execute(text("SELECT setval('box_id_seq', 12)"))
    engine.dispose()
    return location


def test_opening_an_old_project_removes_network_classes_and_keeps_labels(old_project, backend):
    with Project.open(old_project) as project:
        assert project.class_records.classes() == [
            "raccoon",
            "timber wolf",
            "typed but unused",
            "tabby",
        ]
        first = {b.id: b for b in project.box_records.boxes(1)}
        assert (first[1].class_name, first[1].hint) == (None, "Arctic fox")
        assert first[2].class_name == "raccoon"
        assert (first[3].class_name, first[3].state) == ("timber wolf", "edited")
        second = {b.id: b for b in project.box_records.boxes(2)}
        assert (second[4].class_name, second[4].hint) == (None, "Arctic fox")
        assert (second[5].class_name, second[5].hint) == (None, "tabby")
        assert second[9].class_name == "raccoon"
        assert project.box_records.add_box(1, "raccoon", (2, 2, 5, 5)) == 13  # ids stay unused
        users = [e["user_name"] for e in project.box_records.events()]
        assert users == [project.user] + [None] * 6  # who logged the old events is unknown
    if backend == "sqlite":  # a server database is not copied (pg_dump is the admin's)
        assert len(list(old_project.parent.glob("project.db.backup-0001-*"))) == 1


def test_a_project_written_by_the_previous_version_is_mended(tmp_path):
    """``tests/data/project-0001-raccoon-session.db`` was written by SaliBox at schema
    revision 0001 (``tests/data/make_project_0001.py`` says how)."""
    db = tmp_path / "project.db"
    shutil.copy(DATA / "project-0001-raccoon-session.db", db)
    with Project.open(db) as project:
        # "Arctic fox", "toy terrier", "kit fox" came from the network and no label uses
        # them; "timber wolf" stays because an edited (accepted) box still has it.
        assert project.class_records.classes() == ["timber wolf", "raccoon"]
        first, second, third = (project.image_by_path(f"raccoon-{i}.jpg") for i in (1, 2, 3))
        assert [(b.class_name, b.state) for b in project.box_records.boxes(first.id)] == [
            ("raccoon", "edited")  # the old app relabelled, then accepted
        ]
        assert [(b.class_name, b.state) for b in project.box_records.boxes(second.id)] == [
            ("timber wolf", "edited"),
            ("timber wolf", "rejected"),
        ]
        rows = project.box_records.boxes(third.id)
        assert [(b.class_name, b.hint, b.state) for b in rows] == [
            (None, "kit fox", "proposed"),
            ("raccoon", None, "accepted"),
        ]
        assert project.box_records.add_box(third.id, "raccoon", (3, 3, 9, 9)) > 7  # ids stay unused
    assert len(list(tmp_path.glob("project.db.backup-0001-*"))) == 1
