"""Splitting a saliency blob at its peaks, one part per object.

Weakly Supervised Instance Segmentation using Class Peak Response (Zhou et al., CVPR 2018,
§3) finds object instances as the local maxima of a class response map. Here a thresholded
component of a map that holds several well-separated peaks is split into one part per
peak, each pixel going to its nearest peak, and each part is boxed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Local maxima considered per component, highest first (a smooth map has a handful).
MAX_CANDIDATES = 32


@dataclass(frozen=True)
class PeakSplit:
    """When a component is split at its peaks.

    Attributes:
        min_distance: peaks closer than this fraction of the map's side are one peak (a
            ``2d + 1`` square max filter finds them).
        min_prominence: a lower peak counts only if the map dips between it and every
            higher peak by at least this fraction of the component's highest value (the
            dip is the minimum along the straight segment between the two peaks).
    """

    min_distance: float = 0.1
    min_prominence: float = 0.4


def component_peaks(saliency: np.ndarray, mask: np.ndarray, split: PeakSplit) -> np.ndarray:
    """The peaks of one component that :class:`PeakSplit` keeps, highest first.

    Args:
        saliency: ``(H, W)`` float map.
        mask: ``(H, W)`` bool, the component's pixels.

    Returns:
        ``(P, 2)`` int ``(row, column)`` of each peak; ``P >= 1`` for a non-empty mask.
    """
    distance = max(1, round(split.min_distance * max(saliency.shape)))
    kernel = np.ones((2 * distance + 1, 2 * distance + 1), np.uint8)
    values = saliency.astype(np.float32)
    local_max = values >= cv2.dilate(values, kernel)
    rows, cols = np.nonzero(local_max & mask)
    order = np.argsort(-saliency[rows, cols], kind="stable")[:MAX_CANDIDATES]
    candidates = np.stack([rows[order], cols[order]], axis=1)
    if len(candidates) == 0:
        flat = np.argmax(np.where(mask, saliency, -np.inf))
        return np.array([np.unravel_index(flat, saliency.shape)])
    top = float(saliency[tuple(candidates[0])])
    kept = [candidates[0]]
    for peak in candidates[1:]:
        height = float(saliency[tuple(peak)])
        if all(
            np.hypot(*(peak - other)) >= distance
            and height - _dip(saliency, peak, other) >= split.min_prominence * top
            for other in kept
        ):
            kept.append(peak)
    return np.array(kept)


def _dip(saliency: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Lowest value of the map on the segment from pixel ``a`` to pixel ``b``."""
    steps = int(np.abs(a - b).max()) + 1
    rows = np.rint(np.linspace(a[0], b[0], steps)).astype(int)
    cols = np.rint(np.linspace(a[1], b[1], steps)).astype(int)
    return float(saliency[rows, cols].min())


def split_boxes(saliency: np.ndarray, mask: np.ndarray, split: PeakSplit) -> np.ndarray:
    """Boxes ``(P, 4)`` in pixel edges of a component's parts, one per kept peak.

    Each pixel of ``mask`` goes to its nearest peak (Euclidean); a component with one peak
    gives its own box.
    """
    peaks = component_peaks(saliency, mask, split)
    rows, cols = np.nonzero(mask)
    if len(peaks) == 1:
        return np.array([[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]], np.float64)
    d2 = (rows[:, None] - peaks[None, :, 0]) ** 2 + (cols[:, None] - peaks[None, :, 1]) ** 2
    owner = d2.argmin(axis=1)
    boxes = []
    for p in range(len(peaks)):
        r, c = rows[owner == p], cols[owner == p]
        boxes.append([c.min(), r.min(), c.max() + 1, r.max() + 1])
    return np.array(boxes, np.float64)
