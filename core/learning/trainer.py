"""Training: fit the class head, cross-validate each class's localizers, keep the best.

Measured before this was built (issue 6, raccoon, 20 training images): every learned
localizer alone is worse than the zero-shot default with this little data (class-head
CAM 0.70, map ridge 0.73, default 0.79 CorLoc), and picking the best zero-shot recipe on
20 images over-fits (0.72). So a class keeps the default recipe unless another localizer
wins the cross-validation by a clear margin (:data:`MIN_GAIN_IMAGES` images and
:data:`MIN_GAIN_SHARE` of them), which it does where the data support it (several
objects per image: GrabCut from CAM on fruit).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from core.boxes import iou_matrix
from core.learning.class_head import ClassHead, LabelledImage, fit_class_head
from core.learning.evidence import CANDIDATE_RECIPES
from core.learning.localizers import (
    HeadCamLocalizer,
    HeadProbabilityLocalizer,
    Localizer,
    RecipeLocalizer,
    RegressorLocalizer,
)
from core.learning.model import FALLBACK, LearnedModel

#: Folds of the per-class cross-validation (fewer when a class has fewer images).
FOLDS = 5
#: A class needs this many accepted images before anything but the default is chosen.
MIN_IMAGES_TO_SWITCH = 8
#: A challenger must find at least this many more objects in cross-validation ...
MIN_GAIN_IMAGES = 2
#: ... and this share of the class's images more than the default.
MIN_GAIN_SHARE = 0.05

Progress = Callable[[int, int], None]
Cancelled = Callable[[], bool]


class TrainingCancelled(Exception):
    """The caller's ``cancelled()`` turned true; nothing was produced."""


def candidates(head: ClassHead | None) -> list[Localizer]:
    """Fresh, unfitted localizers to compare; the default recipe first."""
    out: list[Localizer] = [RecipeLocalizer(r) for r in CANDIDATE_RECIPES]
    if head is not None:
        out += [HeadProbabilityLocalizer(head), HeadCamLocalizer(head)]
    out += [RegressorLocalizer(r) for r in ("default", "cam")]
    return out


def hit(localizer: Localizer, item: LabelledImage, class_name: str, class_index: int) -> bool:
    """Whether the localizer's top box has IoU > 0.5 with a box of the class (CorLoc)."""
    boxes, _ = localizer.locate(item.evidence, class_index)
    truth = item.boxes[[i for i, n in enumerate(item.labels) if n == class_name]]
    return bool(len(boxes)) and float(iou_matrix(boxes[:1], truth).max()) > 0.5


def folds(n: int, k: int) -> list[np.ndarray]:
    """``k`` interleaved folds of ``range(n)`` (deterministic: review order is kept)."""
    return [np.arange(i, n, k) for i in range(k)]


def cross_validate(
    images: Sequence[LabelledImage],
    classes: Sequence[str],
    cancelled: Cancelled | None = None,
) -> dict[str, dict[str, int]]:
    """Class → localizer name → held-out hits, over ``FOLDS``-fold cross-validation.

    Each fold refits the class head and the regressors on the other folds' images.
    """
    n = len(images)
    k = max(2, min(FOLDS, n))
    hits: dict[str, dict[str, int]] = {c: {} for c in classes}
    for held in folds(n, k):
        if cancelled is not None and cancelled():
            raise TrainingCancelled
        held_set = set(held.tolist())
        train = [im for i, im in enumerate(images) if i not in held_set]
        test = [images[i] for i in held]
        head = _try_head(train, classes)
        for class_index, name in enumerate(classes):
            tests = [im for im in test if name in im.labels]
            if not tests:
                continue
            for loc in candidates(head):
                try:
                    loc.fit(train, name)
                except ValueError:  # no training box of the class in this fold
                    continue
                count = sum(hit(loc, im, name, class_index) for im in tests)
                hits[name][loc.name] = hits[name].get(loc.name, 0) + count
    return hits


def choose(hits: dict[str, int], images: int) -> str:
    """The localizer a class uses: the default unless a challenger beats it clearly."""
    base = hits.get(FALLBACK, 0)
    if images < MIN_IMAGES_TO_SWITCH or not hits:
        return FALLBACK
    need = base + max(MIN_GAIN_IMAGES, math.ceil(MIN_GAIN_SHARE * images))
    best = max(hits, key=lambda name: hits[name])
    return best if hits[best] >= need else FALLBACK


def _try_head(images: Sequence[LabelledImage], classes: Sequence[str]) -> ClassHead | None:
    try:
        return fit_class_head(images, classes)
    except ValueError:
        return None


def train_model(
    images: Sequence[LabelledImage],
    backbone: str,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> LearnedModel:
    """A :class:`LearnedModel` from accepted images (in review order).

    Args:
        images: the accepted images with their boxes.
        backbone: name of the backbone their evidence came from.
        progress: ``progress(done, total)`` over the steps (folds, then the final fit).
        cancelled: polled between steps; when true, :class:`TrainingCancelled` is raised.
    """
    start = time.perf_counter()
    classes = sorted({name for im in images for name in im.labels})
    if not classes:
        raise ValueError("no accepted box to learn from")
    if progress is not None:
        progress(0, 2)
    hits = cross_validate(images, classes, cancelled)
    if progress is not None:
        progress(1, 2)
    if cancelled is not None and cancelled():
        raise TrainingCancelled
    head = _try_head(images, classes)
    localizers: dict[str, Localizer] = {}
    per_class = {}
    for name in classes:
        count = sum(name in im.labels for im in images)
        choice = choose(hits[name], count)
        loc = next(c for c in candidates(head) if c.name == choice)
        localizers[name] = loc.fit(images, name)
        per_class[name] = {
            "images": count,
            "choice": choice,
            "cv_corloc": {k: round(v / count, 4) for k, v in sorted(hits[name].items())},
        }
    if progress is not None:
        progress(2, 2)
    metrics = {
        "images": len(images),
        "boxes": int(sum(len(im.labels) for im in images)),
        "classes": per_class,
        "seconds": round(time.perf_counter() - start, 3),
    }
    return LearnedModel(backbone, head, localizers, metrics)
