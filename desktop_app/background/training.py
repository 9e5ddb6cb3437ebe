"""Training in the worker (:class:`TrainJob`, the lifecycle is
:func:`core.services.training.train_version`), and proposing with the active model.

A :class:`TrainJob` is the worker's :class:`~desktop_app.background.jobs.Task` at
:data:`~desktop_app.background.jobs.BACKGROUND` priority, so it never delays proposals or maps,
unless the annotator asked for it (``asked=True``, Train now): then at
:data:`~desktop_app.background.jobs.USER` priority it starts once the batch of proposals in hand
ends. While it runs it names its step ("Training model v3: fold 2 of 5"). The worker's cache
keeps the evidence of labelled images between runs.

:class:`ActiveModel` is what the worker proposes with while a model version is active:
the loaded file and an :class:`~core.learning.evidence.EvidenceMaker` of the recipes it
reads. Torch loads in the worker thread only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop_app.background.jobs import BACKGROUND, USER, Task, TaskContext

if TYPE_CHECKING:
    import numpy as np

    from core.engine.backbones import Backbone
    from core.engine.proposals import ImageProposals
    from core.learning.evidence import EvidenceMaker
    from core.learning.model import LearnedModel
    from core.store import ModelVersionRow


class TrainJob(Task):
    """Fit a model version on the accepted boxes and make it active, in the worker
    (:func:`core.services.training.train_version`); the result is its id, None when
    cancelled.

    Args: the fields of :class:`core.services.training.TrainingOptions`; ``asked``: the
    annotator asked for it (runs before queued proposals, not after them).
    """

    label = "Learning your classes"
    priority = BACKGROUND
    key = "train"

    def __init__(
        self,
        include_unverified: bool = False,
        accepted_boxes: int | None = None,
        align_saliency: bool = False,
        asked: bool = False,
    ):
        super().__init__()
        self.include_unverified = include_unverified
        self.accepted_boxes = accepted_boxes
        self.align_saliency = align_saliency
        self.priority = USER if asked else BACKGROUND

    def run(self, ctx: TaskContext) -> int | None:
        from core.services.training import TrainingOptions, train_version

        versions = ctx.project.learning_records.model_versions()  # newest first
        title = f"Training model v{versions[0].id + 1 if versions else 1}"
        ctx.step(title)

        def step(text: str) -> None:
            ctx.step(f"{title}: {text}")

        options = TrainingOptions(self.include_unverified, self.accepted_boxes, self.align_saliency)
        return train_version(
            ctx.project,
            ctx.backbone,
            options,
            ctx.progress,
            ctx.cancelled,
            ctx.report,
            ctx.cache,
            step,
        )


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
        as :meth:`core.engine.proposals.Proposer.propose` gives them."""
        evidence = self.maker(images, sizes)
        names = self.maker.backbone.class_names
        return [self.model.propose(e, names) for e in evidence]
