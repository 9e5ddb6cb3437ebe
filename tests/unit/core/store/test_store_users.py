"""Who did it: every event and every box change carries the app's user name, on both
backends (SQLite and PostgreSQL, see conftest.py)."""

from __future__ import annotations

import getpass

import pytest
from sqlalchemy import text

from core.store import Project
from core.store.rows import BoxRow
from tests.helpers.store import image_id


def changed_by(project: Project, box_id: int) -> str | None:
    with project.engine.connect() as conn:
        query = text("SELECT updated_by FROM box WHERE id = :id")
        return conn.execute(query, {"id": box_id}).scalar_one()


def test_the_login_name_is_the_default_user(project):
    assert project.user == getpass.getuser()
    box = project.box_records.add_box(image_id(project), "cat", (1, 1, 5, 5))
    assert project.box_records.events()[0]["user_name"] == getpass.getuser()
    assert changed_by(project, box) == getpass.getuser()


def test_every_event_and_box_change_names_its_user(project, folder):
    project.set_user("  ann ")
    assert project.user == "ann"
    image = image_id(project)
    drawn = project.box_records.add_box(image, "cat", (1, 1, 5, 5))
    proposal = project.box_records.add_box(
        image, None, (2, 2, 6, 6), origin="proposal", state="proposed", hint="tabby"
    )
    assert changed_by(project, drawn) == changed_by(project, proposal) == "ann"
    with Project.open(project.location, folder, user="bob") as other:  # a second annotator
        other.box_records.accept_box(proposal, class_name="cat")
        other.box_records.edit_box(drawn, (1, 1, 4, 4))
        other.box_records.set_flags(drawn, difficult=True)
        assert changed_by(other, proposal) == changed_by(other, drawn) == "bob"
    project.box_records.restore_box(
        BoxRow(drawn, image, "cat", (1, 1, 5, 5), "human", "accepted", None, None, False, False,
               False, "Unspecified", True)
    )  # fmt: skip
    assert changed_by(project, drawn) == "ann"
    project.box_records.reject_box(proposal)
    project.box_records.delete_box(proposal)
    events = [(e["action"], e["user_name"]) for e in reversed(project.box_records.events())]
    assert events == [
        ("add", "ann"),
        ("add", "ann"),
        ("accept", "bob"),
        ("edit", "bob"),
        ("flag", "bob"),
        ("restore", "ann"),
        ("reject", "ann"),
        ("delete", "ann"),
    ]


def test_class_changes_that_move_boxes_name_the_user(project):
    image = image_id(project)
    kitten = project.box_records.add_box(image, "kitten", (1, 1, 5, 5))
    guess = project.box_records.add_box(
        image, "dog", (2, 2, 6, 6), origin="proposal", state="proposed"
    )
    project.set_user("carol")
    project.class_records.add_classes(["cat"])
    assert project.class_records.merge_class("kitten", "cat") == 1
    assert changed_by(project, kitten) == "carol"
    project.set_user("dave")
    project.class_records.delete_class("dog")  # the proposal loses the class
    assert changed_by(project, guess) == "dave"


@pytest.mark.parametrize("bad", ["", "   ", "a\nb", "x" * 129])
def test_bad_user_names_are_refused(project, folder, bad):
    with pytest.raises(ValueError, match="user name"):
        project.set_user(bad)
    assert project.user == getpass.getuser()
    with pytest.raises(ValueError, match="user name"):
        Project.open(project.location, folder, user=bad)
