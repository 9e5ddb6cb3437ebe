"""The store's learning-loop API: training runs, model versions, the active version and
the labelled boxes training reads, on a real SQLite project."""

from __future__ import annotations

import pytest

from core.store import Project
from tests.helpers.store import image_id


def test_training_runs_and_model_versions_round_trip(project, tmp_path):
    assert (
        project.learning_records.model_versions() == []
        and project.learning_records.active_model_version() is None
    )
    run = project.learning_records.start_training_run({"accepted_boxes": 3})
    assert [(r.id, r.status, r.params) for r in project.learning_records.training_runs()] == [
        (run, "running", {"accepted_boxes": 3})
    ]
    inside = project.data_folder / "models" / "model-1.pt"
    outside = tmp_path / "elsewhere.pt"
    first = project.learning_records.add_model_version(
        inside, "efficientnet_lite0", ["raccoon"], {"images": 4}
    )
    second = project.learning_records.add_model_version(
        outside, "efficientnet_lite0", ["a", "b"], None
    )
    project.learning_records.finish_training_run(run, "done", {"seconds": 1.5}, first)

    newest, oldest = project.learning_records.model_versions()
    assert (newest.id, oldest.id) == (second, first)
    assert oldest.path == "models/model-1.pt" and oldest.file == inside
    assert newest.path == outside.as_posix() and newest.file == outside
    assert oldest.classes == ("raccoon",) and oldest.metrics == {"images": 4}
    assert newest.metrics == {} and newest.created_at >= oldest.created_at
    (ended,) = project.learning_records.training_runs()
    assert (ended.status, ended.model_version_id) == ("done", first)
    assert ended.metrics == {"seconds": 1.5}
    assert ended.finished_at is not None

    assert project.learning_records.active_model_version() is None  # adding does not activate
    project.learning_records.set_active_model_version(first)
    assert project.learning_records.active_model_version() == oldest
    project.learning_records.set_active_model_version(None)
    assert project.learning_records.active_model_version() is None
    with pytest.raises(KeyError):
        project.learning_records.set_active_model_version(999)
    with pytest.raises(ValueError):
        project.learning_records.finish_training_run(run, "exploded")
    with pytest.raises(KeyError):
        project.learning_records.finish_training_run(run, "failed", model_version_id=999)


def test_the_active_version_survives_reopening(folder):
    db = Project.default_db_path(folder)
    with Project.open(db, folder) as project:
        version = project.learning_records.add_model_version(
            db.parent / "models" / "m.pt", "bb", ["x"], {}
        )
        project.learning_records.set_active_model_version(version)
    with Project.open(db) as project:
        active = project.learning_records.active_model_version()
        assert active is not None and active.id == version and active.classes == ("x",)


def test_labelled_boxes_are_the_accepted_and_edited_ones_grouped_by_image(project):
    a, b, c = (image_id(project, name) for name in ("a.jpg", "b.jpg", "c.jpg"))
    project.set_image_size(a, 100, 80)
    drawn = project.box_records.add_box(a, "cat", (1, 2, 30, 40))
    proposal = project.box_records.add_box(
        b, "dog", (5, 5, 50, 50), origin="proposal", state="proposed"
    )
    project.box_records.add_box(
        b, "dog", (0, 0, 9, 9), origin="proposal", state="proposed"
    )  # unreviewed
    rejected = project.box_records.add_box(
        c, "dog", (1, 1, 9, 9), origin="proposal", state="proposed"
    )
    project.box_records.reject_box(rejected)
    project.box_records.edit_box(proposal, box=(6, 6, 60, 60))
    project.box_records.add_box(a, "dog", (40, 40, 90, 70), state="accepted")
    pseudo = project.box_records.add_box(c, "cat", (2, 2, 20, 20), state="accepted", verified=False)

    rows = project.learning_records.labelled_boxes()
    assert [(r.image_id, r.path, r.width, r.height) for r in rows] == [
        (a, "a.jpg", 100, 80),
        (b, "b.jpg", None, None),
    ]
    assert rows[0].boxes == ((1, 2, 30, 40), (40, 40, 90, 70))
    assert rows[0].labels == ("cat", "dog")
    assert rows[1].boxes == ((6, 6, 60, 60),) and rows[1].labels == ("dog",)
    assert project.learning_records.count_labelled_boxes() == 3
    assert drawn in {b.id for b in project.box_records.boxes(a)}

    with_pseudo = project.learning_records.labelled_boxes(include_unverified=True)
    assert [r.image_id for r in with_pseudo] == [a, b, c]
    assert with_pseudo[2].boxes == ((2, 2, 20, 20),)
    assert project.learning_records.count_labelled_boxes(include_unverified=True) == 4
    project.box_records.accept_box(pseudo)  # a person checked it
    assert project.learning_records.count_labelled_boxes() == 4
