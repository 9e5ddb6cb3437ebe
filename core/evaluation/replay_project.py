"""The simulated annotator's project: the replayed images in a real project store, so the
simulator trains through the same service as the app
(:func:`core.services.training.train_version`).

Each reviewed image's ground-truth boxes are stored as the annotator's accepted boxes;
a training run reads them back, takes each image's evidence from the cache this object
fills up front (so no image passes through the network again), saves a model version and
makes it active, exactly as a run in the app does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from core.engine.backbones import Backbone
from core.learning.evidence import Evidence
from core.learning.model import LearnedModel
from core.services.training import EVIDENCE, TrainingOptions, train_version
from core.store import Project
from core.store.rows import BoxSpec


class ReplayProject:
    """A project in ``folder`` (created there, ``replay.db``) over the replayed images.

    Args:
        folder: where the database and model files go (a temporary folder).
        paths: the image files, one per evidence; their common folder is the project's
            image folder.
        evidence: each image's evidence
            (from :func:`~core.evaluation.simulation_data.load_replay`).
        backbone: the network the evidence came from.
        align_saliency: train with the saliency-alignment loss (evidence with tail inputs).
    """

    def __init__(
        self,
        folder: Path,
        paths: Sequence[Path],
        evidence: Sequence[Evidence],
        backbone: Backbone,
        align_saliency: bool = False,
    ) -> None:
        if len(paths) != len(evidence):
            raise ValueError(f"{len(paths)} paths for {len(evidence)} evidence items")
        absolute = [Path(p).resolve() for p in paths]
        root = Path(os.path.commonpath([p.parent for p in absolute])) if absolute else folder
        self.project = Project.open(folder / "replay.db", root)
        self.backbone = backbone
        self.options = TrainingOptions(align_saliency=align_saliency)
        relative = [p.relative_to(root).as_posix() for p in absolute]
        self.project.register_images(relative)
        self.image_ids = [self._image_id(r) for r in relative]
        self.cache: dict = {EVIDENCE: {}}
        for image_id, path, ev in zip(self.image_ids, absolute, evidence, strict=True):
            info = path.stat()
            self.cache[EVIDENCE][image_id] = ((info.st_mtime_ns, info.st_size), ev)

    def _image_id(self, rel_path: str) -> int:
        row = self.project.image_by_path(rel_path)
        assert row is not None  # registered just before
        return row.id

    def label(self, index: int, boxes: Sequence[Sequence[float]], labels: Sequence[str]) -> None:
        """The annotator finished image ``index``: its boxes (pixels) are accepted."""
        image_id = self.image_ids[index]
        self.project.class_records.add_classes(sorted(set(labels)))
        specs = [BoxSpec(n, tuple(b)) for b, n in zip(boxes, labels, strict=True)]
        self.project.box_records.add_boxes(image_id, specs)
        self.project.set_status(image_id, "done")

    def train(self) -> LearnedModel:
        """Train a version on every accepted box, as the app does, and load it."""
        version_id = train_version(self.project, self.backbone, self.options, cache=self.cache)
        assert version_id is not None  # nothing cancels a replay
        version = self.project.learning_records.active_model_version()
        assert version is not None and version.id == version_id
        return LearnedModel.load(version.file, self.backbone)

    def close(self) -> None:
        self.project.close()

    def __enter__(self) -> ReplayProject:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
