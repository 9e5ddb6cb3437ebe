"""Fine-tuning in the worker (:class:`desktop_app.background.training.TrainJob`) and proposals from
the active model version: the real default backbone, a real SQLite project, small
generated images with one bright object each."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from core.learning.model import LearnedModel
from core.learning.trainer import training_steps
from core.services.training import model_file
from desktop_app.background.jobs import ProposeJob
from desktop_app.background.training import TrainJob
from tests.helpers.training import CLASS, labelled_blobs, write_blob
from tests.helpers.worker import LONG


def train(qtbot, worker, job: TrainJob) -> TrainJob:
    with qtbot.waitSignal(worker.task_finished, timeout=LONG):
        worker.submit_task(job)
    return job


def model_files(project) -> list[str]:
    return sorted(p.name for p in (project.db_path.parent / "models").glob("*"))


def test_a_train_job_makes_an_active_version_that_proposes_the_users_class(
    qtbot, start, project, folder
):
    labelled_blobs(project, folder, 10)
    write_blob(folder / "fresh.png", seed=99)
    project.register_images(["fresh.png"])
    fresh = project.image_by_path("fresh.png").id
    _thread, worker = start()
    progress: list[tuple[str, int, int]] = []
    worker.progress.connect(lambda *args: progress.append(args))

    job = train(qtbot, worker, TrainJob())

    assert job.error is None and not job.was_cancelled
    active = project.learning_records.active_model_version()
    assert active is not None and job.result == active.id
    assert active.classes == (CLASS,) and active.backbone == "efficientnet_lite0"
    assert active.path == f"models/model-{project.learning_records.training_runs()[0].id}.pt"
    assert active.metrics["images"] == 10 and active.metrics["accepted_boxes"] == 10
    assert active.metrics["classes"][CLASS]["images"] == 10
    (run,) = project.learning_records.training_runs()
    assert run.status == "done" and run.model_version_id == active.id
    loaded = LearnedModel.load(active.file)
    assert loaded.classes == [CLASS]
    mine = [p for p in progress if p[0] == TrainJob.label]
    steps = 10 + training_steps(10)  # evidence of each image, then the trainer's steps
    assert mine[0] == (TrainJob.label, 0, steps) and mine[-1] == (TrainJob.label, steps, steps)
    assert all(total == steps for _label, _done, total in mine)

    ready: list[int] = []
    worker.proposals_ready.connect(ready.append)
    worker.submit([ProposeJob(fresh, folder / "fresh.png")])
    qtbot.waitUntil(lambda: fresh in ready, timeout=LONG)
    boxes = project.box_records.boxes(fresh)
    assert boxes and {b.class_name for b in boxes} == {CLASS}
    choice = active.metrics["classes"][CLASS]["choice"]
    assert {b.method for b in boxes} == {choice}


def test_a_cancelled_train_job_leaves_the_previous_version_active(qtbot, start, project, folder):
    labelled_blobs(project, folder, 8)
    _thread, worker = start()
    first = train(qtbot, worker, TrainJob())
    assert first.result is not None
    labelled_blobs(project, folder, 3, start=8)
    files_before = model_files(project)

    def cancel_after_first_image(label: str, done: int, total: int) -> None:
        if label == TrainJob.label and done > 0:
            worker.cancel(TrainJob.label)

    # Direct: runs in the worker thread at once, so the cancel lands between two images.
    worker.progress.connect(cancel_after_first_image, Qt.ConnectionType.DirectConnection)
    second = train(qtbot, worker, TrainJob())

    assert second.was_cancelled and second.result is None and second.error is None
    assert project.learning_records.active_model_version().id == first.result
    assert [v.id for v in project.learning_records.model_versions()] == [first.result]
    assert model_files(project) == files_before
    assert [r.status for r in project.learning_records.training_runs()] == ["cancelled", "done"]


def test_unreadable_images_are_skipped_and_training_on_none_fails_cleanly(
    qtbot, start, project, folder
):
    ids = labelled_blobs(project, folder, 8)
    broken = folder / "blob3.png"
    broken.write_bytes(b"not an image")
    _thread, worker = start()
    failures: list[tuple[int, str]] = []
    worker.failed.connect(lambda image_id, reason: failures.append((image_id, reason)))

    first = train(qtbot, worker, TrainJob())

    assert first.error is None and first.result is not None
    assert [i for i, _ in failures] == [ids[3]]
    assert failures[0][1].startswith(f"{TrainJob.label}: skipped: ")
    version = project.learning_records.active_model_version()
    assert version.metrics["images"] == 7
    assert [s["image_id"] for s in version.metrics["skipped"]] == [ids[3]]

    for image_id in ids:  # now every labelled image is unreadable: nothing to learn from
        (folder / project.image(image_id).path).write_bytes(b"")
    failures.clear()
    second = train(qtbot, worker, TrainJob())

    assert second.error is not None and second.result is None and not second.was_cancelled
    assert failures[-1] == (-1, f"{TrainJob.label}: {second.error}")
    assert project.learning_records.active_model_version().id == first.result
    assert [v.id for v in project.learning_records.model_versions()] == [first.result]
    runs = project.learning_records.training_runs()
    assert [r.status for r in runs] == ["failed", "done"]
    assert runs[0].metrics == {"error": second.error}
    assert not model_file(project, runs[0].id).exists()


def test_saliency_aligned_training_proposes_through_its_tuned_tail(qtbot, start, project, folder):
    labelled_blobs(project, folder, 8)
    write_blob(folder / "fresh.png", seed=98)
    project.register_images(["fresh.png"])
    fresh = project.image_by_path("fresh.png").id
    _thread, worker = start()

    job = train(qtbot, worker, TrainJob(align_saliency=True))

    assert job.error is None and job.result is not None
    active = project.learning_records.active_model_version()
    assert active.metrics["saliency_alignment"]["steps"] > 0
    with pytest.raises(ValueError, match="load it with that backbone"):
        LearnedModel.load(active.file)  # the file holds a tuned tail
    ready: list[int] = []
    worker.proposals_ready.connect(ready.append)
    worker.submit([ProposeJob(fresh, folder / "fresh.png")])
    qtbot.waitUntil(lambda: fresh in ready, timeout=LONG)
    assert {b.class_name for b in project.box_records.boxes(fresh)} == {CLASS}


def test_a_training_while_another_annotator_trains_is_refused_with_their_name(
    qtbot, start, project, folder
):
    from core.store import Project

    labelled_blobs(project, folder, 4)
    with Project.open(project.location, folder, user="bob") as bob:
        bob.learning_records.start_training_run({"backbone": "efficientnet_lite0"})
        _thread, worker = start()
        failures: list[tuple[int, str]] = []
        worker.failed.connect(lambda image_id, reason: failures.append((image_id, reason)))
        refused = train(qtbot, worker, TrainJob())
    assert refused.result is None and "bob is training a model version" in refused.error
    assert failures == [(-1, f"{TrainJob.label}: {refused.error}")]
    assert [r.user_name for r in project.learning_records.training_runs()] == ["bob"]
