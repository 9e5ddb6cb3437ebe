"""Scoring a project's images for the review queue, and pseudo-labels from the best ones."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.engine import defaults
from core.engine.backbones import Backbone
from core.engine.errors import InputError
from core.engine.images import ImageLoadError, load_rgb
from core.engine.proposals import Proposer
from core.scoring.image_score import ActivationReader
from core.scoring.image_score_runner import (
    CancelCheck,
    Progress,
    ReferenceBank,
    SetScores,
    review_order,
    score_files,
)
from core.store.models import LABEL_STATES
from core.store.project import ImageRow, Project

#: Box states that make an image labelled for the image score.
LABELLED_STATES = LABEL_STATES


@dataclass
class ProjectScores:
    """Image scores of a project's images, in ``rows`` order (by path)."""

    rows: list[ImageRow]
    labels: list[str | None]
    result: SetScores


def references_file(project: Project, backbone_name: str) -> Path:
    """Where the image score's references of ``backbone_name`` are kept: beside an SQLite
    file (``<db name>.references-<backbone>.pt``), or in a PostgreSQL project's data folder
    under the database's name."""
    stem = project.where.url.database if project.is_server else project.db_path.stem
    return project.data_folder / f"{stem}.references-{backbone_name}.pt"


def score_project(
    project: Project,
    backbone: Backbone,
    batch_size: int = defaults.BATCH_SIZE,
    min_group: int = 10,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> ProjectScores:
    """Score every image of ``project`` and store image score and softmax confidence.

    An image with accepted or edited boxes of a verified person counts as labelled with
    the class of its first such box; see :func:`core.scoring.image_score_runner.score_files` for
    which reference each image is scored against. The references are kept beside the
    database (:func:`references_file`), so a later run reads only new or
    relabelled images in its first pass.

    ``progress`` is called with the number of images done in each pass (two passes: at
    most twice the number of images in all). ``cancelled`` is polled before each batch;
    once it is true :class:`core.scoring.image_score_runner.ScoreCancelled` is raised and neither
    scores nor references are stored.
    """
    rows = project.images(order_by="path")
    labels = []
    for row in rows:
        boxes = [b for b in project.box_records.boxes(row.id, states=LABELLED_STATES) if b.verified]
        labels.append(boxes[0].class_name if boxes else None)
    paths = [project.root / row.path for row in rows]
    reader = ActivationReader(backbone)
    bank_path = references_file(project, backbone.name)
    signature = f"{backbone.name}|{backbone.input_size}|{','.join(reader.layers)}"
    bank = ReferenceBank.load(bank_path, signature)
    result = score_files(
        reader,
        paths,
        labels,
        min_group,
        batch_size,
        progress=progress,
        bank=bank,
        cancelled=cancelled,
    )
    bank_path.parent.mkdir(parents=True, exist_ok=True)  # a server project's data folder
    bank.save(bank_path)
    project.set_scores(
        (row.id, float(s), float(c))
        for row, s, c in zip(rows, result.scores, result.confidence, strict=True)
        if math.isfinite(s)
    )
    return ProjectScores(rows, labels, result)


def add_pseudo_labels(
    project: Project, proposer: Proposer, scores: ProjectScores, alpha: float
) -> int:
    """Accept, as unverified training examples, the top proposal of the best ``alpha``
    fraction (by image score) of each group's unlabelled images.

    The boxes are stored with origin ``proposal``, state ``accepted`` and
    ``verified=False``: not reviewed by a person, and exported as not verified. Their class
    is the group's user class; groups without one (those of a predicted ImageNet class,
    before any labels) get none, since a network's class never becomes the annotator's.
    Images that already have boxes are skipped. Returns the number of boxes added.
    """
    if not 0 < alpha <= 1:
        raise InputError(f"alpha must be in (0, 1], not {alpha}")
    result = scores.result
    by_group: dict = {}
    for i, label in enumerate(scores.labels):
        if label is None and math.isfinite(result.scores[i]):
            by_group.setdefault(result.group[i], []).append(i)
    added = 0
    own = set(project.class_records.classes())
    for group, members in by_group.items():
        if group not in own:
            continue
        ranked = sorted(members, key=lambda i: -result.scores[i])
        for i in ranked[: max(1, round(alpha * len(ranked)))]:
            row = scores.rows[i]
            if project.box_records.boxes(row.id):
                continue
            try:
                image = load_rgb(project.root / row.path)
            except ImageLoadError:
                continue
            (proposals,) = proposer.propose([image.rgb])
            if not proposals.proposals:
                continue
            top = proposals.proposals[0]
            project.box_records.add_box(
                row.id,
                group,
                top.box,
                origin="proposal",
                state="accepted",
                confidence=top.confidence,
                method=top.method,
                verified=False,
            )
            added += 1
    return added


def order_rows(scores: ProjectScores, order: str, seed: int = 0) -> list[int]:
    """Indices into ``scores.rows`` in review order (see ``review_order``)."""
    result = scores.result
    return [int(i) for i in review_order(result.scores, result.confidence, order, seed)]


def empty_layer_share(scores: ProjectScores) -> float:
    """Fraction of scored images with at least one layer floored at EPSILON."""
    scored = np.isfinite(scores.result.scores)
    return float((scores.result.empty_layers[scored] > 0).mean()) if scored.any() else 0.0
