"""CorLoc, mean top IoU and recall on hand-made boxes (core.evaluation.measures)."""

from __future__ import annotations

import numpy as np
import pytest

from core.evaluation.measures import (
    DetectionMeasures,
    ImageOutcome,
    Summary,
    detection_measures,
    match_image,
    summarize,
)

A = [0, 0, 10, 10]  # 100 px
B = [20, 20, 30, 30]  # 100 px


def arr(*boxes) -> np.ndarray:
    return np.array(boxes, dtype=np.float64).reshape(-1, 4)


@pytest.mark.parametrize(
    ("proposal", "iou"),
    [
        (A, 1.0),
        ([5, 0, 15, 10], 50 / 150),  # half overlap
        ([0, 0, 10, 20], 0.5),  # twice as tall: exactly 0.5
        ([0, 0, 10, 19], 100 / 190),  # just above 0.5
        ([2, 2, 8, 8], 36 / 100),  # inside
        ([40, 40, 50, 50], 0.0),  # disjoint
    ],
)
def test_single_box_iou_and_threshold(proposal, iou):
    out = match_image(arr(proposal), arr(A))
    assert out.top_iou == pytest.approx(iou)
    assert out.objects == 1
    # Recall needs IoU strictly above 0.5.
    assert out.recalled == (1 if iou > 0.5 else 0)


def test_top_proposal_scored_against_best_matching_gt():
    # The top proposal overlaps B more than A; its top IoU is with B.
    top = [20, 20, 30, 29]  # IoU 90/100 with B, 0 with A
    out = match_image(arr(top, A), arr(A, B))
    assert out.top_iou == pytest.approx(0.9)
    assert out.recalled == 2
    assert out.objects == 2


def test_only_the_top_proposal_counts_for_top_iou():
    # A poor first proposal and a perfect second one: top IoU is the first one's.
    out = match_image(arr([5, 0, 15, 10], A), arr(A, B))
    assert out.top_iou == pytest.approx(1 / 3)
    assert out.recalled == 1  # A found by the second proposal, B by none


def test_one_proposal_recalls_at_most_what_it_overlaps():
    # One large box covering two small ground-truth boxes matches neither at IoU > 0.5.
    out = match_image(arr([0, 0, 30, 30]), arr(A, B))
    assert out.top_iou == pytest.approx(100 / 900)
    assert out.recalled == 0


def test_each_gt_counted_once():
    out = match_image(arr(A, A, [0, 0, 10, 11]), arr(A))
    assert out.recalled == 1 and out.objects == 1


def test_no_proposals():
    out = match_image(np.zeros((0, 4)), arr(A, B))
    assert out == ImageOutcome(top_iou=0.0, recalled=0, objects=2)


def test_no_ground_truth():
    out = match_image(arr(A), np.zeros((0, 4)))
    assert out == ImageOutcome(top_iou=0.0, recalled=0, objects=0)


def test_summarize_hand_computed():
    outcomes = [
        match_image(arr(A), arr(A)),  # top 1.0, 1/1
        match_image(arr([5, 0, 15, 10]), arr(A)),  # top 1/3, 0/1
        match_image(arr([0, 0, 10, 20]), arr(A)),  # top 0.5 (not > 0.5), 0/1
        match_image(arr([20, 20, 30, 29], A), arr(A, B)),  # top 0.9, 2/2
        match_image(np.zeros((0, 4)), arr(B)),  # no proposal: top 0, 0/1
    ]
    s = summarize(outcomes, seconds=2.5)
    assert s.images == 5
    assert s.corloc == pytest.approx(2 / 5)
    assert s.mean_iou == pytest.approx((1 + 1 / 3 + 0.5 + 0.9 + 0) / 5)
    assert s.recall == pytest.approx(3 / 6)
    assert s.images_per_second == pytest.approx(2.0)
    assert s.as_dict() == {
        "images": 5,
        "corloc": s.corloc,
        "mean_iou": s.mean_iou,
        "recall": s.recall,
        "images_per_second": s.images_per_second,
        "detection": None,
    }


def test_corloc_threshold_is_strict():
    just_at = ImageOutcome(top_iou=0.5, recalled=0, objects=1)
    just_above = ImageOutcome(top_iou=0.5 + 1e-9, recalled=1, objects=1)
    assert summarize([just_at], 1.0).corloc == 0.0
    assert summarize([just_above], 1.0).corloc == 1.0


def test_summarize_empty_and_zero_time():
    assert summarize([], 1.0) == Summary(
        images=0, corloc=0.0, mean_iou=0.0, recall=0.0, images_per_second=0.0
    )
    s = summarize([ImageOutcome(0.8, 1, 1)], seconds=0.0)
    assert s.images_per_second == 0.0
    assert s.corloc == 1.0 and s.recall == 1.0
    # No ground-truth objects at all: recall is 0, not a division by zero.
    assert summarize([ImageOutcome(0.0, 0, 0)], 1.0).recall == 0.0


# COCO measures (pycocotools) on a hand-made case: two images, three objects.
#   image 0: ground truth A; proposals A (0.9, a hit) and a far box (0.8, a false one).
#   image 1: ground truth B and C; one proposal on B (IoU 0.9, 0.7).
# Ranked over both images: hit, false, hit → precision 1, 1/2, 2/3 at recall 1/3, 1/3,
# 2/3. COCO's interpolated precision is 1 for recall ≤ 1/3 (34 of its 101 points), 2/3
# up to 2/3 (33 points), 0 beyond: AP50 = (34 + 33 · 2/3) / 101 = 56 / 101.
C = [40, 0, 50, 10]
FAR = [50, 50, 60, 60]
HAND_DETECTIONS = [
    (arr(A, FAR), np.array([0.9, 0.8])),
    (arr([20, 20, 30, 29]), np.array([0.7])),
]
HAND_TRUTHS = [arr(A), arr(B, C)]


def test_ap50_matches_the_hand_derived_value():
    d = detection_measures(HAND_DETECTIONS, HAND_TRUTHS)
    assert d.ap50 == pytest.approx(56 / 101)
    # At IoU 0.55-0.90 the 0.9-IoU proposal still matches; at 0.95 only the exact A does,
    # and then AP is 34 / 101 (recall 1/3 at precision 1).
    assert d.ap == pytest.approx((9 * 56 / 101 + 34 / 101) / 10)


def test_recall_at_1_objects_and_10():
    # Image 0 holds two objects, its proposals rank a miss first: recall@1 finds nothing
    # there, recall@#objects (2 proposals) finds A, recall@10 also finds B with the third.
    detections = [
        (arr(FAR, A, B), np.array([0.9, 0.8, 0.7])),
        (arr(C), np.array([0.6])),
    ]
    truths = [arr(A, B), arr(C)]
    d = detection_measures(detections, truths)
    assert d.recall_at_1 == pytest.approx(1 / 3)
    assert d.recall_at_objects == pytest.approx(2 / 3)
    assert d.recall_at_10 == pytest.approx(1.0)


def test_recall_counts_each_object_once_and_needs_iou_half():
    # Two copies of A recall A once; a box at IoU exactly 0.5 counts for COCO (≥ 0.5).
    detections = [(arr(A, A, [0, 0, 10, 20]), np.array([0.9, 0.8, 0.7]))]
    d = detection_measures(detections, [arr(A, [0, 10, 10, 20])])
    assert d.recall_at_objects == pytest.approx(1 / 2)
    assert d.recall_at_10 == pytest.approx(1.0)


def test_detection_measures_without_proposals_are_zero():
    d = detection_measures([(np.zeros((0, 4)), np.zeros(0))], [arr(A)])
    assert d == DetectionMeasures(0.0, 0.0, 0.0, 0.0, 0.0)
