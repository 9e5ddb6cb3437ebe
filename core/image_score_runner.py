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


def _batches(
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
    group_of: Callable[[int, int], object] | None = None,
    min_group: int = 10,
    batch_size: int = 16,
    literal: bool = False,
    progress: Progress | None = None,
) -> SetScores:
    """Image scores of ``paths`` in two passes over the files.

    Pass 1 adds every image to the reference of its group and to a global reference
    (key :data:`GLOBAL`, the paper's one reference for the whole set); pass 2 scores each
    image against its group's reference when that group has at least ``min_group``
    images, else against the global one. A small group makes a poor reference: an image
    alone in its group matches itself perfectly (measured on raccoon, whose images the
    ImageNet head spreads over dozens of classes: Spearman with proposal IoU −0.08 with
    every group kept, README).

    Args:
        reader: the backbone and its score layers.
        paths: image files.
        group_of: ``(image index, predicted class) → group key``; default the predicted
            class, as before any labels exist. ``None`` adds the image to the global
            reference only.
        min_group: smallest group that gets a reference of its own.
        batch_size: images per forward pass.
        literal: the paper's sum-based threshold (see :mod:`core.image_score`).
        progress: called with the number of images done, in each of the two passes.
    """
    n = len(paths)
    classes = np.full(n, -1, dtype=np.int64)
    confidence = np.full(n, np.nan)
    groups: list = [GLOBAL] * n
    references: dict = {GLOBAL: Reference()}
    problems: list[str] = []
    for indices, x in _batches(reader, paths, batch_size, problems):
        forward = reader(x)
        for j, i in enumerate(indices):
            cls = int(forward.classes[j])
            classes[i], confidence[i] = cls, float(forward.confidence[j])
            one = {k: v[j : j + 1] for k, v in forward.activations.items()}
            references[GLOBAL].add(one)
            key = group_of(i, cls) if group_of else cls
            if key is not None and key != GLOBAL:
                groups[i] = key
                references.setdefault(key, Reference()).add(one)
        if progress:
            progress(len(indices))
    references = {k: r for k, r in references.items() if k == GLOBAL or r.count >= min_group}
    scores = np.full(n, np.nan)
    empty = np.zeros(n, dtype=np.int64)
    for indices, x in _batches(reader, paths, batch_size, None):
        forward = reader(x)
        for j, i in enumerate(indices):
            groups[i] = groups[i] if groups[i] in references else GLOBAL
            result = score_activations(
                {k: v[j : j + 1] for k, v in forward.activations.items()},
                references[groups[i]],
                literal,
            )
            scores[i], empty[i] = float(result.scores[0]), int(result.empty_layers[0])
        if progress:
            progress(len(indices))
    return SetScores(scores, classes, confidence, empty, groups, references, problems)


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
