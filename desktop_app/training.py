"""Fine-tuning in the worker: :class:`TrainJob`, and proposing with the active model.

A :class:`TrainJob` (the worker's :class:`~desktop_app.jobs.Task`, at
:data:`~desktop_app.jobs.BACKGROUND` priority, so it never delays proposals or maps)
reads the project's accepted boxes, computes each labelled image's
:class:`~core.learning.evidence.Evidence` (kept in the worker's cache by image, so a
retrain computes it only for images new since), fits a
:class:`~core.learning.model.LearnedModel` with :func:`core.learning.trainer.train_model`
and saves it as ``<database folder>/models/model-<run id>.pt``. Only then is the model
version recorded and made active; on cancel or failure the run is recorded as such, the
partial file removed and the active version left as it was. An image that cannot be read
is skipped and reported.

:class:`ActiveModel` is what the worker proposes with while a model version is active:
the loaded file and an :class:`~core.learning.evidence.EvidenceMaker` of the recipes it
reads. Torch loads in the worker thread only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from desktop_app.jobs import BACKGROUND, Task, TaskContext

if TYPE_CHECKING:
    import numpy as np

    from core.backbones import Backbone
    from core.learning.evidence import Evidence, EvidenceMaker
    from core.learning.model import LearnedModel
    from core.proposals import ImageProposals
    from core.store import LabelledImageRow, ModelVersionRow, Project

#: The worker cache key of the evidence of labelled images: image id → (stamp, Evidence).
EVIDENCE = "training.evidence"
#: Where model files go, under the database folder.
MODELS_FOLDER = "models"


def model_file(project: Project, run_id: int) -> Path:
    """The file a training run writes its model to."""
    return project.db_path.parent / MODELS_FOLDER / f"model-{run_id}.pt"


class TrainJob(Task):
    """Fit a model version on the accepted boxes and make it active; the result is its id.

    Args:
        include_unverified: also learn from accepted boxes no person checked.
        accepted_boxes: how many boxes were accepted when it was queued (kept in the
            version's metrics, so the retrain trigger counts from there).
        align_saliency: also fine-tune the last block with the saliency-alignment loss
            (:class:`core.learning.saliency_tuning.SaliencyAlignment`).
    """

    label = "Learning your classes"
    priority = BACKGROUND
    key = "train"

    def __init__(
        self,
        include_unverified: bool = False,
        accepted_boxes: int | None = None,
        align_saliency: bool = False,
    ):
        super().__init__()
        self.include_unverified = include_unverified
        self.accepted_boxes = accepted_boxes
        self.align_saliency = align_saliency

    def run(self, ctx: TaskContext) -> int | None:
        from core.learning.trainer import TrainingCancelled

        project = ctx.project
        accepted = self.accepted_boxes
        if accepted is None:
            accepted = project.count_labelled_boxes(self.include_unverified)
        params = {
            "backbone": ctx.backbone.name,
            "include_unverified": self.include_unverified,
            "accepted_boxes": accepted,
            "align_saliency": self.align_saliency,
        }
        run_id = project.start_training_run(params)
        path = model_file(project, run_id)
        try:
            version_id = self._train(ctx, run_id, path, accepted)
        except TrainingCancelled:
            path.unlink(missing_ok=True)
            project.finish_training_run(run_id, "cancelled")
            return None
        except BaseException as exc:
            path.unlink(missing_ok=True)
            project.finish_training_run(run_id, "failed", {"error": str(exc) or repr(exc)})
            raise
        return version_id

    def _train(self, ctx: TaskContext, run_id: int, path: Path, accepted: int) -> int:
        from core.learning.saliency_tuning import SaliencyAlignment
        from core.learning.trainer import TrainingCancelled, train_model, training_steps

        project = ctx.project
        rows = project.labelled_boxes(self.include_unverified)
        # Each image's evidence, then the trainer's steps.
        total = len(rows) + training_steps(len(rows), self.align_saliency)
        ctx.progress(0, total)
        images, skipped = [], []
        for done, row in enumerate(rows, 1):
            if ctx.cancelled():
                raise TrainingCancelled
            try:
                images.append(labelled_image(ctx, row))
            except (OSError, ValueError) as exc:  # ImageLoadError is a ValueError
                skipped.append({"image_id": row.image_id, "reason": str(exc)})
                ctx.report(row.image_id, f"skipped: {exc}")
            ctx.progress(done, total)

        def step(done: int, steps: int) -> None:
            ctx.progress(len(rows) + done, len(rows) + steps)  # fewer if images were skipped

        align = SaliencyAlignment(ctx.backbone) if self.align_saliency else None
        model = train_model(images, ctx.backbone.name, step, ctx.cancelled, align)
        if ctx.cancelled():
            raise TrainingCancelled
        metrics = {**model.metrics, "accepted_boxes": accepted, "skipped": skipped}
        model.metrics = metrics
        model.save(path)
        version_id = project.add_model_version(path, model.backbone, model.classes, metrics)
        project.set_active_model_version(version_id)
        project.finish_training_run(run_id, "done", metrics, version_id)
        return version_id


def labelled_image(ctx: TaskContext, row: LabelledImageRow):
    """A :class:`~core.learning.class_head.LabelledImage` of one image's accepted boxes,
    its evidence from the worker's cache when the file has not changed since."""
    import numpy as np

    from core.learning.class_head import LabelledImage

    path = ctx.project.root / row.path
    stamp = (path.stat().st_mtime_ns, path.stat().st_size)
    cache: dict[int, tuple[tuple[int, int], Evidence]] = ctx.cache.setdefault(EVIDENCE, {})
    cached = cache.get(row.image_id)
    if cached is not None and cached[0] == stamp:
        evidence = cached[1]
    else:
        evidence = evidence_of(ctx, path)
        cache[row.image_id] = (stamp, evidence)
    width, height = evidence.size
    boxes = np.asarray(row.boxes, dtype=np.float64).reshape(-1, 4)
    fractions = np.clip(boxes / [width, height, width, height], 0.0, 1.0)
    return LabelledImage(evidence, fractions, tuple(row.labels))


def evidence_of(ctx: TaskContext, path: Path) -> Evidence:
    """One image's evidence for training, with the maker kept in the worker's cache."""
    from core.images import load_rgb
    from core.learning.evidence import EvidenceMaker
    from core.proposals import resize_for_network

    maker = ctx.cache.get("training.maker")
    if maker is None:
        # Tail inputs (65 kB an image) are kept so saliency alignment can be switched on.
        maker = ctx.cache["training.maker"] = EvidenceMaker(ctx.backbone, keep_tail_input=True)
    rgb = load_rgb(path).rgb
    size = (rgb.shape[1], rgb.shape[0])
    return maker([resize_for_network(rgb, maker.copy_size)], [size])[0]


@dataclass
class ActiveModel:
    """A loaded model version the worker proposes with.

    Attributes:
        version_id: its id in the project.
        model: the loaded file.
        maker: evidence of the recipes the model reads, on the worker's backbone.
    """

    version_id: int
    model: LearnedModel
    maker: EvidenceMaker

    @classmethod
    def load(cls, version: ModelVersionRow, backbone: Backbone) -> ActiveModel:
        """Load a version's file (``weights_only``); ValueError when it cannot be read or
        was trained on another backbone."""
        from core.learning.evidence import EvidenceMaker
        from core.learning.model import LearnedModel

        model = LearnedModel.load(version.file, backbone)
        if model.backbone != backbone.name:
            raise ValueError(
                f"model version {version.id} reads {model.backbone} features, "
                f"proposals use {backbone.name}"
            )
        maker = EvidenceMaker(
            backbone,
            recipes=sorted(model.recipes_needed()),
            keep_tail_input=model.needs_tail_input,
        )
        return cls(version.id, model, maker)

    @property
    def input_size(self) -> int:
        return self.maker.copy_size

    def propose(
        self, images: list[np.ndarray], sizes: list[tuple[int, int]]
    ) -> list[ImageProposals]:
        """Proposals for network-size copies of images whose ``(W, H)`` are ``sizes``,
        as :meth:`core.proposals.Proposer.propose` gives them."""
        evidence = self.maker(images, sizes)
        names = self.maker.backbone.class_names
        return [self.model.propose(e, names) for e in evidence]
