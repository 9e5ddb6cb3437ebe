"""Box maths, mask-to-box and map-to-box conversion (core.engine.boxes)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.engine.boxes import (
    clip_boxes,
    component_boxes,
    grabcut_box,
    iou_matrix,
    scale_boxes,
    threshold_boxes,
)

SIZES = st.tuples(st.integers(1, 5000), st.integers(1, 5000))
COORD = st.floats(-2000, 6000, allow_nan=False, allow_infinity=False)
EXTENT = st.floats(0.5, 3000, allow_nan=False, allow_infinity=False)


@st.composite
def box_arrays(draw, min_size: int = 0, max_size: int = 8) -> np.ndarray:
    """``(N, 4)`` boxes with positive width and height."""
    n = draw(st.integers(min_size, max_size))
    rows = [
        (x, y, x + w, y + h)
        for x, y, w, h in draw(st.lists(st.tuples(COORD, COORD, EXTENT, EXTENT), min_size=n))[:n]
    ]
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


# --- scale_boxes / clip_boxes / iou_matrix -------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(boxes=box_arrays(), size_a=SIZES, size_b=SIZES)
def test_scale_boxes_round_trip(boxes, size_a, size_b):
    there = scale_boxes(boxes, size_a, size_b)
    back = scale_boxes(there, size_b, size_a)
    assert there.shape == boxes.shape
    np.testing.assert_allclose(back, boxes, rtol=0, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(size_a=SIZES, size_b=SIZES)
def test_scale_boxes_maps_whole_image_to_whole_image(size_a, size_b):
    whole = np.array([[0, 0, size_a[0], size_a[1]]], dtype=np.float64)
    np.testing.assert_allclose(
        scale_boxes(whole, size_a, size_b), [[0, 0, size_b[0], size_b[1]]], atol=1e-9
    )


def test_scale_boxes_scales_each_axis_independently():
    out = scale_boxes(np.array([[10, 20, 30, 40]]), (100, 50), (200, 200))
    np.testing.assert_allclose(out, [[20, 80, 60, 160]])


@settings(max_examples=200, deadline=None)
@given(a=box_arrays(min_size=1), b=box_arrays(min_size=1))
def test_iou_matrix_symmetric_and_bounded(a, b):
    ab = iou_matrix(a, b)
    ba = iou_matrix(b, a)
    assert ab.shape == (len(a), len(b))
    assert np.isfinite(ab).all()
    np.testing.assert_allclose(ab, ba.T, atol=1e-12)
    assert (ab >= 0).all()
    assert (ab <= 1 + 1e-12).all()


@settings(max_examples=200, deadline=None)
@given(a=box_arrays(min_size=1))
def test_iou_matrix_diagonal_is_one(a):
    np.testing.assert_allclose(np.diag(iou_matrix(a, a)), 1.0, atol=1e-9)


def test_iou_matrix_hand_computed_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    # Half overlap: 50 / 150; disjoint: 0; contained quarter: 25 / 100.
    np.testing.assert_allclose(iou_matrix(a, b), [[1 / 3, 0.0, 0.25]])


def test_iou_matrix_empty_inputs():
    assert iou_matrix(np.zeros((0, 4)), np.array([[0, 0, 1, 1]])).shape == (0, 1)
    assert iou_matrix(np.array([[0, 0, 1, 1]]), np.zeros((0, 4))).shape == (1, 0)


@settings(max_examples=200, deadline=None)
@given(boxes=box_arrays(min_size=1), size=SIZES)
def test_clip_boxes_stays_inside_image(boxes, size):
    w, h = size
    out = clip_boxes(boxes, size)
    assert out.shape == boxes.shape
    assert (out[:, [0, 2]] >= 0).all() and (out[:, [0, 2]] <= w).all()
    assert (out[:, [1, 3]] >= 0).all() and (out[:, [1, 3]] <= h).all()
    # Clipping never inverts a box and leaves in-range coordinates alone.
    assert (out[:, 2] >= out[:, 0]).all() and (out[:, 3] >= out[:, 1]).all()
    inside = (boxes >= 0) & (boxes <= np.array([w, h, w, h]))
    np.testing.assert_array_equal(out[inside], boxes[inside])


def test_clip_boxes_does_not_modify_its_input():
    boxes = np.array([[-5.0, -5.0, 500.0, 500.0]])
    out = clip_boxes(boxes, (100, 50))
    np.testing.assert_array_equal(out, [[0, 0, 100, 50]])
    np.testing.assert_array_equal(boxes, [[-5, -5, 500, 500]])


# --- component_boxes -------------------------------------------------------------------------


def test_component_boxes_uses_pixel_edges():
    mask = np.zeros((10, 12), dtype=bool)
    mask[2:5, 3:8] = True  # rows 2..4, cols 3..7
    boxes, areas = component_boxes(mask)
    np.testing.assert_array_equal(boxes, [[3, 2, 8, 5]])
    np.testing.assert_array_equal(areas, [15])


def test_component_boxes_largest_first():
    mask = np.zeros((20, 20), dtype=np.uint8)
    mask[1:4, 1:6] = 1  # 15 pixels, found first in raster order
    mask[10:14, 12:16] = 1  # 16 pixels
    boxes, areas = component_boxes(mask)
    np.testing.assert_array_equal(boxes, [[12, 10, 16, 14], [1, 1, 6, 4]])
    np.testing.assert_array_equal(areas, [16, 15])


def test_component_boxes_is_eight_connected():
    mask = np.zeros((6, 6), dtype=bool)
    mask[1, 1] = mask[2, 2] = mask[3, 3] = True  # touching only at corners
    boxes, areas = component_boxes(mask)
    np.testing.assert_array_equal(boxes, [[1, 1, 4, 4]])
    np.testing.assert_array_equal(areas, [3])


def test_component_boxes_min_area_and_empty_mask():
    mask = np.zeros((20, 20), dtype=bool)
    mask[0:2, 0:2] = True  # 4 pixels
    mask[10:15, 10:15] = True  # 25 pixels
    boxes, areas = component_boxes(mask, min_area=5)
    np.testing.assert_array_equal(boxes, [[10, 10, 15, 15]])
    np.testing.assert_array_equal(areas, [25])

    boxes, areas = component_boxes(np.zeros((5, 7), dtype=bool))
    assert boxes.shape == (0, 4) and areas.shape == (0,)


def test_component_boxes_whole_image():
    boxes, _ = component_boxes(np.ones((7, 9), dtype=bool))
    np.testing.assert_array_equal(boxes, [[0, 0, 9, 7]])


# --- threshold_boxes -------------------------------------------------------------------------


def test_threshold_boxes_single_blob():
    sal = np.zeros((50, 60))
    sal[10:20, 20:35] = 1.0
    boxes, mass = threshold_boxes(sal)
    np.testing.assert_array_equal(boxes, [[20, 10, 35, 20]])
    np.testing.assert_allclose(mass, [1.0])


def test_threshold_boxes_blurred_blob_box_tracks_threshold():
    yy, xx = np.mgrid[0:80, 0:100]
    sal = np.exp(-((xx - 60.5) ** 2 + (yy - 30.5) ** 2) / (2 * 8.0**2))
    tight, _ = threshold_boxes(sal, threshold=0.8)
    loose, _ = threshold_boxes(sal, threshold=0.2)
    for box in (tight[0], loose[0]):
        assert (box[0] + box[2]) / 2 == pytest.approx(61, abs=1)
        assert (box[1] + box[3]) / 2 == pytest.approx(31, abs=1)
    # A lower threshold gives a larger box containing the tighter one.
    assert loose[0][0] < tight[0][0] and loose[0][2] > tight[0][2]
    assert loose[0][1] < tight[0][1] and loose[0][3] > tight[0][3]


def _peak_and_plateau() -> np.ndarray:
    sal = np.zeros((100, 100))
    sal[10:20, 10:20] = 1.0  # small strong peak, 100 px
    sal[50:90, 50:90] = 0.15  # large weak plateau, 1600 px
    return sal


def test_threshold_boxes_relative_to_max():
    # Level 0.2 * max = 0.2: only the peak survives.
    boxes, mass = threshold_boxes(_peak_and_plateau(), threshold=0.2, relative_to="max")
    np.testing.assert_array_equal(boxes, [[10, 10, 20, 20]])
    np.testing.assert_allclose(mass, [100 / (100 + 1600 * 0.15)])


def test_threshold_boxes_relative_to_mean():
    sal = _peak_and_plateau()
    assert sal.mean() == pytest.approx(0.034)
    # Level 2 * mean = 0.068: plateau and peak survive, the larger (plateau) first.
    boxes, mass = threshold_boxes(sal, threshold=2.0, relative_to="mean")
    np.testing.assert_array_equal(boxes, [[50, 50, 90, 90], [10, 10, 20, 20]])
    total = sal.sum()
    np.testing.assert_allclose(mass, [1600 * 0.15 / total, 100 / total])
    # Level above the plateau (0.15 / mean ≈ 4.4): only the peak again.
    boxes, _ = threshold_boxes(sal, threshold=5.0, relative_to="mean")
    np.testing.assert_array_equal(boxes, [[10, 10, 20, 20]])
    # Relative to the max, a threshold above 1 leaves no pixel at all.
    assert threshold_boxes(sal, threshold=2.0, relative_to="max")[0].shape == (0, 4)


def test_threshold_boxes_keeps_pixels_equal_to_level():
    sal = np.zeros((10, 10))
    sal[0:2, 0:2] = 1.0
    sal[6:10, 6:10] = 0.5
    boxes, _ = threshold_boxes(sal, threshold=0.5, min_area=0)
    np.testing.assert_array_equal(boxes, [[6, 6, 10, 10], [0, 0, 2, 2]])


@pytest.mark.parametrize("fill", [0.0, -1.0, np.nan])
def test_threshold_boxes_no_boxes_for_empty_map(fill):
    boxes, mass = threshold_boxes(np.full((30, 40), fill))
    assert boxes.shape == (0, 4)
    assert mass.shape == (0,)


def test_threshold_boxes_min_area_drops_small_components():
    sal = np.zeros((100, 100))
    sal[10:30, 10:30] = 1.0  # 400 px
    sal[60:63, 60:63] = 1.0  # 9 px < 1% of 10000
    boxes, _ = threshold_boxes(sal, min_area=0.01)
    np.testing.assert_array_equal(boxes, [[10, 10, 30, 30]])
    boxes, _ = threshold_boxes(sal, min_area=0.0)
    np.testing.assert_array_equal(boxes, [[10, 10, 30, 30], [60, 60, 63, 63]])


def test_threshold_boxes_always_keeps_largest_component():
    sal = np.zeros((100, 100))
    sal[5:8, 5:8] = 1.0  # 9 px
    sal[50:52, 50:52] = 1.0  # 4 px
    boxes, mass = threshold_boxes(sal, min_area=0.5)
    np.testing.assert_array_equal(boxes, [[5, 5, 8, 8]])
    np.testing.assert_allclose(mass, [9 / 13])


def test_threshold_boxes_nms_drops_smaller_overlapping_component():
    sal = np.zeros((40, 40))
    sal[0:20, 0:20] = 1.0
    sal[1:19, 1:19] = 0.0  # 1-px ring (76 px), box (0, 0, 20, 20)
    sal[2:18, 2:18] = 1.0  # inner square (256 px), box (2, 2, 18, 18): IoU 0.64
    boxes, _ = threshold_boxes(sal, min_area=0, nms_iou=0.5)
    np.testing.assert_array_equal(boxes, [[2, 2, 18, 18]])
    boxes, _ = threshold_boxes(sal, min_area=0, nms_iou=0.7)
    np.testing.assert_array_equal(boxes, [[2, 2, 18, 18], [0, 0, 20, 20]])


def test_threshold_boxes_max_boxes_keeps_the_largest():
    sal = np.zeros((20, 100))
    for i in range(7):
        sal[2 : 4 + i, 12 * i : 12 * i + 10] = 1.0  # areas grow with i
    boxes, mass = threshold_boxes(sal, min_area=0, max_boxes=5)
    assert len(boxes) == 5 and len(mass) == 5
    np.testing.assert_array_equal(boxes[:, 0], [72, 60, 48, 36, 24])
    assert (np.diff(mass) < 0).all()


# --- grabcut_box -----------------------------------------------------------------------------


def test_grabcut_box_finds_coloured_square_on_texture():
    rng = np.random.default_rng(0)
    h, w = 96, 112
    image = np.empty((h, w, 3), dtype=np.uint8)
    image[..., 0] = rng.integers(0, 60, (h, w))
    image[..., 1] = rng.integers(90, 200, (h, w))
    image[..., 2] = rng.integers(40, 140, (h, w))
    square = np.array([40.0, 28.0, 76.0, 64.0])  # x1, y1, x2, y2
    x1, y1, x2, y2 = square.astype(int)
    image[y1:y2, x1:x2] = (230, 30, 40)
    image[y1:y2, x1:x2, 0] -= rng.integers(0, 25, (y2 - y1, x2 - x1)).astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    saliency = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 14.0**2))

    box = grabcut_box(image, saliency)
    assert box is not None and box.shape == (4,)
    assert iou_matrix(box[None], square[None])[0, 0] > 0.7


def test_grabcut_box_flat_map_gives_none():
    image = np.zeros((32, 32, 3), dtype=np.uint8)
    assert grabcut_box(image, np.zeros((32, 32))) is None
