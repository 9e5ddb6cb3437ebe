"""The worker jobs the annotator asks for or the review triggers, and what the status bar
says of them: ranking by image score, fine-tuning (on demand and every ``retrain_after``
accepted boxes), the progress of the running jobs and the step they are at.

Ranking and Train now run at :data:`~desktop_app.background.jobs.USER` priority: once the batch
of proposals in hand ends, ahead of the images still queued. A training the review
triggers waits until no image is queued.

The controller holds one :class:`JobDesk` and hands it the worker's finished tasks and
progress reports; maps of a chosen type stay with the controller.
"""

from __future__ import annotations

from collections.abc import Callable

from core.store import Project
from desktop_app.background.jobs import USER, ScoreJob, Task
from desktop_app.background.progress import JobProgress
from desktop_app.background.training import TrainJob
from desktop_app.retraining import RetrainTrigger
from ui.main_window import MainWindow


class JobDesk:
    """Queues jobs with ``submit_task`` and shows their progress in ``window``.

    ``model_changed`` is called when a training made a new model version active, so the
    images not yet reviewed are proposed again.
    """

    def __init__(
        self,
        project: Project,
        window: MainWindow,
        submit_task: Callable[[Task], None],
        model_changed: Callable[[], None],
    ) -> None:
        self.window = window
        self.submit_task = submit_task
        self.model_changed = model_changed
        self.trainer = RetrainTrigger(project)
        self._progress = JobProgress()

    def rank_by_score(self) -> None:
        """Score every image in the worker; the list is sorted by score when it is done."""
        self.submit_task(ScoreJob())
        self.window.statusBar().showMessage("Image scores are computed in the background", 4000)

    def train_now(self, accepted: int | None = None, asked: bool = True) -> None:
        """Queue fine-tuning on the accepted boxes; review goes on meanwhile. Asked for
        (Train now), it starts once the batch of proposals in hand ends; else it runs
        while no image waits for proposals."""
        job = self.trainer.job(accepted)
        if asked:
            job.priority = USER
        self.submit_task(job)
        self.window.statusBar().showMessage(
            "Learning your classes from the accepted boxes in the background", 4000
        )

    def maybe_train(self) -> bool:
        """Queue fine-tuning if enough boxes were accepted since the last; True if queued."""
        accepted = self.trainer.due()
        if accepted is None:
            return False
        self.train_now(accepted, asked=False)
        return True

    def finished(self, task: Task) -> bool:
        """Take a finished training or scoring task; False for a task that is not one."""
        if isinstance(task, TrainJob):
            self.trainer.finished()
            if task.result is not None:
                self.window.statusBar().showMessage(
                    f"Model version {task.result} trained; proposing again with it", 5000
                )
                self.model_changed()
            return True
        if isinstance(task, ScoreJob):
            if task.result is not None:
                self.window.statusBar().showMessage(f"Scored {task.result} images", 5000)
                self.window.image_list.set_sort_order("image_score", True)
            return True
        return False

    def progress(self, label: str, done: int, total: int) -> None:
        """Show the latest running job's progress with an ETA; hide it when every job is
        finished."""
        self._show(self._progress.update(label, done, total))

    def step(self, label: str, text: str) -> None:
        """A running job names its step (the worker's ``step`` signal): the status bar
        shows it instead of the label ("Training model v3: fold 2 of 5 12/26")."""
        self._show(self._progress.step(label, text))

    def training_share(self) -> float | None:
        """How much of the running training is done (0-1), None when none runs."""
        return self._progress.share(TrainJob.label)

    def _show(self, shown: tuple[str, int, int, float | None] | None) -> None:
        if shown is None:
            self.window.set_job(None)
        else:
            self.window.set_job(*shown)

    def shown_job(self) -> str | None:
        """The label of the job the status bar shows (what its Cancel button cancels)."""
        return self._progress.shown()
