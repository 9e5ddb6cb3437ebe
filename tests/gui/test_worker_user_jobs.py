"""Jobs the annotator asks for run next: a Train now queued behind many images waiting for
proposals starts once the batch in hand ends, and names its steps; the real worker,
backbone and SQLite on small generated images."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt

from desktop_app.background.jobs import BACKGROUND, USER, ProposeJob
from desktop_app.background.training import TrainJob
from tests.helpers.training import labelled_blobs, write_blob
from tests.helpers.worker import LONG

STEP = re.compile(r"Training model v1: (image \d+ of 8|fold \d of 5|final fit|saving)$")


def test_train_now_runs_before_the_queued_proposals_and_names_its_steps(
    qtbot, start, project, folder
):
    labelled_blobs(project, folder, 8)
    names = [f"wait{i}.png" for i in range(40)]
    for seed, name in enumerate(names, 100):
        write_blob(folder / name, seed=seed)
    project.register_images(names)
    waiting = [project.image_by_path(n).id for n in names]
    _thread, worker = start(batch_size=2)
    pending_at_end: list[int] = []
    steps: list[tuple[str, str]] = []

    def finished(task) -> None:  # in the worker thread, as the task ends
        pending_at_end.append(worker.pending())

    worker.task_finished.connect(finished, Qt.ConnectionType.DirectConnection)
    worker.step.connect(lambda label, text: steps.append((label, text)))
    worker.submit([ProposeJob(i, folder / n) for i, n in zip(waiting, names, strict=True)])
    job = TrainJob(asked=True)
    assert job.priority == USER and TrainJob().priority == BACKGROUND
    with qtbot.waitSignal(worker.task_finished, timeout=LONG):
        worker.submit_task(job)

    assert job.error is None and job.result is not None
    # It ran while most of the 40 images still waited (a background training waits
    # until none does).
    assert pending_at_end and pending_at_end[0] > 20
    qtbot.waitUntil(lambda: steps and steps[-1][1].endswith("saving"), timeout=LONG)
    texts = [text for label, text in steps if label == TrainJob.label]
    assert texts[0] == "Training model v1"
    assert all(STEP.match(t) for t in texts[1:]), texts
    assert "Training model v1: fold 2 of 5" in texts and "Training model v1: image 8 of 8" in texts
