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
from core.learning.dense import DEFAULT_THRESHOLD, DenseDetector, ImageRows, fit_dense_detector
from core.learning.evidence import CANDIDATE_RECIPES, Evidence
from core.learning.localizers import (
    DenseLocalizer,
    HeadCamLocalizer,
    HeadProbabilityLocalizer,
    Localizer,
    RecipeLocalizer,
    RegressorLocalizer,
)
from core.learning.model import FALLBACK, LearnedModel
from core.learning.refine import BoxRefiner, fit_box_refiner
from core.learning.saliency_tuning import SaliencyAlignment

#: Folds of the per-class cross-validation (fewer when a class has fewer images).
FOLDS = 5
#: A class needs this many accepted images before anything but the default is chosen ...
MIN_IMAGES_TO_SWITCH = 8
#: ... or, with several objects per image, this many held-out objects (3 aquarium images
#: of jellyfish hold 27).
MIN_BOXES_TO_SWITCH = 20
#: A challenger must find at least this many more objects in cross-validation ...
MIN_GAIN_IMAGES = 2
#: ... and this share of the class's images more than the default, ...
MIN_GAIN_SHARE = 0.05
#: ... or as many hits and a mean top-box IoU higher by this much.
MIN_IOU_GAIN = 0.03
#: A class with at least this many objects per image is judged by every object found.
MANY_OBJECTS = 1.25
#: The dense detector proposes at most this many times the most objects of the class
#: that one accepted image holds (at least one more).
CAP_FACTOR = 1.5

Progress = Callable[[int, int], None]
Cancelled = Callable[[], bool]


class TrainingCancelled(Exception):
    """The caller's ``cancelled()`` turned true; nothing was produced."""


def candidates(head: ClassHead | None, detector: DenseDetector | None = None) -> list[Localizer]:
    """Fresh, unfitted localizers to compare; the default recipe first."""
    out: list[Localizer] = [RecipeLocalizer(r) for r in CANDIDATE_RECIPES]
    if head is not None:
        out += [HeadProbabilityLocalizer(head), HeadCamLocalizer(head)]
    out += [RegressorLocalizer(r) for r in ("default", "cam")]
    if detector is not None:
        out.append(DenseLocalizer(detector, threshold=CV_THRESHOLD))
    return out


#: The score floor of the dense detector in cross-validation, low enough that the
#: threshold can then be chosen from its held-out detections.
CV_THRESHOLD = 0.1


def matched(boxes: np.ndarray, truth: np.ndarray) -> int:
    """How many ``truth`` boxes one of ``boxes`` (best first) covers at IoU > 0.5, each
    box serving one object (greedy, as the Pascal VOC criterion)."""
    if len(boxes) == 0 or len(truth) == 0:
        return 0
    iou = iou_matrix(boxes, truth)
    taken: set[int] = set()
    for row in iou:
        free = [j for j in np.argsort(-row) if j not in taken and row[j] > 0.5]
        if free:
            taken.add(int(free[0]))
    return len(taken)


@dataclass
class CvScore:
    """A localizer's held-out results on a class, over ``images`` images: CorLoc hits (top
    box IoU > 0.5), the sum of top-box IoUs, and every object counted: ``found`` of
    ``objects`` with at most as many boxes as the image has objects of the class, and
    ``proposed`` boxes in all."""

    hits: int = 0
    iou: float = 0.0
    images: int = 0
    found: int = 0
    objects: int = 0
    proposed: int = 0

    def add(self, boxes: np.ndarray, truth: np.ndarray) -> None:
        top = float(iou_matrix(boxes[:1], truth).max()) if len(boxes) else 0.0
        self.hits += top > 0.5
        self.iou += top
        self.images += 1
        self.found += matched(boxes[: len(truth)], truth)
        self.objects += len(truth)
        self.proposed += len(boxes)

    @property
    def mean_iou(self) -> float:
        return self.iou / max(self.images, 1)

    @property
    def recall(self) -> float:
        """Share of the objects found with as many boxes as objects."""
        return self.found / max(self.objects, 1)

    @property
    def precision(self) -> float:
        """Share of the boxes proposed that found an object (at most one each)."""
        return min(self.found, self.proposed) / max(self.proposed, 1)


def folds(n: int, k: int) -> list[np.ndarray]:
    """``k`` interleaved folds of ``range(n)`` (deterministic: review order is kept)."""
    return [np.arange(i, n, k) for i in range(k)]


def cross_validate(
    images: Sequence[LabelledImage],
    classes: Sequence[str],
    cancelled: Cancelled | None = None,
    progress: Progress | None = None,
    rows: dict[int, ImageRows | None] | None = None,
) -> tuple[dict[str, dict[str, CvScore]], dict[str, float]]:
    """Class → localizer name → held-out :class:`CvScore`, over ``FOLDS``-fold
    cross-validation, and class → the dense detector's score threshold with the best
    held-out F1. Each fold refits the class head, the regressors and the dense detector on
    the other folds' images; ``progress(done, folds)`` after each fold. ``rows``: the
    images' dense-detector rows by ``id`` (:func:`~core.learning.dense.fit_dense_detector`),
    filled here; pass a dict to reuse them after."""
    n = len(images)
    k = max(2, min(FOLDS, n))
    rows = {} if rows is None else rows  # each image's dense rows, read once
    scores: dict[str, dict[str, CvScore]] = {c: {} for c in classes}
    dense_hits: dict[str, list[tuple[float, bool]]] = {c: [] for c in classes}
    dense_objects = dict.fromkeys(classes, 0)
    for done, held in enumerate(folds(n, k), start=1):
        if cancelled is not None and cancelled():
            raise TrainingCancelled
        held_set = set(held.tolist())
        train = [im for i, im in enumerate(images) if i not in held_set]
        test = [images[i] for i in held]
        head = _try_head(train, classes)
        detector = _try_detector(train, classes, rows)
        passes = (
            {}
            if detector is None
            else {
                id(im): detector.score_cells(im.evidence.dense)
                for im in test
                if im.evidence.dense is not None
            }
        )
        for class_index, name in enumerate(classes):
            tests = [im for im in test if name in im.labels]
            if not tests:
                continue
            for loc in candidates(head, detector):
                try:
                    loc.fit(train, name)
                except ValueError:  # no training box of the class in this fold
                    continue
                score = scores[name].setdefault(loc.name, CvScore())
                for im in tests:
                    truth = im.boxes[[i for i, label in enumerate(im.labels) if label == name]]
                    if isinstance(loc, DenseLocalizer):
                        cells = passes.get(id(im))
                        boxes, found_scores, _ = loc.detect(im.evidence, cells=cells)
                        dense_hits[name] += detections(boxes, found_scores, truth)
                        dense_objects[name] += len(truth)
                    else:
                        boxes = loc.locate(im.evidence, class_index)[0]
                    score.add(boxes, truth)
        if progress is not None:
            progress(done, k)
    thresholds = {name: best_threshold(dense_hits[name], dense_objects[name]) for name in classes}
    return scores, thresholds


def detections(
    boxes: np.ndarray, scores: np.ndarray, truth: np.ndarray
) -> list[tuple[float, bool]]:
    """``(score, true positive)`` of each detection, best first: a detection is true when
    it covers at IoU > 0.5 an object no better detection covers."""
    out, taken = [], set()
    iou = iou_matrix(boxes, truth) if len(boxes) and len(truth) else np.zeros((len(boxes), 0))
    for i, score in enumerate(scores):
        free = [j for j in np.argsort(-iou[i]) if j not in taken and iou[i, j] > 0.5]
        if free:
            taken.add(int(free[0]))
        out.append((float(score), bool(free)))
    return out


def best_threshold(hits: list[tuple[float, bool]], objects: int) -> float:
    """The score threshold with the best F1 over held-out detections (true positives
    against the ``objects`` to find); the default when there are none."""
    if not hits or objects == 0:
        return DEFAULT_THRESHOLD
    ranked = sorted(hits, key=lambda h: -h[0])
    tp = np.cumsum([h[1] for h in ranked])
    kept = np.arange(1, len(ranked) + 1)
    f1 = 2 * tp / (kept + objects)
    best = int(np.argmax(f1))
    return max(CV_THRESHOLD, ranked[best][0])


def proposal_cap(images: Sequence[LabelledImage], name: str) -> int:
    """How many boxes of class ``name`` an image may be proposed: :data:`CAP_FACTOR` times
    the most any accepted image holds, and at least one more than that."""
    most = max((im.labels.count(name) for im in images), default=0)
    return max(most + 1, math.ceil(CAP_FACTOR * most))


def choose(scores: dict[str, CvScore], images: int) -> str:
    """The localizer a class uses: the default unless a challenger beats it clearly.

    For a class with about one object per image a "hit" is an image whose top box is
    right (CorLoc); for a class with several (:data:`MANY_OBJECTS` per image or more) it
    is an object found with as many boxes as objects, so every object counts. A
    challenger qualifies with at least :data:`MIN_GAIN_IMAGES` (and
    :data:`MIN_GAIN_SHARE` of the hits possible) more held-out hits, or with no fewer hits
    and a mean top-box IoU higher by :data:`MIN_IOU_GAIN`; the best qualifier (hits, then
    precision, then IoU) wins.
    """
    base = scores.get(FALLBACK)
    if base is None:
        return FALLBACK
    many = base.objects >= MANY_OBJECTS * max(base.images, 1)
    enough = images >= MIN_IMAGES_TO_SWITCH or (many and base.objects >= MIN_BOXES_TO_SWITCH)
    if not enough:
        return FALLBACK

    def hits(s: CvScore) -> int:
        return s.found if many else s.hits

    possible = base.objects if many else images
    need = hits(base) + max(MIN_GAIN_IMAGES, math.ceil(MIN_GAIN_SHARE * possible))
    qualified = [
        name
        for name, s in scores.items()
        if hits(s) >= need or (hits(s) >= hits(base) and s.mean_iou >= base.mean_iou + MIN_IOU_GAIN)
    ]
    if not qualified:
        return FALLBACK
    return max(qualified, key=lambda n: (hits(scores[n]), scores[n].precision, scores[n].iou))


def _try_head(images: Sequence[LabelledImage], classes: Sequence[str]) -> ClassHead | None:
    try:
        return fit_class_head(images, classes)
    except ValueError:
        return None


def _try_detector(
    images: Sequence[LabelledImage],
    classes: Sequence[str],
    rows: dict[int, ImageRows | None] | None = None,
) -> DenseDetector | None:
    try:
        return fit_dense_detector(images, classes, rows=rows)
    except ValueError:  # no dense features (another backbone) or no box yet
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
    rows: dict[int, ImageRows | None] = {}
    scores, thresholds = cross_validate(images, classes, cancelled, step, rows)
    if cancelled is not None and cancelled():
        raise TrainingCancelled
    head = _try_head(images, classes)
    detector = _try_detector(images, classes, rows)
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
        loc = next(c for c in candidates(head, detector) if c.name == choice)
        localizers[name] = loc.fit(images, name)
        if isinstance(loc, DenseLocalizer):
            loc.threshold = thresholds[name]
            loc.cap = proposal_cap(images, name)
        ranked = sorted(scores[name].items())
        per_class[name] = {
            "images": count,
            "choice": choice,
            "cv_corloc": {k: round(v.hits / v.images, 4) for k, v in ranked},
            "cv_mean_iou": {k: round(v.mean_iou, 4) for k, v in ranked},
            "cv_recall": {k: round(v.recall, 4) for k, v in ranked},
            "cv_precision": {k: round(v.precision, 4) for k, v in ranked},
            "objects_per_image": round(sum(im.labels.count(name) for im in images) / count, 3),
            "dense_threshold": round(thresholds[name], 4),
            "dense_cap": proposal_cap(images, name),
        }
    refiner, refiner_metrics = validated_refiner(images, localizers, classes)
    if progress is not None:
        progress(total, total)
    metrics = {
        "images": len(images),
        "boxes": int(sum(len(im.labels) for im in images)),
        "classes": per_class,
        "refiner": refiner_metrics,
        "seconds": round(time.perf_counter() - start, 3),
    }
    if tail is not None and align is not None:
        metrics["saliency_alignment"] = {
            "saliency_weight": align.saliency_weight,
            "mean_weight": align.mean_weight,
            "steps": align.steps,
            "seconds": tuning_seconds,
        }
    return LearnedModel(backbone, head, localizers, metrics, tail, refiner)


#: The box refiner is kept when, on held-back images, it raises the share of matched
#: proposals with IoU ≥ 0.7 (what an annotator accepts as is) by at least this much.
MIN_REFINER_GAIN = 0.02


def validated_refiner(
    images: Sequence[LabelledImage], localizers: dict[str, Localizer], classes: Sequence[str]
) -> tuple[BoxRefiner | None, dict]:
    """A box refiner fitted on every image, if one fitted on half of them makes the other
    half's proposals tighter: the share of proposals (matched to an accepted box at IoU
    ≥ 0.5) with IoU ≥ 0.7 rises by :data:`MIN_REFINER_GAIN`. Returns it (or None) and
    the figures."""

    def locate(evidence: Evidence, name: str) -> np.ndarray:
        return localizers[name].locate(evidence, classes.index(name))[0]

    fit_half, check_half = list(images[0::2]), list(images[1::2])
    trial = fit_box_refiner(fit_half, locate)
    if trial is None:
        return None, {"used": False, "reason": "too few pairs"}
    before = after = matched_boxes = 0
    for item in check_half:
        for name in sorted(set(item.labels)):
            truth = item.boxes[[i for i, n in enumerate(item.labels) if n == name]]
            boxes = np.asarray(locate(item.evidence, name), float).reshape(-1, 4)
            if len(boxes) == 0:
                continue
            refined = trial.refine(item.evidence, boxes)
            iou_before = iou_matrix(boxes, truth).max(axis=1)
            iou_after = iou_matrix(refined, truth).max(axis=1)
            use = iou_before >= 0.5
            matched_boxes += int(use.sum())
            before += int((iou_before[use] >= 0.7).sum())
            after += int((iou_after[use] >= 0.7).sum())
    share_before = before / max(matched_boxes, 1)
    share_after = after / max(matched_boxes, 1)
    figures = {
        "checked_boxes": matched_boxes,
        "iou70_before": round(share_before, 4),
        "iou70_after": round(share_after, 4),
    }
    if matched_boxes == 0 or share_after < share_before + MIN_REFINER_GAIN:
        return None, {"used": False, **figures}
    return fit_box_refiner(images, locate), {"used": True, **figures}
