"""Localisation measures: CorLoc, mean IoU of the top proposal, recall at IoU 0.5, and
the COCO detection measures (AP50, AP, recall at 1 / #objects / 10 proposals per image)
computed by pycocotools, the COCO team's own implementation."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from core.engine.boxes import iou_matrix

IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class ImageOutcome:
    """How one image's proposals matched its ground truth.

    Attributes:
        top_iou: IoU of the top proposal with its best-matching ground-truth box (0 when
            there is no proposal).
        recalled: ground-truth objects found by any proposal at IoU > 0.5.
        objects: ground-truth objects in the image.
    """

    top_iou: float
    recalled: int
    objects: int


@dataclass(frozen=True)
class Summary:
    """Figures over a set of images (fractions in 0-1, speed in images per second)."""

    images: int
    corloc: float
    mean_iou: float
    recall: float
    images_per_second: float
    detection: DetectionMeasures | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DetectionMeasures:
    """COCO-style figures over a set of images, class-agnostic (every box is "object"),
    from pycocotools' ``COCOeval`` (a match needs IoU ≥ the threshold; CorLoc's > 0.5).

    Attributes:
        ap50: average precision at IoU 0.5 (101-point interpolation, ≤ 100 boxes an image).
        ap: AP averaged over IoU 0.50:0.05:0.95 (COCO's primary measure).
        recall_at_1: share of objects found at IoU 0.5 by each image's best proposal.
        recall_at_objects: the same with at most as many proposals as the image has
            objects (its best ``M`` for ``M`` ground-truth boxes).
        recall_at_10: the same with each image's best 10 proposals.
    """

    ap50: float
    ap: float
    recall_at_1: float
    recall_at_objects: float
    recall_at_10: float


def match_image(proposals: np.ndarray, ground_truth: np.ndarray) -> ImageOutcome:
    """Score one image: ``proposals`` ``(N, 4)`` best first, ``ground_truth`` ``(M, 4)``."""
    if len(proposals) == 0 or len(ground_truth) == 0:
        return ImageOutcome(0.0, 0, len(ground_truth))
    iou = iou_matrix(proposals, ground_truth)
    return ImageOutcome(
        top_iou=float(iou[0].max()),
        recalled=int((iou.max(axis=0) > IOU_THRESHOLD).sum()),
        objects=len(ground_truth),
    )


def summarize(
    outcomes: list[ImageOutcome], seconds: float, detection: DetectionMeasures | None = None
) -> Summary:
    """CorLoc (top proposal IoU > 0.5 with any ground-truth box), mean top IoU, recall;
    ``detection`` (:func:`detection_measures` of the same images) is passed through."""
    n = len(outcomes)
    top = np.array([o.top_iou for o in outcomes]) if n else np.zeros(0)
    objects = sum(o.objects for o in outcomes)
    return Summary(
        images=n,
        corloc=float((top > IOU_THRESHOLD).mean()) if n else 0.0,
        mean_iou=float(top.mean()) if n else 0.0,
        recall=sum(o.recalled for o in outcomes) / objects if objects else 0.0,
        images_per_second=n / seconds if seconds > 0 else 0.0,
        detection=detection,
    )


def _coco_eval(
    detections: Sequence[tuple[np.ndarray, np.ndarray]], truths: Sequence[np.ndarray]
) -> COCOeval:
    """Run ``COCOeval`` (bbox, one category, ``maxDets`` 1 / 10 / 100), quietly."""
    images: list[dict] = []
    annotations: list[dict] = []
    results: list[dict] = []
    for image_id, ((boxes, scores), truth) in enumerate(zip(detections, truths, strict=True)):
        images.append({"id": image_id})
        for x1, y1, x2, y2 in np.asarray(truth, np.float64).reshape(-1, 4):
            w, h = x2 - x1, y2 - y1
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": [x1, y1, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        for (x1, y1, x2, y2), score in zip(
            np.asarray(boxes, np.float64).reshape(-1, 4), scores, strict=True
        ):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(score),
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations, "categories": [{"id": 1}]}
        gt.createIndex()
        evaluation = COCOeval(gt, gt.loadRes(results), "bbox")
        evaluation.params.maxDets = [1, 10, 100]
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


def detection_measures(
    detections: Sequence[tuple[np.ndarray, np.ndarray]], truths: Sequence[np.ndarray]
) -> DetectionMeasures:
    """AP50, AP and recall at 1 / #objects / 10 proposals per image (see
    :class:`DetectionMeasures`).

    Args:
        detections: per image, ``(boxes (N, 4), scores (N,))``, boxes in pixel edges
            ``(x1, y1, x2, y2)``, best first (equal scores keep this order: pycocotools
            sorts stably).
        truths: per image, ground-truth boxes ``(M, 4)`` in the same pixels.
    """
    if not any(len(b) for b, _ in detections) or not any(len(t) for t in truths):
        return DetectionMeasures(0.0, 0.0, 0.0, 0.0, 0.0)
    full = _coco_eval(detections, truths)
    # recall[T, K, A, M]: IoU 0.5 is T = 0, one category, area "all", maxDets 1 / 10 / 100.
    recall = full.eval["recall"][0, 0, 0]
    capped = [
        (np.asarray(b)[: len(t)], np.asarray(s)[: len(t)])
        for (b, s), t in zip(detections, truths, strict=True)
    ]
    per_objects = _coco_eval(capped, truths).eval["recall"][0, 0, 0, -1]
    return DetectionMeasures(
        ap50=max(float(full.stats[1]), 0.0),
        ap=max(float(full.stats[0]), 0.0),
        recall_at_1=max(float(recall[0]), 0.0),
        recall_at_objects=max(float(per_objects), 0.0),
        recall_at_10=max(float(recall[1]), 0.0),
    )
