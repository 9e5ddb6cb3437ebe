"""When the review controller queues fine-tuning: the project's settings and the trigger.

Fine-tuning (:class:`~desktop_app.background.training.TrainJob`) is queued on demand and once
the accepted boxes grew, since the newest version was trained (or since the last training
was queued, which covers runs that failed), by the project's ``retrain_after`` boxes
(:mod:`desktop_app.project_settings`) or by a share of them, whichever is more
(:func:`core.learning.cadence.retrain_due`); one at a time.
"""

from __future__ import annotations

from core.learning.cadence import retrain_due
from core.store import Project
from desktop_app.background.training import TrainJob
from desktop_app.project_settings import load_settings


class RetrainTrigger:
    """Decides when a project is fine-tuned and makes its training jobs.

    Attributes:
        queued: a job it made is queued or running (until :meth:`finished`).
    """

    def __init__(self, project: Project) -> None:
        self.project = project
        self.queued = False  # a TrainJob is queued or running
        self._trained_at = 0  # accepted boxes when the last TrainJob was queued

    def retrain_after(self) -> int:
        """Accepted boxes that trigger fine-tuning; 0: only on demand."""
        return load_settings(self.project).retrain_after

    def job(self, accepted: int | None = None) -> TrainJob:
        """A training job on the ``accepted`` boxes (default: count them), with the
        project's settings; the trigger counts it as queued."""
        if accepted is None:
            accepted = self.project.learning_records.count_labelled_boxes()
        self.queued = True
        self._trained_at = accepted
        chosen = load_settings(self.project)
        return TrainJob(
            chosen.pseudo_labels, accepted_boxes=accepted, align_saliency=chosen.align_saliency
        )

    def due(self) -> int | None:
        """The accepted boxes if enough were accepted since the last training (and none
        is queued), else None."""
        if self.queued:
            return None
        accepted = self.project.learning_records.count_labelled_boxes()
        versions = self.project.learning_records.model_versions()
        trained = int(versions[0].metrics.get("accepted_boxes", 0)) if versions else 0
        if not retrain_due(accepted, max(trained, self._trained_at), self.retrain_after()):
            return None
        return accepted

    def finished(self) -> None:
        """The queued training job ended."""
        self.queued = False
