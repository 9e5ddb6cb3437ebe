"""The project store (core.store): registering, filtering, sorting and scoring images."""

from __future__ import annotations

import math

import pytest

from core.store import ImageRow
from core.store.project import CHUNK
from tests.helpers.store import image_id

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
    project.box_records.add_box(a, "cat", (0, 0, 5, 5))
    project.box_records.add_box(a, "cat", (1, 1, 5, 5))
    project.box_records.add_box(b, "dog", (0, 0, 5, 5))
    rejected = project.box_records.add_box(
        c, "cat", (0, 0, 5, 5), origin="proposal", state="proposed"
    )
    project.box_records.reject_box(rejected)
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
