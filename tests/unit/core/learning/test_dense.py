"""The dense detector: every object of two classes in generated scenes, where the
one-box localizers find one per class; its targets and thresholds by hand."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.backbones import load_backbone
from core.engine.boxes import iou_matrix
from core.learning.class_head import LabelledImage
from core.learning.dense import DEFAULT_THRESHOLD, cell_targets, fit_dense_detector
from core.learning.evidence import EvidenceMaker
from core.learning.localizers import DenseLocalizer
from core.learning.model import LearnedModel
from core.learning.refine import apply_offsets, fit_box_refiner, offsets
from core.learning.trainer import best_threshold, matched, proposal_cap, train_model

SIDE = 320
CLASSES = ("checker", "stripes")


def scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """Two to five square objects of two kinds (a checkerboard, blue and yellow stripes)
    that do not overlap, on noise; boxes in pixels."""
    img = rng.normal(110, 12, (SIDE, SIDE, 3))
    boxes: list[np.ndarray] = []
    labels = []
    for _ in range(int(rng.integers(2, 6))):
        for _attempt in range(50):
            s = int(rng.integers(40, 80))
            x, y = (int(v) for v in rng.integers(0, SIDE - s, 2))
            box = np.array([x, y, x + s, y + s], float)
            if not boxes or iou_matrix(box[None], np.array(boxes)).max() == 0:
                break
        kind = int(rng.integers(0, 2))
        yy, xx = np.mgrid[0:s, 0:s]
        if kind == 0:
            patch = (((yy // 6 + xx // 6) % 2) * 255)[..., None] * np.ones(3)
        else:
            patch = np.zeros((s, s, 3))
            patch[..., 2] = 220
            patch[(yy // 8) % 2 == 0] = (230, 200, 40)
        img[y : y + s, x : x + s] = patch
        boxes.append(box)
        labels.append(CLASSES[kind])
    return img.clip(0, 255).astype(np.uint8), np.array(boxes), tuple(labels)


@pytest.fixture(scope="module")
def items() -> list[LabelledImage]:
    rng = np.random.default_rng(0)
    data = [scene(rng) for _ in range(48)]
    evidence = EvidenceMaker(load_backbone())([image for image, _, _ in data])
    return [
        LabelledImage(e, boxes / SIDE, labels)
        for e, (_, boxes, labels) in zip(evidence, data, strict=True)
    ]


def found_and_proposed(propose, items) -> tuple[int, int, int]:
    found = objects = proposed = 0
    for item in items:
        for name in CLASSES:
            truth = item.boxes[[i for i, n in enumerate(item.labels) if n == name]]
            boxes = propose(item, name)
            found += matched(boxes, truth)
            objects += len(truth)
            proposed += len(boxes)
    return found, objects, proposed


def test_the_detector_finds_every_object_of_two_classes(items):
    detector = fit_dense_detector(items[:36], CLASSES)
    locs = {name: DenseLocalizer(detector).fit(items, name) for name in CLASSES}
    found, objects, proposed = found_and_proposed(
        lambda item, name: locs[name].detect(item.evidence)[0], items[36:]
    )
    assert found >= 0.9 * objects
    assert proposed <= 1.2 * objects  # few false boxes


def test_training_chooses_it_and_the_model_proposes_every_object(items, tmp_path):
    model = train_model(items[:36], "efficientnet_lite0")
    model.save(tmp_path / "m.pt")
    loaded = LearnedModel.load(tmp_path / "m.pt")
    detectors = {id(loc.detector) for loc in loaded.localizers.values()}
    assert len(detectors) == 1  # stored once per class, one object again: one pass
    for item in items[36:40]:
        before, after = (m.propose(item.evidence, []).proposals for m in (model, loaded))
        assert [p.box for p in before] == [p.box for p in after]
    for name in CLASSES:
        metrics = model.metrics["classes"][name]
        assert metrics["choice"] == "dense", metrics
        assert metrics["cv_recall"]["dense"] > metrics["cv_recall"]["recipe:default"] + 0.3
    found = objects = proposed = 0
    for item in items[36:]:
        out = model.propose(item.evidence, [])
        width, height = item.evidence.size
        for name in CLASSES:
            truth = item.boxes[[i for i, n in enumerate(item.labels) if n == name]]
            boxes = np.array([p.box for p in out.proposals if p.class_name == name]).reshape(-1, 4)
            found += matched(boxes / [width, height, width, height], truth)
            objects += len(truth)
            proposed += len(boxes)
    assert found >= 0.9 * objects and proposed <= 1.3 * objects


def test_cell_targets_by_hand():
    # One box over the 4 x 4 cells' left half: its centre region holds two cells.
    target, sides = cell_targets(np.array([[0.0, 0.0, 0.5, 1.0]]), [1], 4, 4)
    grid = target.reshape(4, 4)
    assert (grid[:, 2:] == -2).all()  # background right of the box
    assert (grid[1:3, 0:2] == 1).sum() + (grid[[0, 3], 0:2] == -1).sum() == 8
    centre = 1 * 4 + 1  # row 1, column 1: centre (0.375, 0.375)
    assert np.exp(sides[centre]) == pytest.approx([1.5, 1.5, 0.5, 2.5])  # in cells


def test_the_threshold_has_the_best_f1_of_the_held_out_detections():
    hits = [(0.9, True), (0.8, True), (0.6, False), (0.5, True), (0.3, False), (0.2, False)]
    assert best_threshold(hits, objects=3) == 0.5  # 3 of 3 found with 4 boxes: F1 6/7
    assert best_threshold([], objects=3) == pytest.approx(0.3)  # nothing held out


def test_the_learned_threshold_cuts_rejects_on_a_generated_history():
    """Held-out detections of a detector whose true boxes score higher than its false ones
    (but overlap them): the F1 threshold drops most rejects and keeps most accepts, where
    the default keeps every false box above 0.3."""
    rng = np.random.default_rng(1)
    true_scores = rng.beta(6, 2, 300)  # 300 objects found, mostly with high scores
    false_scores = rng.beta(2, 4, 600)  # twice as many false boxes, mostly low
    hits = [(float(s), True) for s in true_scores] + [(float(s), False) for s in false_scores]
    threshold = best_threshold(hits, objects=330)

    def kept(scores, limit):
        return int((scores >= limit).sum())

    assert kept(false_scores, threshold) < 0.5 * kept(false_scores, DEFAULT_THRESHOLD)
    assert kept(true_scores, threshold) > 0.85 * kept(true_scores, DEFAULT_THRESHOLD)


def test_the_cap_follows_the_most_objects_an_image_held(items):
    assert proposal_cap(items, "checker") == int(
        np.ceil(1.5 * max(im.labels.count("checker") for im in items))
    )
    assert proposal_cap(items, "absent") == 1
    detector = fit_dense_detector(items[:36], CLASSES)
    loc = DenseLocalizer(detector, threshold=0.0, cap=2).fit(items, "checker")
    assert max(len(loc.detect(item.evidence)[0]) for item in items[36:]) == 2


def test_refiner_offsets_and_their_inverse():
    proposals = np.array([[0.1, 0.2, 0.5, 0.6], [0.3, 0.3, 0.4, 0.9]])
    accepted = np.array([[0.12, 0.18, 0.55, 0.62], [0.28, 0.35, 0.42, 0.8]])
    deltas = offsets(proposals, accepted)
    assert deltas[0, 2] == pytest.approx(np.log(0.43 / 0.4))  # log width ratio
    np.testing.assert_allclose(apply_offsets(proposals, deltas), accepted, atol=1e-12)
    wild = apply_offsets(proposals[:1], np.array([[5.0, 0.0, 3.0, 0.0]]))
    assert wild[0, 0] >= 0 and wild[0, 2] <= 1  # clipped: a wild regression cannot throw it off


def test_the_refiner_moves_jittered_boxes_onto_the_objects(items):
    rng = np.random.default_rng(5)

    def jittered(item, name):
        truth = item.boxes[[i for i, n in enumerate(item.labels) if n == name]]
        size = truth[:, 2:] - truth[:, :2]
        shift = rng.normal(0, 0.15, truth.shape) * np.tile(size, 2)
        return np.clip(truth + shift, 0, 1)

    refiner = fit_box_refiner(items[:36], lambda evidence, name: np.zeros((0, 4)))
    assert refiner is not None
    before, after = [], []
    for item in items[36:]:
        for name in set(item.labels):
            truth = item.boxes[[i for i, n in enumerate(item.labels) if n == name]]
            boxes = jittered(item, name)
            before += list(iou_matrix(boxes, truth).max(axis=1))
            after += list(iou_matrix(refiner.refine(item.evidence, boxes), truth).max(axis=1))
    assert np.mean(after) > np.mean(before) + 0.05
    assert np.mean(np.array(after) >= 0.7) > np.mean(np.array(before) >= 0.7)


def test_large_images_get_finer_cells_for_the_detector():
    maker = EvidenceMaker(load_backbone())
    small, large = maker([np.zeros((480, 640, 3), np.uint8), np.zeros((768, 1024, 3), np.uint8)])
    assert small.dense.shape == (112, 26, 26)  # the features pass at 416 px
    assert large.dense.shape == (112, 40, 40)  # a second pass at 640 px
