"""The statistics view's figures, read from a real SQLite project and its event log."""

from __future__ import annotations

import pytest

from core.services.statistics import EventTally, project_statistics
from core.store import Project


def proposal(project: Project, image_id: int, x: float = 0) -> int:
    return project.box_records.add_box(
        image_id, "cat", (x, 0, x + 10, 10), origin="proposal", state="proposed"
    )


def images(project: Project, count: int) -> list[int]:
    names = [f"im{i:03d}.png" for i in range(count)]
    project.register_images(names)
    return [project.image_by_path(n).id for n in names]


def test_counts_per_status_and_class_and_what_became_of_the_proposals(project):
    a, b, c = images(project, 3)
    project.set_status(a, "done")
    project.set_status(b, "in_review")
    kept, moved, dropped, _waiting = (proposal(project, a, x) for x in (0, 20, 40, 60))
    project.box_records.accept_box(kept)
    project.box_records.edit_box(moved, (20, 0, 35, 12))
    project.box_records.accept_box(moved)  # an edited box accepted stays edited
    project.box_records.reject_box(dropped)
    project.box_records.add_box(b, "dog", (0, 0, 5, 5), origin="human", state="accepted")
    # A pseudo-label stored accepted was reviewed by nobody: not counted.
    project.box_records.add_box(c, "cat", (0, 0, 5, 5), origin="proposal", state="accepted")

    stats = project_statistics(project)

    assert stats.images_per_status["done"] == 1
    assert stats.images_per_status["in_review"] == 1
    assert stats.images_per_status["new"] == 1
    assert sum(stats.images_per_status.values()) == 3
    assert stats.boxes_per_class == {"cat": 3, "dog": 1}
    fates = stats.fates
    assert (fates.accepted, fates.edited, fates.rejected, fates.drawn) == (1, 1, 1, 1)
    assert fates.share("accepted") == pytest.approx(1 / 3)
    assert stats.reviewed_images == 2  # a (reviews) and b (a drawn box), not c


def test_undo_takes_a_review_back_and_later_events_are_read_incrementally(project):
    (a,) = images(project, 1)
    box = proposal(project, a)
    before = project.box_records.boxes(a)[0]
    project.box_records.accept_box(box)
    tally = EventTally()
    assert project_statistics(project, tally).fates.accepted == 1
    seen = tally.last_id
    project.box_records.restore_box(before)  # undo: proposed again
    stats = project_statistics(project, tally)
    assert (stats.fates.accepted, stats.fates.reviewed) == (0, 0)
    assert tally.last_id > seen
    project.box_records.reject_box(box)
    assert project_statistics(project, tally).fates.rejected == 1
    assert project_statistics(project).fates == project_statistics(project, tally).fates


def test_many_events_are_read_across_pages(project):
    ids = images(project, 3)
    boxes = [proposal(project, ids[i % 3], i) for i in range(300)]  # over one page of 256
    for box in boxes[:150]:
        project.box_records.accept_box(box)
    stats = project_statistics(project)
    assert stats.fates.accepted == 150 and stats.fates.reviewed == 150


def test_share_accepted_as_is_per_20_reviewed_images(project):
    ids = images(project, 45)
    for n, image_id in enumerate(ids):
        box = proposal(project, image_id)
        if n < 20 or n % 2:  # all of the first 20, then every other one
            project.box_records.accept_box(box)
        else:
            project.box_records.edit_box(box, (1, 1, 12, 12))
    blocks = project_statistics(project).blocks
    assert [(b.first, b.last) for b in blocks] == [(1, 20), (21, 40), (41, 45)]
    assert blocks[0].accepted_share == 1.0
    assert blocks[1].accepted_share == pytest.approx(10 / 20)
    assert blocks[2].accepted_share == pytest.approx(2 / 5)  # images 41, 43 accepted


def test_learning_curve_reads_each_versions_cross_validated_corloc(project, folder):
    def metrics(images, corloc):
        return {
            "images": images,
            "classes": {
                name: {"choice": "head-probability", "cv_corloc": {"default": 0.1, **values}}
                for name, values in corloc.items()
            },
        }

    first = project.learning_records.add_model_version(
        folder / "v1.pt",
        "efficientnet_lite0",
        ["cat"],
        metrics(8, {"cat": {"head-probability": 0.625}}),
    )
    second = project.learning_records.add_model_version(
        folder / "v2.pt",
        "efficientnet_lite0",
        ["cat", "dog"],
        metrics(20, {"cat": {"head-probability": 0.9}, "dog": {"head-probability": 0.75}}),
    )
    versions = project_statistics(project).versions
    assert [(v.number, v.version_id, v.images) for v in versions] == [
        (1, first, 8),
        (2, second, 20),
    ]
    assert versions[0].corloc == {"cat": 0.625}
    assert versions[1].corloc == {"cat": 0.9, "dog": 0.75}


def test_an_empty_project_has_zeros_and_no_curve(project):
    stats = project_statistics(project)
    assert sum(stats.images_per_status.values()) == 0
    assert stats.fates.reviewed == 0 and stats.fates.share("accepted") is None
    assert stats.blocks == () and stats.versions == ()
