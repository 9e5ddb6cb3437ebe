"""Splitting blobs at their peaks (core.engine.peaks) and its use in threshold_boxes."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.boxes import iou_matrix, threshold_boxes
from core.engine.peaks import PeakSplit, component_peaks, split_boxes

SIDE = 100


def blobs(*centres: tuple[float, float, float], sigma: float = 8.0) -> np.ndarray:
    """A ``(SIDE, SIDE)`` map: one Gaussian of height ``h`` at each ``(x, y, h)``."""
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
    out = np.zeros((SIDE, SIDE))
    for cx, cy, h in centres:
        out += h * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2))
    return out / out.max()


def test_two_touching_blobs_are_one_component_but_two_boxes():
    saliency = blobs((30, 50, 1.0), (62, 50, 1.0))
    whole, _ = threshold_boxes(saliency, threshold=0.2)
    assert len(whole) == 1  # the 20% level joins them
    parts, mass = threshold_boxes(saliency, threshold=0.2, split=PeakSplit())
    assert len(parts) == 2
    centres = np.sort((parts[:, 0] + parts[:, 2]) / 2)
    assert centres == pytest.approx([30, 62], abs=3)
    # The parts meet at the dip halfway between the peaks, and do not overlap.
    assert iou_matrix(parts[:1], parts[1:])[0, 0] == 0.0
    assert mass == pytest.approx([0.45, 0.45], abs=0.05)  # the two halves of the map


def test_one_blob_is_not_split():
    saliency = blobs((50, 50, 1.0), sigma=12)
    parts, _ = threshold_boxes(saliency, threshold=0.2, split=PeakSplit())
    whole, _ = threshold_boxes(saliency, threshold=0.2)
    np.testing.assert_array_equal(parts, whole)


def test_shallow_dip_keeps_one_peak():
    # Two peaks 12 px apart under a wide blur: the map hardly dips between them.
    saliency = blobs((44, 50, 1.0), (56, 50, 1.0), sigma=10)
    mask = saliency >= 0.2
    assert len(component_peaks(saliency, mask, PeakSplit(min_distance=0.05))) == 1


def test_close_peaks_merge_under_min_distance():
    saliency = blobs((40, 50, 1.0), (60, 50, 1.0), sigma=5)
    mask = saliency >= 0.01
    assert len(component_peaks(saliency, mask, PeakSplit(min_distance=0.05))) == 2
    assert len(component_peaks(saliency, mask, PeakSplit(min_distance=0.25))) == 1


def test_weak_bump_is_not_a_peak():
    # A bump whose dip towards the main peak is under 20% of the main peak's height.
    saliency = blobs((35, 50, 1.0), (65, 50, 0.15), sigma=5)
    mask = saliency >= 0.01
    peaks = component_peaks(saliency, mask, PeakSplit())
    assert len(peaks) == 1
    assert tuple(peaks[0]) == (50, 35)
    assert len(component_peaks(saliency, mask, PeakSplit(min_prominence=0.05))) == 2


def test_row_of_blobs_gives_one_box_each_highest_peak_first():
    heights = [1.0, 0.8, 0.9, 0.7]
    saliency = blobs(*[(14 + 24 * i, 50, h) for i, h in enumerate(heights)], sigma=6)
    mask = saliency >= 0.1
    peaks = component_peaks(saliency, mask, PeakSplit())
    np.testing.assert_array_equal(peaks[:, 1], [14, 62, 38, 86])
    boxes = split_boxes(saliency, mask, PeakSplit())
    assert len(boxes) == 4
    # Every column of the component belongs to exactly one part.
    covered = np.zeros(SIDE, int)
    for x1, _, x2, _ in boxes.astype(int):
        covered[x1:x2] += 1
    assert covered[mask.any(axis=0)].max() == 1


def test_split_boxes_of_a_single_pixel():
    saliency = np.zeros((10, 10))
    saliency[3, 4] = 1.0
    np.testing.assert_array_equal(split_boxes(saliency, saliency > 0, PeakSplit()), [[4, 3, 5, 4]])
