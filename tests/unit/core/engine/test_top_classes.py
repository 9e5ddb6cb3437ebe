"""Proposals from the maps of the top-k classes (core.engine.proposals, ``top_k``).

The hand-built backbone sees colour: feature channel 0 fires on red pixels, channel 1 on
green ones (1×1 convolution, so CAM boxes are exact). Class "red" reads channel 0, class
"green" channel 1, class "none" nothing; an image with a large red and a small green
square is "red" first and "green" second.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from core.engine.backbones import Backbone, Normalization, _GapLinear
from core.engine.proposals import RECIPES, Proposer, Recipe, ranked_boxes

SIDE = 64
RED = (4, 6, 28, 30)  # x1, y1, x2, y2 in pixel edges
GREEN = (40, 36, 56, 52)


def make_backbone() -> Backbone:
    conv = nn.Conv2d(3, 2, kernel_size=1)
    fc = nn.Linear(2, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0]]).view(2, 3, 1, 1))
        conv.bias.fill_(-0.5)
        fc.weight.copy_(torch.tensor([[100.0, 0.0], [0.0, 100.0], [0.0, 0.0]]))
        fc.bias.zero_()
    return Backbone(
        name="colours",
        features=nn.Sequential(conv, nn.ReLU()),
        head=_GapLinear(fc),
        linear_head=fc,
        normalize=Normalization((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        class_names=["red", "green", "none"],
        input_size=SIDE,
        score_layers=["1"],
    ).freeze()


def scene() -> np.ndarray:
    image = np.zeros((SIDE, SIDE, 3), np.uint8)
    x1, y1, x2, y2 = RED
    image[y1:y2, x1:x2, 0] = 255
    x1, y1, x2, y2 = GREEN
    image[y1:y2, x1:x2, 1] = 255
    return image


@pytest.fixture(scope="module")
def backbone() -> Backbone:
    return make_backbone()


def test_top1_proposes_only_the_top_class(backbone):
    (result,) = Proposer(backbone, Recipe("cam", input_size=SIDE)).propose([scene()])
    assert [p.box for p in result.proposals] == [RED]
    assert result.proposals[0].class_name == "red"


def test_top2_adds_the_second_class_box_with_its_class_and_probability(backbone):
    (result,) = Proposer(backbone, Recipe("cam", top_k=2, input_size=SIDE)).propose([scene()])
    assert [p.box for p in result.proposals] == [RED, GREEN]
    red, green = result.proposals
    assert (red.class_name, green.class_name) == ("red", "green")
    assert red.confidence > green.confidence > 0.01
    # The probabilities are the softmax of the logits 100 · GAP(channel) (0.5 on each
    # square's pixels) and 0 for "none".
    logits = torch.tensor([100 * 0.5 * 24 * 24, 100 * 0.5 * 16 * 16, 0.0]) / SIDE**2
    expected = logits.softmax(0)
    assert red.confidence == pytest.approx(float(expected[0]), rel=1e-4)
    assert green.confidence == pytest.approx(float(expected[1]), rel=1e-4)
    # The overlay is the pixel-wise maximum of the two class maps: both squares show.
    assert result.saliency[18, 10] > 0.5 and result.saliency[44, 48] > 0.5


def test_ranked_boxes_drops_a_lower_class_box_on_the_same_object():
    saliency = np.zeros((SIDE, SIDE))
    saliency[10:30, 10:30] = 1.0
    other = np.zeros((SIDE, SIDE))
    other[12:30, 10:30] = 1.0  # IoU 0.9 with the first
    other[40:50, 40:60] = 0.8
    maps = np.stack([saliency, other])
    boxes, mass, rank = ranked_boxes(
        Recipe("cam", top_k=2), maps, np.array([0.6, 0.3]), np.zeros((SIDE, SIDE, 3), np.uint8)
    )
    np.testing.assert_array_equal(boxes, [[10, 10, 30, 30], [40, 40, 60, 50]])
    np.testing.assert_array_equal(rank, [0, 1])
    assert mass[0] == pytest.approx(1.0)


def test_ranked_boxes_keeps_at_most_max_boxes():
    maps = np.zeros((3, SIDE, SIDE))
    for k in range(3):
        maps[k, 4 + 20 * k : 14 + 20 * k, 4:14] = 1.0
    recipe = Recipe("cam", top_k=3, max_boxes=2)
    boxes, _, rank = ranked_boxes(
        recipe, maps, np.array([0.5, 0.3, 0.2]), np.zeros((SIDE, SIDE, 3), np.uint8)
    )
    assert len(boxes) == 2
    np.testing.assert_array_equal(rank, [0, 1])


def test_registry_has_the_new_recipes():
    assert RECIPES["cam-top5"].top_k == 5
    assert RECIPES["cam-top5-split"].split is not None
    assert RECIPES["default"].split is not None
    assert RECIPES["default-whole"].split is None
    assert RECIPES["default-whole"].maps == RECIPES["default"].maps
