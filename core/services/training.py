"""One training run on a project, with its whole lifecycle: what the app's worker
(:class:`desktop_app.background.training.TrainJob`) and ``python main.py train`` both call.

:func:`train_version` records the run, reads the accepted boxes, computes each labelled
image's :class:`~core.learning.evidence.Evidence` (from ``cache`` when the file has not
changed since, so a retrain passes only new images through the network), fits a
:class:`~core.learning.model.LearnedModel` with :func:`core.learning.trainer.train_model`
and saves it as ``<database folder>/models/model-<run id>.pt``. Only then is the version
recorded and made active. On cancel or failure the run is recorded as such, the partial
file is removed and the active version stays as it was. An image that cannot be read is
skipped and reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.engine.images import load_rgb
from core.engine.proposals import resize_for_network
from core.learning.class_head import LabelledImage
from core.learning.evidence import Evidence, EvidenceMaker
from core.learning.saliency_tuning import SaliencyAlignment
from core.learning.trainer import TrainingCancelled, train_model, training_steps

if TYPE_CHECKING:
    from core.engine.backbones import Backbone
    from core.store import LabelledImageRow, Project

#: Where model files go, under the database folder.
MODELS_FOLDER = "models"
#: Seconds between two renewals of a running training's lease (it lasts two minutes).
RENEW_EVERY = 30.0
#: Keys of the evidence cache: image id → (file stamp, Evidence), and the evidence maker.
EVIDENCE, MAKER = "training.evidence", "training.maker"


@dataclass(frozen=True)
class TrainingOptions:
    """What a run learns from and how.

    Attributes:
        include_unverified: also learn from accepted boxes no person checked
            (pseudo-labels).
        accepted_boxes: how many boxes were accepted when the run was asked for (kept in
            the version's metrics, so the app's retrain trigger counts from there); None:
            count them now.
        align_saliency: also fine-tune the last block with the saliency-alignment loss
            (:class:`core.learning.saliency_tuning.SaliencyAlignment`).
    """

    include_unverified: bool = False
    accepted_boxes: int | None = None
    align_saliency: bool = False


def model_file(project: Project, run_id: int) -> Path:
    """The file a training run writes its model to: ``models/`` in the project's data
    folder (beside an SQLite file; ``<image folder>/.salibox`` for a PostgreSQL project, so
    every annotator's mount reaches it)."""
    return project.data_folder / MODELS_FOLDER / f"model-{run_id}.pt"


def _never() -> bool:
    return False


def train_version(
    project: Project,
    backbone: Backbone,
    options: TrainingOptions = TrainingOptions(),
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] = _never,
    report: Callable[[int, str], None] | None = None,
    cache: MutableMapping[str, Any] | None = None,
    step: Callable[[str], None] | None = None,
) -> int | None:
    """Train a model version on the project's accepted boxes and make it active.

    Args:
        project: the open project.
        backbone: the loaded network whose features the model reads.
        options: see :class:`TrainingOptions`.
        progress: ``progress(done, total)`` after each image's evidence and each step.
        cancelled: polled between images and steps.
        report: ``report(image_id, reason)`` for an image that is skipped.
        cache: kept by the caller between runs (the worker's cache): evidence of images
            whose file has not changed is reused.
        step: ``step(text)`` names each step as it starts: "image 3 of 20", "fold 2 of 5",
            "aligning saliency", "final fit", "saving".

    Returns:
        The new version's id, or None when cancelled (nothing changed but the run's row).

    Raises:
        TrainingBusyError: another user's app is training now (nothing was started).
        Whatever failed (the run is then recorded as failed, with the reason).
    """
    accepted = options.accepted_boxes
    if accepted is None:
        accepted = project.learning_records.count_labelled_boxes(options.include_unverified)
    params = {
        "backbone": backbone.name,
        "include_unverified": options.include_unverified,
        "accepted_boxes": accepted,
        "align_saliency": options.align_saliency,
    }
    run_id = project.learning_records.start_training_run(params)
    path = model_file(project, run_id)
    run = _Run(
        project,
        backbone,
        options,
        progress,
        cancelled,
        report,
        {} if cache is None else cache,
        step,
    )
    try:
        return run.train(run_id, path, accepted)
    except TrainingCancelled:
        path.unlink(missing_ok=True)
        project.learning_records.finish_training_run(run_id, "cancelled")
        return None
    except BaseException as exc:
        path.unlink(missing_ok=True)
        project.learning_records.finish_training_run(
            run_id, "failed", {"error": str(exc) or repr(exc)}
        )
        raise


@dataclass
class _Run:
    """The steps of one :func:`train_version` call."""

    project: Project
    backbone: Backbone
    options: TrainingOptions
    progress: Callable[[int, int], None] | None
    cancelled: Callable[[], bool]
    report: Callable[[int, str], None] | None
    cache: MutableMapping[str, Any]
    step: Callable[[str], None] | None = None
    run_id: int | None = None
    _renewed: float = field(default_factory=time.monotonic)

    def _progress(self, done: int, total: int) -> None:
        """Report progress, and keep the run alive for the other apps (every
        :data:`RENEW_EVERY` seconds at most)."""
        if self.run_id is not None and time.monotonic() - self._renewed > RENEW_EVERY:
            self.project.learning_records.renew_training_run(self.run_id)
            self._renewed = time.monotonic()
        if self.progress is not None:
            self.progress(done, total)

    def _step(self, text: str) -> None:
        if self.step is not None:
            self.step(text)

    def train(self, run_id: int, path: Path, accepted: int) -> int:
        self.run_id = run_id
        rows = self.project.learning_records.labelled_boxes(self.options.include_unverified)
        align = self.options.align_saliency
        total = len(rows) + training_steps(len(rows), align)  # evidence, then the steps
        self._progress(0, total)
        images, skipped = [], []
        for done, row in enumerate(rows, 1):
            if self.cancelled():
                raise TrainingCancelled
            self._step(f"image {done} of {len(rows)}")
            try:
                images.append(self.labelled_image(row))
            except (OSError, ValueError) as exc:  # ImageLoadError is a ValueError
                skipped.append({"image_id": row.image_id, "reason": str(exc)})
                if self.report is not None:
                    self.report(row.image_id, f"skipped: {exc}")
            self._progress(done, total)

        folds = training_steps(len(images), align) - 1 - int(align)

        def step(done: int, steps: int) -> None:
            self._progress(len(rows) + done, len(rows) + steps)  # fewer if images were skipped
            if done < folds:
                self._step(f"fold {done + 1} of {folds}")
            elif done == folds and align:
                self._step("aligning saliency")
            elif done < steps:
                self._step("final fit")

        self._step(f"fold 1 of {folds}")

        alignment = SaliencyAlignment(self.backbone) if align else None
        model = train_model(images, self.backbone.name, step, self.cancelled, alignment)
        if self.cancelled():
            raise TrainingCancelled
        metrics = {**model.metrics, "accepted_boxes": accepted, "skipped": skipped}
        model.metrics = metrics
        self._step("saving")
        model.save(path)
        version_id = self.project.learning_records.add_model_version(
            path, model.backbone, model.classes, metrics
        )
        self.project.learning_records.set_active_model_version(version_id)
        self.project.learning_records.finish_training_run(run_id, "done", metrics, version_id)
        return version_id

    def labelled_image(self, row: LabelledImageRow) -> LabelledImage:
        """One image's accepted boxes with its evidence (cached while the file is unchanged)."""
        path = self.project.root / row.path
        info = path.stat()
        stamp = (info.st_mtime_ns, info.st_size)
        evidence_by_image = self.cache.setdefault(EVIDENCE, {})
        cached = evidence_by_image.get(row.image_id)
        if cached is not None and cached[0] == stamp:
            evidence = cached[1]
        else:
            evidence = self.evidence_of(path)
            evidence_by_image[row.image_id] = (stamp, evidence)
        width, height = evidence.size
        boxes = np.asarray(row.boxes, dtype=np.float64).reshape(-1, 4)
        fractions = np.clip(boxes / [width, height, width, height], 0.0, 1.0)
        return LabelledImage(evidence, fractions, tuple(row.labels))

    def evidence_of(self, path: Path) -> Evidence:
        """One image's evidence; tail inputs (65 kB an image) are kept so saliency
        alignment can be switched on later."""
        maker = self.cache.get(MAKER)
        if maker is None:
            maker = self.cache[MAKER] = EvidenceMaker(self.backbone, keep_tail_input=True)
        rgb = load_rgb(path).rgb
        size = (rgb.shape[1], rgb.shape[0])
        return maker([resize_for_network(rgb, maker.copy_size)], [size])[0]
