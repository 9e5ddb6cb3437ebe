"""Localisation measures: CorLoc, mean IoU of the top proposal, recall at IoU 0.5."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

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

    def as_dict(self) -> dict:
        return asdict(self)


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


def summarize(outcomes: list[ImageOutcome], seconds: float) -> Summary:
    """CorLoc (top proposal IoU > 0.5 with any ground-truth box), mean top IoU, recall."""
    n = len(outcomes)
    top = np.array([o.top_iou for o in outcomes]) if n else np.zeros(0)
    objects = sum(o.objects for o in outcomes)
    return Summary(
        images=n,
        corloc=float((top > IOU_THRESHOLD).mean()) if n else 0.0,
        mean_iou=float(top.mean()) if n else 0.0,
        recall=sum(o.recalled for o in outcomes) / objects if objects else 0.0,
        images_per_second=n / seconds if seconds > 0 else 0.0,
    )
