"""The project store (core.store): classes, boxes and their event log."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from core.store import BoxRow, InvalidBoxError, StoreError
from core.store.rows import BoxSpec
from tests.helpers.store import image_id

# --- classes -----------------------------------------------------------------------------------


def test_classes_in_creation_order(project):
    assert project.class_records.classes() == []
    zebra = project.class_records.ensure_class("zebra")
    assert project.class_records.ensure_class("apple") > zebra
    assert project.class_records.ensure_class(" zebra ") == zebra
    project.box_records.add_box(image_id(project), "mango", (0, 0, 1, 1))
    assert project.class_records.classes() == ["zebra", "apple", "mango"]
    with pytest.raises(ValueError, match="empty"):
        project.class_records.ensure_class("  ")


# --- boxes -------------------------------------------------------------------------------------


def test_box_lifecycle_with_events(project):
    iid = image_id(project)
    start = datetime.now(UTC)
    bid = project.box_records.add_box(
        iid,
        "cat",
        (10, 20, 110, 220),
        origin="proposal",
        state="proposed",
        confidence=0.8,
        method="cam",
        verified=False,
    )
    assert project.box_records.boxes(iid) == [
        BoxRow(
            id=bid,
            image_id=iid,
            class_name="cat",
            box=(10.0, 20.0, 110.0, 220.0),
            origin="proposal",
            state="proposed",
            confidence=0.8,
            method="cam",
            difficult=False,
            truncated=False,
            occluded=False,
            pose="Unspecified",
            verified=False,
        )
    ]

    project.box_records.accept_box(bid)
    assert project.box_records.boxes(iid)[0].state == "accepted"
    assert project.box_records.boxes(iid)[0].verified
    project.box_records.reject_box(bid)
    assert project.box_records.boxes(iid)[0].state == "rejected"
    assert project.image(iid).box_count == 0
    project.box_records.edit_box(bid, (11, 21, 100, 200), class_name="dog")
    edited = project.box_records.boxes(iid)[0]
    assert (edited.state, edited.box, edited.class_name) == ("edited", (11, 21, 100, 200), "dog")
    project.box_records.accept_box(bid)
    assert project.box_records.boxes(iid)[0].state == "edited"  # still counts as accepted
    assert project.image(iid).box_count == 1
    project.box_records.delete_box(bid)
    assert project.box_records.boxes(iid) == []

    events = project.box_records.events()
    actions = ["add", "accept", "reject", "edit", "accept", "delete"]
    assert [e["action"] for e in reversed(events)] == actions
    assert all(e["box_id"] == bid and e["image_id"] == iid for e in events)
    times = [e["at"] for e in reversed(events)]
    assert times == sorted(times)
    assert start <= times[0] and times[-1] <= datetime.now(UTC)
    assert events[-1]["detail"]["origin"] == "proposal"
    assert events[-2]["detail"] == {"from": "proposed"}
    edit = next(e for e in events if e["action"] == "edit")["detail"]
    assert edit["before"] == {"class": "cat", "box": [10, 20, 110, 220], "state": "rejected"}
    assert edit["after"] == {"class": "dog", "box": [11, 21, 100, 200], "state": "edited"}
    assert events[0]["detail"]["class"] == "dog"  # the log keeps what was deleted
    assert [e["action"] for e in project.box_records.events(limit=2)] == ["delete", "accept"]


def test_box_timestamps(project):
    iid = image_id(project)
    bid = project.box_records.add_box(iid, "cat", (0, 0, 5, 5))
    project.box_records.edit_box(bid, (1, 1, 5, 5))
    with project.engine.connect() as conn:
        created, updated = conn.execute(
            text("SELECT created_at, updated_at FROM box WHERE id = :id"), {"id": bid}
        ).one()
    assert updated > created


def test_edit_of_a_hand_drawn_box_stays_accepted(project):
    iid = image_id(project)
    bid = project.box_records.add_box(iid, "cat", (0, 0, 5, 5))
    project.box_records.edit_box(bid, class_name="dog")
    row = project.box_records.boxes(iid)[0]
    assert (row.state, row.class_name, row.box) == ("accepted", "dog", (0, 0, 5, 5))
    with pytest.raises(ValueError, match="needs"):
        project.box_records.edit_box(bid)


def test_box_ids_are_not_reused_after_delete(project):
    iid = image_id(project)
    first = project.box_records.add_box(iid, "cat", (0, 0, 5, 5))
    project.box_records.delete_box(first)
    assert project.box_records.add_box(iid, "cat", (0, 0, 5, 5)) > first


def test_add_boxes_imports_in_one_transaction(project):
    iid = image_id(project)
    specs = [
        BoxSpec("cat", (0, 0, 5, 5), origin="imported", difficult=True),
        BoxSpec("dog", (1, 1, 6, 6), origin="imported", pose="Left"),
    ]
    ids = project.box_records.add_boxes(iid, specs)
    rows = project.box_records.boxes(iid)
    assert [r.id for r in rows] == ids
    assert (rows[0].difficult, rows[1].pose, rows[1].truncated) == (True, "Left", False)
    assert [e["action"] for e in project.box_records.events()] == ["import", "import"]
    bad = [BoxSpec("cat", (0, 0, 5, 5)), BoxSpec("cat", (5, 0, 5, 5))]
    with pytest.raises(InvalidBoxError):
        project.box_records.add_boxes(iid, bad)
    assert len(project.box_records.boxes(iid)) == 2
    assert project.class_records.classes() == ["cat", "dog"]


def test_boxes_filter_by_state(project):
    iid = image_id(project)
    a = project.box_records.add_box(iid, "cat", (0, 0, 5, 5), origin="proposal", state="proposed")
    b = project.box_records.add_box(iid, "cat", (0, 0, 6, 6))
    c = project.box_records.add_box(iid, "cat", (0, 0, 7, 7), origin="proposal", state="proposed")
    project.box_records.reject_box(c)
    assert [r.id for r in project.box_records.boxes(iid, states=["proposed"])] == [a]
    assert [r.id for r in project.box_records.boxes(iid, states=("accepted", "rejected"))] == [b, c]
    assert project.box_records.boxes(iid, states=[]) == []
    with pytest.raises(ValueError, match="state"):
        project.box_records.boxes(iid, states=["gone"])


@pytest.mark.parametrize(
    "box",
    [
        (5, 0, 5, 10),
        (6, 0, 5, 10),
        (0, 10, 5, 10),
        (0, 0, math.nan, 1),
        (0, 0, math.inf, 1),
        (0, 0, 1),
        (0, 0, 1, 1, 1),
    ],
)
def test_invalid_boxes_refused(project, box):
    iid = image_id(project)
    with pytest.raises(InvalidBoxError) as info:
        project.box_records.add_box(iid, "cat", box)
    assert isinstance(info.value, StoreError) and isinstance(info.value, ValueError)
    good = project.box_records.add_box(iid, "cat", (0, 0, 1, 1))
    with pytest.raises(InvalidBoxError):
        project.box_records.edit_box(good, box)
    assert project.box_records.boxes(iid)[0].box == (0, 0, 1, 1)
    assert [e["action"] for e in project.box_records.events()] == ["add"]


def test_unknown_values_and_ids_refused(project):
    iid = image_id(project)
    with pytest.raises(ValueError, match="origin"):
        project.box_records.add_box(iid, "cat", (0, 0, 1, 1), origin="robot")
    with pytest.raises(ValueError, match="state"):
        project.box_records.add_box(iid, "cat", (0, 0, 1, 1), state="maybe")
    with pytest.raises(ValueError, match="confidence"):
        project.box_records.add_box(iid, "cat", (0, 0, 1, 1), confidence=math.nan)
    with pytest.raises(ValueError, match="empty"):
        project.box_records.add_box(iid, "", (0, 0, 1, 1))
    with pytest.raises(KeyError):
        project.box_records.add_box(iid + 1, "cat", (0, 0, 1, 1))
    for call in (
        project.box_records.accept_box,
        project.box_records.reject_box,
        project.box_records.delete_box,
    ):
        with pytest.raises(KeyError):
            call(12345)
    assert project.box_records.boxes(iid) == [] and project.box_records.events() == []
    assert project.class_records.classes() == []  # the refused boxes' class was rolled back too


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=2, unique=True),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=2, unique=True),
)
def test_coordinates_round_trip_exactly(project, xs, ys):
    iid = image_id(project)
    box = (min(xs), min(ys), max(xs), max(ys))
    bid = project.box_records.add_box(iid, "cat", box)
    assert next(r.box for r in project.box_records.boxes(iid) if r.id == bid) == box


def test_flags_change_only_the_flags_and_are_logged(project):
    image = image_id(project, "a.jpg")
    box_id = project.box_records.add_box(image, "cat", (1, 2, 30, 40), origin="proposal")
    project.box_records.set_flags(box_id, difficult=True)
    project.box_records.set_flags(box_id, truncated=True)
    project.box_records.set_flags(box_id, difficult=False)
    (row,) = project.box_records.boxes(image)
    assert (row.difficult, row.truncated, row.state, row.box) == (
        False,
        True,
        "accepted",
        (1, 2, 30, 40),
    )
    events = reversed(project.box_records.events())  # newest first
    flags = [e["detail"] for e in events if e["action"] == "flag"]
    assert [f["to"] for f in flags] == [
        {"difficult": True, "truncated": False},
        {"difficult": True, "truncated": True},
        {"difficult": False, "truncated": True},
    ]
    with pytest.raises(KeyError):
        project.box_records.set_flags(box_id + 1, difficult=True)


def test_restore_box_undoes_changes_and_deletion(project):
    image = image_id(project, "a.jpg")
    box_id = project.box_records.add_box(
        image, "cat", (1, 2, 30, 40), origin="proposal", state="proposed"
    )
    (before,) = project.box_records.boxes(image)
    project.box_records.edit_box(box_id, (5, 5, 20, 20), class_name="dog")
    project.box_records.restore_box(before)
    assert project.box_records.boxes(image) == [before]
    project.box_records.delete_box(box_id)
    assert project.box_records.boxes(image) == []
    project.box_records.restore_box(before)
    assert project.box_records.boxes(image) == [before]  # same id, same fields
    assert project.box_records.events(limit=1)[0]["action"] == "restore"


def test_replace_proposals_keeps_reviewed_and_drawn_boxes(project):
    image = image_id(project, "a.jpg")
    old = project.box_records.add_box(
        image, "cat", (1, 1, 9, 9), origin="proposal", state="proposed"
    )
    kept = project.box_records.add_box(
        image, "cat", (2, 2, 8, 8), origin="proposal", state="proposed"
    )
    project.box_records.accept_box(kept)
    drawn = project.box_records.add_box(image, "dog", (3, 3, 7, 7))
    new = project.box_records.replace_proposals(
        image,
        [BoxSpec("cat", (4, 4, 6, 6), origin="proposal", state="proposed", method="cam")],
    )
    ids = [b.id for b in project.box_records.boxes(image)]
    assert old not in ids and kept in ids and drawn in ids and new[0] in ids
    assert project.box_records.replace_proposals(image, []) == []
    assert [b.id for b in project.box_records.boxes(image)] == [kept, drawn]
