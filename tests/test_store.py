"""The project store (core.store): opening, images, classes, boxes, events, threads."""

from __future__ import annotations

import math
import sqlite3
import threading
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from core.store import BoxRow, ImageRow, InvalidBoxError, Project, StoreError
from core.store.project import CHUNK


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "my images"
    path.mkdir()
    return path


@pytest.fixture
def project(folder):
    with Project.open(Project.default_db_path(folder), folder) as opened:
        yield opened


def image_id(project: Project, path: str = "a.jpg") -> int:
    project.register_images([path])
    row = project.image_by_path(path)
    assert row is not None
    return row.id


# --- opening -----------------------------------------------------------------------------------


def test_create_close_reopen_keeps_data(folder):
    db = Project.default_db_path(folder)
    assert db == folder / ".salibox" / "project.db"
    with Project.open(db, folder) as project:
        assert project.root == folder.resolve()
        assert project.db_path == db.resolve()
        project.register_images(["a.jpg", "b/c.jpg"])
        box = project.add_box(project.image_by_path("a.jpg").id, "cat", (1, 2, 30, 40))
        project.set_setting("theme", "dark")
    assert db.is_file()
    with Project.open(db) as project:  # root comes from the file
        assert project.root == folder.resolve()
        assert [im.path for im in project.images()] == ["a.jpg", "b/c.jpg"]
        assert [b.id for b in project.boxes(project.image_by_path("a.jpg").id)] == [box]
        assert project.classes() == ["cat"]
        assert project.setting("theme") == "dark"
        assert project.setting("missing", "fallback") == "fallback"
        assert [e["action"] for e in project.events()] == ["add"]


def test_custom_db_path_and_missing_file_without_root(tmp_path, folder):
    db = tmp_path / "elsewhere" / "labels.db"
    with pytest.raises(StoreError, match="give the image folder"):
        Project.open(db)
    assert not db.parent.exists()
    with Project.open(db, folder) as project:
        assert project.root == folder.resolve()
    assert db.is_file()


def test_root_mismatch_refused(tmp_path, folder):
    db = Project.default_db_path(folder)
    Project.open(db, folder).close()
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(StoreError, match="belongs to image folder") as info:
        Project.open(db, other)
    assert str(db.resolve()) in str(info.value)
    with Project.open(db, folder / "." / ".." / folder.name) as project:  # same folder
        assert project.root == folder.resolve()


def test_root_must_be_a_folder(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        Project.open(tmp_path / "p.db", tmp_path / "nope")
    assert not (tmp_path / "p.db").exists()


def test_closed_project_refuses_calls(project):
    project.close()
    project.close()  # twice is fine
    with pytest.raises(StoreError, match="closed"):
        project.images()


def test_settings_overwrite(project):
    project.set_setting("k", "1")
    project.set_setting("k", "2")
    assert project.setting("k") == "2"
    assert project.setting("nothing") is None


# --- images ------------------------------------------------------------------------------------


def test_register_images_idempotent_with_unicode_and_spaces(project):
    paths = ["a.jpg", "dir with space/été 01.png", "森/木.jpeg", "./x//y.jpg"]
    assert project.register_images(paths) == 4
    assert project.register_images(paths) == 0
    assert project.register_images(["a.jpg", "new one.jpg"]) == 1
    assert project.count_images() == 5
    found = project.image_by_path("dir with space/été 01.png")
    assert isinstance(found, ImageRow)
    assert found.status == "new" and found.width is None and found.box_count == 0
    assert project.image_by_path("x/y.jpg") is not None  # normalised
    assert project.image_by_path("missing.jpg") is None
    assert project.image(found.id) == found


def test_register_images_from_a_generator_across_chunks(project):
    count = CHUNK * 2 + 7
    assert project.register_images(f"d{i % 13}/img_{i}.jpg" for i in range(count)) == count
    assert project.register_images(f"d{i % 13}/img_{i}.jpg" for i in range(count)) == 0
    assert project.count_images() == count


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside.jpg", "a/../../b.jpg", "", "."])
def test_register_refuses_paths_outside_root_and_adds_nothing(project, bad):
    with pytest.raises(ValueError, match="relative"):
        project.register_images(["fine.jpg", bad])
    assert project.count_images() == 0


def test_image_size_and_status(project):
    iid = image_id(project)
    project.set_image_size(iid, 640, 480)
    project.set_status(iid, "done")
    row = project.image(iid)
    assert (row.width, row.height, row.status) == (640, 480, "done")
    with pytest.raises(ValueError, match="status"):
        project.set_status(iid, "finished")
    with pytest.raises(ValueError, match="not positive"):
        project.set_image_size(iid, 0, 10)
    with pytest.raises(KeyError):
        project.set_status(9999, "done")
    with pytest.raises(KeyError):
        project.image(9999)


def test_images_filter_by_status_and_count(project):
    project.register_images([f"{i}.jpg" for i in range(6)])
    for i, status in enumerate(["new", "done", "done", "skipped", "in_review", "new"]):
        project.set_status(project.image_by_path(f"{i}.jpg").id, status)
    assert [im.path for im in project.images(status="done")] == ["1.jpg", "2.jpg"]
    assert project.count_images("done") == 2
    assert project.count_images("proposed") == 0
    assert project.count_images() == 6
    with pytest.raises(ValueError, match="status"):
        project.images(status="bogus")
    with pytest.raises(ValueError, match="status"):
        project.count_images("bogus")


def test_images_filter_by_class_ignores_rejected_boxes(project):
    project.register_images(["a.jpg", "b.jpg", "c.jpg"])
    a, b, c = (project.image_by_path(p).id for p in ("a.jpg", "b.jpg", "c.jpg"))
    project.add_box(a, "cat", (0, 0, 5, 5))
    project.add_box(a, "cat", (1, 1, 5, 5))
    project.add_box(b, "dog", (0, 0, 5, 5))
    rejected = project.add_box(c, "cat", (0, 0, 5, 5), origin="proposal", state="proposed")
    project.reject_box(rejected)
    cats = project.images(class_name="cat")
    assert [(im.path, im.box_count) for im in cats] == [("a.jpg", 2)]
    assert [im.path for im in project.images(class_name="dog")] == ["b.jpg"]
    assert project.images(class_name="bird") == []
    assert project.image(c).box_count == 0
    assert [im.path for im in project.images(status="new", class_name="cat")] == ["a.jpg"]


@pytest.fixture
def scored(project):
    """Five images: scores 0.3, None, 0.1, 0.2, None; confidence the other way round."""
    project.register_images([f"{i}.jpg" for i in range(5)])
    ids = [project.image_by_path(f"{i}.jpg").id for i in range(5)]
    scores = [0.3, None, 0.1, 0.2, None]
    confidences = [None, 0.9, None, 0.5, 0.7]
    project.set_scores(zip(ids, scores, confidences, strict=True))
    for iid, status in zip(ids, ["done", "new", "skipped", "new", "proposed"], strict=True):
        project.set_status(iid, status)
    return project


@pytest.mark.parametrize(
    ("key", "descending", "expected"),
    [
        ("path", False, ["0", "1", "2", "3", "4"]),
        ("path", True, ["4", "3", "2", "1", "0"]),
        ("image_score", False, ["2", "3", "0", "1", "4"]),  # None last, ties by id
        ("image_score", True, ["0", "3", "2", "4", "1"]),  # None last here too
        ("confidence", False, ["3", "4", "1", "0", "2"]),
        ("confidence", True, ["1", "4", "3", "2", "0"]),
        ("status", False, ["1", "3", "4", "0", "2"]),  # workflow order new ... skipped
        ("status", True, ["2", "0", "4", "3", "1"]),
    ],
)
def test_images_sorted_by_each_key(scored, key, descending, expected):
    rows = scored.images(order_by=key, descending=descending)
    assert [im.path.removesuffix(".jpg") for im in rows] == expected


def test_set_scores_is_all_or_nothing(scored):
    first = scored.image_by_path("0.jpg")
    with pytest.raises(KeyError):
        scored.set_scores([(first.id, 0.99, 0.99), (12345, 0.5, 0.5)])
    with pytest.raises(ValueError, match="finite"):
        scored.set_scores([(first.id, math.nan, None)])
    assert scored.image(first.id) == first
    scored.set_scores([(first.id, None, 0.25)])
    assert (scored.image(first.id).image_score, scored.image(first.id).confidence) == (None, 0.25)


def test_images_random_order_and_bad_keys(scored):
    rows = scored.images(order_by="random")
    assert sorted(im.path for im in rows) == [f"{i}.jpg" for i in range(5)]
    with pytest.raises(ValueError, match="sort key"):
        scored.images(order_by="size")
    with pytest.raises(ValueError, match="negative"):
        scored.images(limit=-1)


def test_images_limit_and_offset_page_through_the_order(scored):
    full = scored.images(order_by="image_score", descending=True)
    pages = [
        scored.images(order_by="image_score", descending=True, limit=2, offset=o) for o in (0, 2, 4)
    ]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [im for page in pages for im in page] == full
    assert scored.images(offset=3) == scored.images()[3:]
    assert scored.images(limit=0) == []
    assert [im.path for im in scored.images(status="new", order_by="image_score", limit=1)] == [
        "3.jpg"
    ]


# --- classes -----------------------------------------------------------------------------------


def test_classes_in_creation_order(project):
    assert project.classes() == []
    zebra = project.ensure_class("zebra")
    assert project.ensure_class("apple") > zebra
    assert project.ensure_class(" zebra ") == zebra
    project.add_box(image_id(project), "mango", (0, 0, 1, 1))
    assert project.classes() == ["zebra", "apple", "mango"]
    with pytest.raises(ValueError, match="empty"):
        project.ensure_class("  ")


# --- boxes -------------------------------------------------------------------------------------


def test_box_lifecycle_with_events(project):
    iid = image_id(project)
    start = datetime.now(UTC)
    bid = project.add_box(
        iid,
        "cat",
        (10, 20, 110, 220),
        origin="proposal",
        state="proposed",
        confidence=0.8,
        method="cam",
        verified=False,
    )
    assert project.boxes(iid) == [
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

    project.accept_box(bid)
    assert project.boxes(iid)[0].state == "accepted"
    assert project.boxes(iid)[0].verified
    project.reject_box(bid)
    assert project.boxes(iid)[0].state == "rejected"
    assert project.image(iid).box_count == 0
    project.edit_box(bid, (11, 21, 100, 200), class_name="dog")
    edited = project.boxes(iid)[0]
    assert (edited.state, edited.box, edited.class_name) == ("edited", (11, 21, 100, 200), "dog")
    project.accept_box(bid)
    assert project.boxes(iid)[0].state == "edited"  # still counts as accepted
    assert project.image(iid).box_count == 1
    project.delete_box(bid)
    assert project.boxes(iid) == []

    events = project.events()
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
    assert [e["action"] for e in project.events(limit=2)] == ["delete", "accept"]


def test_box_timestamps(project):
    iid = image_id(project)
    bid = project.add_box(iid, "cat", (0, 0, 5, 5))
    project.edit_box(bid, (1, 1, 5, 5))
    with sqlite3.connect(project.db_path) as conn:
        created, updated = conn.execute(
            "SELECT created_at, updated_at FROM box WHERE id = ?", (bid,)
        ).fetchone()
    assert updated > created


def test_edit_of_a_hand_drawn_box_stays_accepted(project):
    iid = image_id(project)
    bid = project.add_box(iid, "cat", (0, 0, 5, 5))
    project.edit_box(bid, class_name="dog")
    row = project.boxes(iid)[0]
    assert (row.state, row.class_name, row.box) == ("accepted", "dog", (0, 0, 5, 5))
    with pytest.raises(ValueError, match="needs"):
        project.edit_box(bid)


def test_box_ids_are_not_reused_after_delete(project):
    iid = image_id(project)
    first = project.add_box(iid, "cat", (0, 0, 5, 5))
    project.delete_box(first)
    assert project.add_box(iid, "cat", (0, 0, 5, 5)) > first


def test_add_boxes_imports_in_one_transaction(project):
    iid = image_id(project)
    specs = [
        {"class_name": "cat", "box": (0, 0, 5, 5), "origin": "imported", "difficult": True},
        {"class_name": "dog", "box": (1, 1, 6, 6), "origin": "imported", "pose": "Left"},
    ]
    ids = project.add_boxes(iid, specs)
    rows = project.boxes(iid)
    assert [r.id for r in rows] == ids
    assert (rows[0].difficult, rows[1].pose, rows[1].truncated) == (True, "Left", False)
    assert [e["action"] for e in project.events()] == ["import", "import"]
    bad = [{"class_name": "cat", "box": (0, 0, 5, 5)}, {"class_name": "cat", "box": (5, 0, 5, 5)}]
    with pytest.raises(InvalidBoxError):
        project.add_boxes(iid, bad)
    assert len(project.boxes(iid)) == 2
    assert project.classes() == ["cat", "dog"]


def test_boxes_filter_by_state(project):
    iid = image_id(project)
    a = project.add_box(iid, "cat", (0, 0, 5, 5), origin="proposal", state="proposed")
    b = project.add_box(iid, "cat", (0, 0, 6, 6))
    c = project.add_box(iid, "cat", (0, 0, 7, 7), origin="proposal", state="proposed")
    project.reject_box(c)
    assert [r.id for r in project.boxes(iid, states=["proposed"])] == [a]
    assert [r.id for r in project.boxes(iid, states=("accepted", "rejected"))] == [b, c]
    assert project.boxes(iid, states=[]) == []
    with pytest.raises(ValueError, match="state"):
        project.boxes(iid, states=["gone"])


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
        project.add_box(iid, "cat", box)
    assert isinstance(info.value, StoreError) and isinstance(info.value, ValueError)
    good = project.add_box(iid, "cat", (0, 0, 1, 1))
    with pytest.raises(InvalidBoxError):
        project.edit_box(good, box)
    assert project.boxes(iid)[0].box == (0, 0, 1, 1)
    assert [e["action"] for e in project.events()] == ["add"]


def test_unknown_values_and_ids_refused(project):
    iid = image_id(project)
    with pytest.raises(ValueError, match="origin"):
        project.add_box(iid, "cat", (0, 0, 1, 1), origin="robot")
    with pytest.raises(ValueError, match="state"):
        project.add_box(iid, "cat", (0, 0, 1, 1), state="maybe")
    with pytest.raises(ValueError, match="confidence"):
        project.add_box(iid, "cat", (0, 0, 1, 1), confidence=math.nan)
    with pytest.raises(ValueError, match="empty"):
        project.add_box(iid, "", (0, 0, 1, 1))
    with pytest.raises(KeyError):
        project.add_box(iid + 1, "cat", (0, 0, 1, 1))
    for call in (project.accept_box, project.reject_box, project.delete_box):
        with pytest.raises(KeyError):
            call(12345)
    assert project.boxes(iid) == [] and project.events() == []
    assert project.classes() == []  # the refused boxes' class was rolled back too


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=2, unique=True),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=2, unique=True),
)
def test_coordinates_round_trip_exactly(project, xs, ys):
    iid = image_id(project)
    box = (min(xs), min(ys), max(xs), max(ys))
    bid = project.add_box(iid, "cat", box)
    assert next(r.box for r in project.boxes(iid) if r.id == bid) == box


# --- threads and connection settings -----------------------------------------------------------


def test_two_threads_write_concurrently(project):
    ids = [image_id(project, f"{n}.jpg") for n in range(2)]
    barrier, errors, added = threading.Barrier(2), [], [[], []]

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(60):
                bid = project.add_box(ids[n], f"class {n}", (0, 0, i + 1, i + 1), state="proposed")
                project.accept_box(bid)
                added[n].append(bid)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for n in range(2):
        rows = project.boxes(ids[n])
        assert [r.id for r in rows] == added[n]
        assert {r.state for r in rows} == {"accepted"}
    assert len(project.events()) == 240


def test_pragmas_and_foreign_keys_are_on(project):
    with sqlite3.connect(project.db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # stored in the file
    with project._engine.connect() as conn:  # per-connection settings
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000


def test_deleting_an_image_cascades_to_its_boxes_and_events(project):
    """There is no image deletion in the API yet; this checks the schema's cascade with the
    project's own connection settings (foreign keys on)."""
    keep, gone = image_id(project, "keep.jpg"), image_id(project, "gone.jpg")
    project.add_box(keep, "cat", (0, 0, 5, 5))
    project.add_box(gone, "cat", (0, 0, 5, 5))
    with project._engine.begin() as conn:
        conn.execute(text("DELETE FROM image WHERE id = :id"), {"id": gone})
        assert conn.execute(text("SELECT count(*) FROM box")).scalar() == 1
    assert [e["image_id"] for e in project.events()] == [keep]
    assert len(project.boxes(keep)) == 1
