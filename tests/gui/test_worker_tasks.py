"""Jobs other than proposals in the worker thread: priorities, failures, cancel, the image
score and on-demand maps. The worker tests run the real default backbone on a real SQLite
project with small images."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from desktop_app.background.jobs import (
    BACKGROUND,
    MAP,
    USER,
    JobQueue,
    MapJob,
    ProposeJob,
    ScoreJob,
    Task,
    TaskContext,
)
from desktop_app.background.worker import LABEL
from tests.helpers.worker import LONG, job_list


class Named(Task):
    """A task of a given label and priority that returns the backbone's name."""

    def __init__(self, label: str, priority: int = USER, image_id: int = -1) -> None:
        super().__init__()
        self.label, self.priority, self.image_id = label, priority, image_id

    def run(self, ctx: TaskContext) -> str:
        ctx.progress(1, 1)
        return ctx.backbone.name


class Exploding(Named):
    def run(self, ctx: TaskContext) -> str:
        raise RuntimeError("out of coffee")


class Waiting(Named):
    """Runs until cancelled; ``started`` is set once it runs."""

    def __init__(self, label: str = "Waiting") -> None:
        super().__init__(label)
        self.started = threading.Event()

    def run(self, ctx: TaskContext) -> str:
        self.started.set()
        ctx.progress(0, 10)
        while not ctx.cancelled():
            threading.Event().wait(0.01)
        return "should be dropped"


def propose_jobs(*ids: int) -> list[ProposeJob]:
    return [ProposeJob(i, Path(f"{i}.png")) for i in ids]


# --- the queue, without Qt -------------------------------------------------------------------


def test_tasks_run_by_priority_around_proposal_batches():
    queue = JobQueue()
    queue.put_many(propose_jobs(1, 2, 3))
    train, score, heat = Named("train", BACKGROUND), Named("score", USER), Named("map", MAP)
    for task in (train, score, heat):
        queue.put_task(task)
    assert queue.wait(0)
    assert queue.take_next(2, 0) is heat
    assert queue.take_next(2, 0) is score
    assert [j.image_id for j in queue.take_next(2, 0)] == [1, 2]
    assert [j.image_id for j in queue.take_next(2, 0)] == [3]
    assert queue.take_next(2, 0) is train  # background work waits for the proposals
    assert queue.take_next(2, 0) == []


def test_a_task_replaces_a_queued_one_with_its_key_and_clear_tasks_by_label():
    queue = JobQueue()
    first, second = MapJob(1, "a.png", "cam"), MapJob(2, "b.png", "gradcam")
    assert queue.put_task(first) == []
    assert queue.put_task(second) == [first]
    score, other = ScoreJob(), Named("other")
    queue.put_task(score)
    queue.put_task(other)
    assert queue.tasks() == [second, score, other]
    assert queue.clear_tasks(ScoreJob.label) == [score]
    assert queue.clear() == 0  # image jobs only: tasks stay
    assert queue.tasks() == [second, other]
    queue.close()
    assert queue.tasks() == [] and queue.put_task(Named("late")) == []


# --- the worker ------------------------------------------------------------------------------


def test_a_failing_task_is_reported_and_the_queue_goes_on(qtbot, start, project, image_ids):
    _thread, worker = start(batch_size=3)
    failures: list[tuple[int, str]] = []
    finished: list[Task] = []
    ready: list[int] = []
    worker.failed.connect(lambda image_id, reason: failures.append((image_id, reason)))
    worker.task_finished.connect(finished.append)
    worker.proposals_ready.connect(ready.append)
    broken = Exploding("Exploding", MAP, image_id=image_ids[2])
    after = Named("After", BACKGROUND)

    worker.submit(job_list(project, image_ids))
    worker.submit_task(broken)
    worker.submit_task(after)
    qtbot.waitUntil(lambda: after in finished, timeout=LONG)

    assert failures == [(image_ids[2], "Exploding: out of coffee")]
    assert broken.error == "out of coffee" and broken.result is None
    assert not broken.was_cancelled
    assert finished == [broken, after]
    assert after.error is None and after.result == "efficientnet_lite0"
    assert sorted(ready) == image_ids  # every image proposed, before the background task
    assert all(project.image(i).status == "proposed" for i in image_ids)


def test_cancel_stops_the_running_task_and_drops_queued_ones_with_its_label(
    qtbot, start, project, image_ids
):
    _thread, worker = start()
    finished: list[Task] = []
    progress: list[tuple[str, int, int]] = []
    worker.task_finished.connect(finished.append)
    worker.progress.connect(lambda *args: progress.append(args))
    running, queued, other = Waiting(), Waiting(), Named("Other", USER)
    worker.submit_task(running)
    qtbot.waitUntil(running.started.is_set, timeout=LONG)
    worker.submit_task(queued)
    worker.submit_task(other)

    worker.cancel("Waiting")
    qtbot.waitUntil(lambda: len(finished) == 3, timeout=LONG)

    assert set(finished[:2]) == {running, queued}
    assert finished[2] is other and other.result == "efficientnet_lite0"
    for task in (running, queued):
        assert task.was_cancelled and task.result is None and task.error is None
    assert not other.was_cancelled
    assert not queued.started.is_set()
    last = [p for p in progress if p[0] == "Waiting"][-1]
    assert last[1] == last[2]  # the status bar is told it is over


def test_score_job_stores_every_image_score(qtbot, start, project, image_ids):
    _thread, worker = start()
    progress: list[tuple[str, int, int]] = []
    worker.progress.connect(lambda *args: progress.append(args))
    job = ScoreJob(batch_size=4)
    with qtbot.waitSignal(worker.task_finished, timeout=LONG):
        worker.submit_task(job)
    assert job.error is None and not job.was_cancelled
    assert job.result == len(image_ids)
    for image_id in image_ids:
        row = project.image(image_id)
        assert row.image_score is not None and np.isfinite(row.image_score)
        assert 0 < row.confidence <= 1
    mine = [p for p in progress if p[0] == ScoreJob.label]
    assert mine[0] == (ScoreJob.label, 0, 12)
    assert mine[-1] == (ScoreJob.label, 12, 12)
    assert [d for _, d, _ in mine] == sorted(d for _, d, _ in mine)
    assert LABEL not in {p[0] for p in progress}


def test_score_job_can_be_cancelled_and_stores_nothing(qtbot, start, project, image_ids):
    _thread, worker = start()
    job = ScoreJob(batch_size=2)

    def cancel_after_first_batch(label: str, done: int, total: int) -> None:
        if label == ScoreJob.label and done > 0:
            worker.cancel(ScoreJob.label)

    # Direct: runs in the worker thread at once, so the cancel lands between two batches.
    worker.progress.connect(cancel_after_first_batch, Qt.ConnectionType.DirectConnection)
    with qtbot.waitSignal(worker.task_finished, timeout=LONG):
        worker.submit_task(job)
    assert job.was_cancelled and job.result is None and job.error is None
    assert all(project.image(i).image_score is None for i in image_ids)
    assert list(project.db_path.parent.glob("*.references-*")) == []


def test_map_jobs_give_a_map_of_each_type(qtbot, start, project, image_ids):
    _thread, worker = start()
    maps = {}
    for kind in ("cam", "gradcam", "sensitivity", "attention"):
        job = MapJob(image_ids[3], project.image(image_ids[3]).path, kind)  # relative path
        with qtbot.waitSignal(worker.task_finished, timeout=LONG):
            worker.submit_task(job)
        assert job.error is None
        assert job.result.shape == (224, 224) and job.result.dtype == np.float32
        assert job.result.min() >= 0 and job.result.max() == 1
        maps[kind] = job.result
    assert not np.allclose(maps["cam"], maps["sensitivity"], atol=0.05)
    assert not np.allclose(maps["sensitivity"], maps["attention"], atol=0.01)
    assert project.box_records.boxes(image_ids[3]) == []  # a map job proposes nothing
