"""Box refinement learned from accepted boxes: R-CNN's bounding-box regression (Girshick
et al., "Rich feature hierarchies for accurate object detection and semantic
segmentation", 2014, appendix C).

For a proposal ``P`` and the accepted box ``G`` it should have been, the targets are
``dx = (Gx − Px) / Pw``, ``dy = (Gy − Py) / Ph``, ``dw = log(Gw / Pw)``, ``dh = log(Gh /
Ph)`` (centres and sizes), predicted by ridge regression in closed form from the
stride-16 features pooled in ``P`` (2 × 2 bins, :attr:`Evidence.dense`) and ``P``'s own
shape. Training pairs are what a proposal and its accepted box look like: the class's
chosen localizer run on the accepted images, each box paired with the accepted box it
overlaps at IoU ≥ :data:`PAIR_IOU` (an edit in the review is exactly such a pair), and
jittered copies of the accepted boxes. Boxes are ``(N, 4)`` fractions of the image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import roi_align

from core.engine.boxes import iou_matrix
from core.learning.class_head import LabelledImage
from core.learning.evidence import Evidence
from core.learning.ridge import RidgeModel, fit_ridge

#: A proposal and an accepted box overlapping at least this much make a training pair.
PAIR_IOU = 0.5
#: Jittered copies of each accepted box (centre shifts and log-size changes ~ N(0, σ)).
JITTERS, JITTER_SIGMA = 3, 0.12
#: Ridge penalty per sample.
ALPHA = 10.0
#: Fewer pairs than this: no refiner.
MIN_PAIRS = 24
#: Offsets are clipped to this (an over-confident regression cannot throw a box away).
MAX_SHIFT, MAX_LOG_SCALE = 0.5, 0.7

Locate = Callable[[Evidence, str], np.ndarray]


def pooled(evidence: Evidence, boxes: np.ndarray) -> np.ndarray:
    """``(N, 4 C + 4)``: the dense features averaged in 2 × 2 bins of each box, then the
    box's log width, log height and centre."""
    assert evidence.dense is not None
    h, w = evidence.dense.shape[1:]
    rois = torch.as_tensor(boxes, dtype=torch.float32) * torch.tensor([w, h, w, h])
    rois = torch.cat([torch.zeros(len(rois), 1), rois], dim=1)
    bins = roi_align(evidence.dense.float()[None], rois, (2, 2), 1.0, 2, aligned=True)
    sizes = np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-4)
    shape = np.hstack([np.log(sizes), (boxes[:, :2] + boxes[:, 2:]) / 2])
    return np.hstack([bins.flatten(1).numpy(), shape])


def offsets(proposals: np.ndarray, accepted: np.ndarray) -> np.ndarray:
    """``(N, 4)`` R-CNN targets ``(dx, dy, dw, dh)`` from proposals to their accepted boxes."""
    p_size = np.maximum(proposals[:, 2:] - proposals[:, :2], 1e-6)
    g_size = np.maximum(accepted[:, 2:] - accepted[:, :2], 1e-6)
    p_centre = (proposals[:, :2] + proposals[:, 2:]) / 2
    g_centre = (accepted[:, :2] + accepted[:, 2:]) / 2
    return np.hstack([(g_centre - p_centre) / p_size, np.log(g_size / p_size)])


def apply_offsets(proposals: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """The boxes ``deltas`` (clipped to :data:`MAX_SHIFT`, :data:`MAX_LOG_SCALE`) move
    ``proposals`` to, clipped to the image."""
    shift = np.clip(deltas[:, :2], -MAX_SHIFT, MAX_SHIFT)
    scale = np.exp(np.clip(deltas[:, 2:], -MAX_LOG_SCALE, MAX_LOG_SCALE))
    size = proposals[:, 2:] - proposals[:, :2]
    centre = (proposals[:, :2] + proposals[:, 2:]) / 2 + shift * size
    half = size * scale / 2
    return np.clip(np.hstack([centre - half, centre + half]), 0.0, 1.0)


@dataclass(frozen=True)
class BoxRefiner:
    """Moves proposals towards where accepted boxes are (one model for every class)."""

    model: RidgeModel

    def refine(self, evidence: Evidence, boxes: np.ndarray) -> np.ndarray:
        """``(N, 4)`` fractions → refined ``(N, 4)`` fractions (as is without dense features)."""
        if len(boxes) == 0 or evidence.dense is None:
            return boxes
        return apply_offsets(boxes, self.model.predict(pooled(evidence, boxes)))


def training_pairs(
    images: Sequence[LabelledImage], locate: Locate, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features ``(N, D)`` of proposals and their targets ``(N, 4)``: the
    localizer's boxes on each accepted image and jittered accepted boxes."""
    rng = np.random.default_rng(seed)
    rows, targets = [], []
    for item in images:
        if item.evidence.dense is None or len(item.boxes) == 0:
            continue
        for name in sorted(set(item.labels)):
            truth = item.boxes[[i for i, n in enumerate(item.labels) if n == name]]
            found = np.asarray(locate(item.evidence, name), float).reshape(-1, 4)
            size = truth[:, 2:] - truth[:, :2]
            centre = (truth[:, :2] + truth[:, 2:]) / 2
            for _ in range(JITTERS):
                c = centre + rng.normal(0, JITTER_SIGMA, centre.shape) * size
                s = size * np.exp(rng.normal(0, JITTER_SIGMA, size.shape))
                found = np.vstack([found, np.clip(np.hstack([c - s / 2, c + s / 2]), 0, 1)])
            found = found[(found[:, 2] > found[:, 0]) & (found[:, 3] > found[:, 1])]
            if len(found) == 0:
                continue
            iou = iou_matrix(found, truth)
            best = iou.argmax(axis=1)
            keep = iou[np.arange(len(found)), best] >= PAIR_IOU
            if keep.any():
                rows.append(pooled(item.evidence, found[keep]))
                targets.append(offsets(found[keep], truth[best[keep]]))
    if not rows:
        return np.zeros((0, 0)), np.zeros((0, 4))
    return np.vstack(rows), np.vstack(targets)


def fit_box_refiner(
    images: Sequence[LabelledImage], locate: Locate, seed: int = 0
) -> BoxRefiner | None:
    """A refiner from the accepted images, or None with fewer than :data:`MIN_PAIRS` pairs."""
    x, y = training_pairs(images, locate, seed)
    if len(x) < MIN_PAIRS:
        return None
    return BoxRefiner(fit_ridge(x, y, ALPHA))
