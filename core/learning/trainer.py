"""Training: fit the class head, cross-validate each class's localizers, keep the best.

Measured before this was built (raccoon, 20 training images): every learned
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
from dataclasses import dataclass

import numpy as np

from core.engine.boxes import iou_matrix
from core.engine.errors import InputError
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
from core.learning.saliency_tuning import SaliencyAlignment

#: Folds of the per-class cross-validation (fewer when a class has fewer images).
FOLDS = 5
#: A class needs this many accepted images before anything but the default is chosen.
MIN_IMAGES_TO_SWITCH = 8
#: A challenger must find at least this many more objects in cross-validation ...
MIN_GAIN_IMAGES = 2
#: ... and this share of the class's images more than the default, ...
MIN_GAIN_SHARE = 0.05
#: ... or as many hits and a mean top-box IoU higher by this much.
MIN_IOU_GAIN = 0.03

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


def top_iou(localizer: Localizer, item: LabelledImage, class_name: str, class_index: int) -> float:
    """IoU of the localizer's top box with the best-matching box of the class (0 if none)."""
    boxes, _ = localizer.locate(item.evidence, class_index)
    truth = item.boxes[[i for i, n in enumerate(item.labels) if n == class_name]]
    return float(iou_matrix(boxes[:1], truth).max()) if len(boxes) else 0.0


@dataclass
class CvScore:
    """A localizer's held-out results on a class: CorLoc hits (top box IoU > 0.5) and the
    sum of top-box IoUs, over ``images`` images."""

    hits: int = 0
    iou: float = 0.0
    images: int = 0

    def add(self, iou: float) -> None:
        self.hits += iou > 0.5
        self.iou += iou
        self.images += 1

    @property
    def mean_iou(self) -> float:
        return self.iou / max(self.images, 1)


def folds(n: int, k: int) -> list[np.ndarray]:
    """``k`` interleaved folds of ``range(n)`` (deterministic: review order is kept)."""
    return [np.arange(i, n, k) for i in range(k)]


def cross_validate(
    images: Sequence[LabelledImage],
    classes: Sequence[str],
    cancelled: Cancelled | None = None,
    progress: Progress | None = None,
) -> dict[str, dict[str, CvScore]]:
    """Class → localizer name → held-out :class:`CvScore`, over ``FOLDS``-fold
    cross-validation. Each fold refits the class head and the regressors on the other
    folds' images; ``progress(done, folds)`` after each fold."""
    n = len(images)
    k = max(2, min(FOLDS, n))
    scores: dict[str, dict[str, CvScore]] = {c: {} for c in classes}
    for done, held in enumerate(folds(n, k), start=1):
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
                score = scores[name].setdefault(loc.name, CvScore())
                for im in tests:
                    score.add(top_iou(loc, im, name, class_index))
        if progress is not None:
            progress(done, k)
    return scores


def choose(scores: dict[str, CvScore], images: int) -> str:
    """The localizer a class uses: the default unless a challenger beats it clearly.

    A challenger qualifies with at least :data:`MIN_GAIN_IMAGES` (and
    :data:`MIN_GAIN_SHARE`) more held-out hits, or with no fewer hits and a mean top-box
    IoU higher by :data:`MIN_IOU_GAIN`; the best qualifier (hits, then IoU) wins.
    """
    base = scores.get(FALLBACK)
    if images < MIN_IMAGES_TO_SWITCH or base is None:
        return FALLBACK
    need = base.hits + max(MIN_GAIN_IMAGES, math.ceil(MIN_GAIN_SHARE * images))
    qualified = [
        name
        for name, s in scores.items()
        if s.hits >= need or (s.hits >= base.hits and s.mean_iou >= base.mean_iou + MIN_IOU_GAIN)
    ]
    if not qualified:
        return FALLBACK
    return max(qualified, key=lambda name: (scores[name].hits, scores[name].iou))


def _try_head(images: Sequence[LabelledImage], classes: Sequence[str]) -> ClassHead | None:
    try:
        return fit_class_head(images, classes)
    except ValueError:
        return None


def training_steps(images: int, align: bool = False) -> int:
    """How many ``progress`` steps :func:`train_model` reports for this many images."""
    return max(2, min(FOLDS, images)) + 1 + int(align)


def train_model(
    images: Sequence[LabelledImage],
    backbone: str,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    align: SaliencyAlignment | None = None,
) -> LearnedModel:
    """A :class:`LearnedModel` from accepted images (in review order).

    Args:
        images: the accepted images with their boxes.
        backbone: name of the backbone their evidence came from.
        progress: ``progress(done, total)`` over the steps (folds, then the final fit).
        cancelled: polled between steps; when true, :class:`TrainingCancelled` is raised.
        align: also fine-tune the backbone's last block and the class head with the
            saliency-alignment loss (the evidence must hold tail inputs); the chosen
            head localizers then read the tuned features. Off by default: cross-validating
            it would take five tunings per training, so it is judged by the benchmarks.
    """
    start = time.perf_counter()
    classes = sorted({name for im in images for name in im.labels})
    if not classes:
        raise InputError("no accepted box to learn from")
    cv_folds = max(2, min(FOLDS, len(images)))
    total = training_steps(len(images), align is not None)
    step = None if progress is None else (lambda done, _k: progress(done, total))
    scores = cross_validate(images, classes, cancelled, step)
    if cancelled is not None and cancelled():
        raise TrainingCancelled
    head = _try_head(images, classes)
    tail = None
    if align is not None and head is not None:
        tuning_start = time.perf_counter()
        tail = align.tune(images, head)
        head = tail.class_head()
        tuning_seconds = round(time.perf_counter() - tuning_start, 3)
        if progress is not None:
            progress(cv_folds + 1, total)
        if cancelled is not None and cancelled():
            raise TrainingCancelled
    localizers: dict[str, Localizer] = {}
    per_class = {}
    for name in classes:
        count = sum(name in im.labels for im in images)
        choice = choose(scores[name], count)
        loc = next(c for c in candidates(head) if c.name == choice)
        localizers[name] = loc.fit(images, name)
        per_class[name] = {
            "images": count,
            "choice": choice,
            "cv_corloc": {k: round(v.hits / v.images, 4) for k, v in sorted(scores[name].items())},
            "cv_mean_iou": {k: round(v.mean_iou, 4) for k, v in sorted(scores[name].items())},
        }
    if progress is not None:
        progress(total, total)
    metrics = {
        "images": len(images),
        "boxes": int(sum(len(im.labels) for im in images)),
        "classes": per_class,
        "seconds": round(time.perf_counter() - start, 3),
    }
    if tail is not None and align is not None:
        metrics["saliency_alignment"] = {
            "saliency_weight": align.saliency_weight,
            "mean_weight": align.mean_weight,
            "steps": align.steps,
            "seconds": tuning_seconds,
        }
    return LearnedModel(backbone, head, localizers, metrics, tail)
