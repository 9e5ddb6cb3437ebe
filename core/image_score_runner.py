"""The image score over a set of image files: two streaming passes, grouped references."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.image_score import ActivationReader, Reference, score_activations
from core.images import ImageLoadError, load_rgb
from core.proposals import resize_for_network

Progress = Callable[[int], None]


@dataclass
class SetScores:
    """Scores of N images (NaN where an image could not be read).

    Attributes:
        scores: ``(N,)`` image scores (see :mod:`core.image_score`).
        classes: ``(N,)`` top-1 predicted class index (-1 unreadable).
        confidence: ``(N,)`` softmax probability of that class.
        empty_layers: ``(N,)`` layers in which the image shared no unit with its reference.
        group: ``(N,)`` key of the reference each image was scored against
            (:data:`GLOBAL` for the whole set).
        references: group key → :class:`Reference`.
        problems: one line per unreadable image.
    """

    scores: np.ndarray
    classes: np.ndarray
    confidence: np.ndarray
    empty_layers: np.ndarray
    group: list
    references: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def image_batches(
    reader: ActivationReader, paths: Sequence[Path], batch_size: int, problems: list[str] | None
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """``(indices, normalised (B, 3, S, S) tensor)`` for the readable images, in order."""
    side = reader.backbone.input_size
    for start in range(0, len(paths), batch_size):
        indices, resized = [], []
        for i in range(start, min(start + batch_size, len(paths))):
            try:
                resized.append(resize_for_network(load_rgb(paths[i]).rgb, side))
                indices.append(i)
            except ImageLoadError as exc:
                if problems is not None:
                    problems.append(str(exc))
        if indices:
            batch = torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).float()
            yield indices, reader.backbone.normalize(batch)


GLOBAL = "*"


def score_files(
    reader: ActivationReader,
    paths: Sequence[Path],
    labels: Sequence[str | None] | None = None,
    min_group: int = 10,
    batch_size: int = 16,
    literal: bool = False,
    progress: Progress | None = None,
) -> SetScores:
    """Image scores of ``paths`` in two passes over the files.

    Pass 1 builds references: one per user class from the labelled images (``labels``),
    one per predicted class from the unlabelled ones (the paper's detection experiment,
    before any labels exist), and a global one from every image (key :data:`GLOBAL`).
    Pass 2 scores an unlabelled image against, in this order: the user class that most
    labelled images predicted as its class carry; its predicted class's group if that has
    at least ``min_group`` images; the global reference. A labelled image is scored
    against its own class. A small group makes a poor reference: an image alone in its
    group matches itself perfectly (raccoon, which the ImageNet head spreads over dozens
    of classes: Spearman with proposal IoU −0.08 with every group kept; README).

    Args:
        reader: the backbone and its score layers.
        paths: image files.
        labels: per image, the user class of its accepted boxes, or ``None``.
        min_group: smallest predicted-class group that gets a reference of its own.
        batch_size: images per forward pass.
        literal: the paper's sum-based threshold (see :mod:`core.image_score`).
        progress: called with the number of images done, in each of the two passes.
    """
    n = len(paths)
    labels = list(labels) if labels is not None else [None] * n
    classes = np.full(n, -1, dtype=np.int64)
    confidence = np.full(n, np.nan)
    groups: list = [GLOBAL] * n
    references: dict = {GLOBAL: Reference()}
    problems: list[str] = []
    for indices, x in image_batches(reader, paths, batch_size, problems):
        forward = reader(x)
        for j, i in enumerate(indices):
            cls = int(forward.classes[j])
            classes[i], confidence[i] = cls, float(forward.confidence[j])
            one = {k: v[j : j + 1] for k, v in forward.activations.items()}
            references[GLOBAL].add(one)
            groups[i] = labels[i] if labels[i] is not None else cls
            references.setdefault(groups[i], Reference()).add(one)
        if progress:
            progress(len(indices))
    user_class = _majority_label(classes, labels)
    keep = {k for k, r in references.items() if isinstance(k, str) or r.count >= min_group}
    references = {k: r for k, r in references.items() if k in keep}
    scores = np.full(n, np.nan)
    empty = np.zeros(n, dtype=np.int64)
    for indices, x in image_batches(reader, paths, batch_size, None):
        forward = reader(x)
        by_reference: dict = {}
        for j, i in enumerate(indices):
            if labels[i] is None:
                groups[i] = next(
                    k for k in (user_class.get(int(classes[i])), groups[i], GLOBAL) if k in keep
                )
            by_reference.setdefault(groups[i], []).append(j)
        for key, rows in by_reference.items():
            result = score_activations(
                {k: v[rows] for k, v in forward.activations.items()}, references[key], literal
            )
            for j, score, layers in zip(rows, result.scores, result.empty_layers, strict=True):
                scores[indices[j]], empty[indices[j]] = float(score), int(layers)
        if progress:
            progress(len(indices))
    return SetScores(scores, classes, confidence, empty, groups, references, problems)


def _majority_label(classes: np.ndarray, labels: list[str | None]) -> dict[int, str]:
    """Predicted class → the user class most labelled images predicted as it carry."""
    votes: dict[int, dict[str, int]] = {}
    for cls, label in zip(classes, labels, strict=True):
        if label is not None and cls >= 0:
            tally = votes.setdefault(int(cls), {})
            tally[label] = tally.get(label, 0) + 1
    return {cls: max(tally, key=tally.__getitem__) for cls, tally in votes.items()}


ORDERS = ("score-desc", "score-asc", "softmax", "random")


def review_order(scores: np.ndarray, confidence: np.ndarray, order: str, seed: int = 0):
    """Indices of images in review order; unscored images (NaN) come last.

    ``score-desc``: most typical first (fast accepts); ``score-asc``: hardest first;
    ``softmax``: the paper's baseline, most confident first; ``random``: seeded shuffle.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")
    if order == "random":
        return np.random.default_rng(seed).permutation(len(scores))
    key = {"score-desc": -scores, "score-asc": scores, "softmax": -confidence}[order]
    key = np.where(np.isnan(key), np.inf, key)
    return np.argsort(key, kind="stable")
