"""Saliency maps (core.engine.maps) on a hand-built backbone whose right answers are known.

The backbone's features are one 3 → 2 channel convolution (kernel 3, stride 2) and a ReLU:

* channel 0 averages its 3×3×3 patch and subtracts 0.5, so it fires only where the patch is
  mostly bright, i.e. on the white square;
* channel 1 fires weakly (slope 0.1) on dark patches, i.e. on the background.

The head is GAP → Linear with class 0 ("square") reading only channel 0 and class 1 ("other")
only channel 1, weighted so that every test image is classified as class 0.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from core.engine.backbones import Backbone, Normalization, _GapLinear
from core.engine.boxes import iou_matrix, threshold_boxes
from core.engine.maps import CAM, METHODS, AttentionSensitivity, GradCAM, Sensitivity
from core.engine.maps.base import normalize_maps
from core.engine.maps.smoothing import gaussian_blur
from tests.helpers.paths import ROOT

H, W = 48, 64
DARK, BRIGHT = 25.0, 255.0
#: One white square per image, ``(x1, y1, x2, y2)`` in pixel edges (even, to suit stride 2).
SQUARES = [(8, 12, 24, 28), (36, 20, 56, 40)]


def make_backbone() -> Backbone:
    conv = nn.Conv2d(3, 2, kernel_size=3, stride=2, padding=1)
    fc = nn.Linear(2, 2)
    with torch.no_grad():
        conv.weight[0].fill_(1 / 27)
        conv.bias[0] = -0.5
        conv.weight[1].fill_(-0.1 / 27)
        conv.bias[1] = 0.05
        fc.weight.copy_(torch.tensor([[100.0, 0.0], [0.0, 10.0]]))
        fc.bias.zero_()
    backbone = Backbone(
        name="tiny",
        features=nn.Sequential(conv, nn.ReLU()),
        head=_GapLinear(fc),
        linear_head=fc,
        normalize=Normalization((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        class_names=["square", "other"],
        input_size=W,
        score_layers=["1"],
    )
    return backbone.freeze()


@pytest.fixture(scope="module")
def backbone() -> Backbone:
    return make_backbone()


@pytest.fixture
def images(backbone) -> torch.Tensor:
    """Normalised ``(2, 3, H, W)`` batch: dark images, each with its white square."""
    batch = torch.full((len(SQUARES), 3, H, W), DARK)
    for i, (x1, y1, x2, y2) in enumerate(SQUARES):
        batch[i, :, y1:y2, x1:x2] = BRIGHT
    return backbone.normalize(batch)


def assert_maps_find_squares(result, min_mass: float = 0.0) -> None:
    maps = result.maps
    assert maps.shape == (len(SQUARES), H, W)
    assert maps.dtype == torch.float32
    assert torch.isfinite(maps).all()
    assert maps.min() >= 0 and maps.max() <= 1
    for i, square in enumerate(SQUARES):
        m = maps[i].numpy()
        assert m.max() == pytest.approx(1.0) and m.min() == pytest.approx(0.0)
        boxes, mass = threshold_boxes(m)
        assert len(boxes) >= 1
        iou = iou_matrix(boxes[:1], np.array([square], dtype=np.float64))[0, 0]
        assert iou > 0.5, f"image {i}: box {boxes[0]} vs square {square} (IoU {iou:.2f})"
        assert mass[0] > min_mass
    assert result.classes.tolist() == [0] * len(SQUARES)
    assert ((result.scores > 0) & (result.scores <= 1)).all()
    torch.testing.assert_close(result.probabilities.sum(dim=1), torch.ones(len(SQUARES)))
    torch.testing.assert_close(result.scores, result.probabilities.max(dim=1).values)


def test_backbone_classifies_squares_as_class_0(backbone, images):
    feats, logits = backbone.forward(images)
    assert feats.shape == (len(SQUARES), 2, H // 2, W // 2)
    assert logits.argmax(dim=1).tolist() == [0, 0]


@pytest.mark.parametrize(
    ("method", "min_mass"),
    [
        # Class-0 maps only see channel 0: nearly all their mass is on the square.
        (lambda b: CAM(b), 0.9),
        (lambda b: CAM(b, smooth=0.03), 0.8),
        (lambda b: GradCAM(b), 0.9),
        (lambda b: GradCAM(b, layer="1"), 0.9),
        (lambda b: Sensitivity(b, smooth=0.03, aggregate="max"), 0.8),
        (lambda b: Sensitivity(b, smooth=0.03, aggregate="mean"), 0.8),
        # The attention map also sees the weak background channel.
        (lambda b: AttentionSensitivity(b, smooth=0.03, aggregate="max"), 0.3),
        (lambda b: AttentionSensitivity(b, smooth=0.03, aggregate="mean"), 0.3),
        (lambda b: AttentionSensitivity(b), 0.3),
    ],
    ids=[
        "cam",
        "cam-smooth",
        "gradcam",
        "gradcam-relu",
        "sensitivity-max",
        "sensitivity-mean",
        "attention-max",
        "attention-mean",
        "attention-raw",
    ],
)
def test_maps_localise_each_images_square(backbone, images, method, min_mass):
    assert_maps_find_squares(method(backbone)(images), min_mass)


def test_methods_registry_names():
    assert dict(METHODS) == {
        "cam": CAM,
        "gradcam": GradCAM,
        "sensitivity": Sensitivity,
        "attention": AttentionSensitivity,
    }


def test_cam_is_the_weighted_square_channel(backbone, images):
    """Class 0's CAM is 100 × channel 0 of the features, upsampled and scaled to 0-1."""
    with torch.no_grad():
        raw, _ = CAM(backbone).raw_maps(images, None)
        feats, _ = backbone.forward(images)
    torch.testing.assert_close(raw, 100 * feats[:, 0])
    # Inside each square the map is at its peak; far from it, zero.
    maps = CAM(backbone)(images).maps
    for i, (x1, y1, x2, y2) in enumerate(SQUARES):
        assert maps[i, (y1 + y2) // 2, (x1 + x2) // 2] == pytest.approx(1.0)
        outside = torch.ones(H, W, dtype=torch.bool)
        outside[max(y1 - 3, 0) : y2 + 3, max(x1 - 3, 0) : x2 + 3] = False
        assert maps[i][outside].max() == 0


def test_cam_explicit_targets_select_class(backbone, images):
    cam = CAM(backbone)
    t0 = torch.tensor([[1.0, 0.0]] * len(SQUARES))
    t1 = torch.tensor([[0.0, 1.0]] * len(SQUARES))
    default = cam(images).maps
    class0 = cam(images, t0).maps
    class1 = cam(images, t1).maps
    torch.testing.assert_close(default, class0)
    assert not torch.allclose(class0, class1, atol=0.1)
    for i, (x1, y1, x2, y2) in enumerate(SQUARES):
        cy, cx = (y1 + y2) // 2, (x1 + x2) // 2
        # Class 1 ("dark things") is salient on the background, not on the square.
        assert class1[i, cy, cx] == 0
        assert class1[i, 2, 2] > 0.8
    # The targets change the map, not the prediction.
    assert cam(images, t1).classes.tolist() == [0, 0]


def test_cam_of_target_set_is_sum_of_single_class_cams(backbone, images):
    cam = CAM(backbone)
    b = len(SQUARES)
    with torch.no_grad():
        m0, logits = cam.raw_maps(images, torch.tensor([[1.0, 0.0]] * b))
        m1, _ = cam.raw_maps(images, torch.tensor([[0.0, 1.0]] * b))
        both, _ = cam.raw_maps(images, torch.tensor([[1.0, 1.0]] * b))
        weighted, _ = cam.raw_maps(images, torch.tensor([[0.25, 2.0], [3.0, -1.0]]))
    torch.testing.assert_close(both, m0 + m1)
    torch.testing.assert_close(weighted[0], 0.25 * m0[0] + 2.0 * m1[0])
    torch.testing.assert_close(weighted[1], 3.0 * m0[1] - 1.0 * m1[1])
    assert logits.shape == (b, 2)


def test_gradcam_on_last_layer_equals_cam(backbone, images):
    torch.testing.assert_close(GradCAM(backbone)(images).maps, CAM(backbone)(images).maps)


def test_gradcam_leaves_callers_tensor_alone(backbone, images):
    x = images.contiguous(memory_format=torch.channels_last)
    GradCAM(backbone)(x)
    assert not x.requires_grad
    assert x.grad is None


def test_sensitivity_is_zero_far_from_square(backbone, images):
    maps = Sensitivity(backbone, aggregate="max")(images).maps
    for i, (x1, y1, x2, y2) in enumerate(SQUARES):
        near = torch.zeros(H, W, dtype=torch.bool)
        near[max(y1 - 2, 0) : y2 + 2, max(x1 - 2, 0) : x2 + 2] = True
        assert maps[i][~near].max() == 0
        assert maps[i][near].max() == pytest.approx(1.0)


def test_sensitivity_rejects_unknown_aggregate(backbone):
    with pytest.raises(ValueError, match="aggregate"):
        Sensitivity(backbone, aggregate="median")


def test_cam_needs_linear_head():
    backbone = make_backbone()
    backbone.linear_head = None
    with pytest.raises(ValueError, match="gradcam"):
        CAM(backbone)
    # Grad-CAM works without it.
    assert GradCAM(backbone).backbone is backbone


def test_gradcam_unknown_layer(backbone):
    with pytest.raises(KeyError, match="no_such_layer"):
        GradCAM(backbone, layer="no_such_layer")


def test_maps_do_not_leave_gradients_on_frozen_backbone(backbone, images):
    for method in (GradCAM(backbone), Sensitivity(backbone), AttentionSensitivity(backbone)):
        method(images)
    for p in [*backbone.features.parameters(), *backbone.head.parameters()]:
        assert not p.requires_grad
        assert p.grad is None


def test_normalize_maps_constant_map_is_zero():
    maps = torch.stack([torch.full((4, 5), 3.0), torch.arange(20.0).view(4, 5)])
    out = normalize_maps(maps)
    assert (out[0] == 0).all()
    assert out[1].min() == 0 and out[1].max() == 1


# --- gaussian_blur ---------------------------------------------------------------------------


def test_gaussian_blur_preserves_mass_away_from_borders():
    maps = torch.zeros(2, 60, 70)
    maps[0, 30, 35] = 1.0
    maps[1, 20:26, 25:40] = 2.0
    blurred = gaussian_blur(maps, 3.0)
    assert blurred.shape == maps.shape
    torch.testing.assert_close(blurred.sum(dim=(1, 2)), maps.sum(dim=(1, 2)))
    # It spreads the mass: a point becomes a symmetric bump with its peak in place.
    assert blurred[0].max() < 0.1
    assert blurred[0].argmax() == 30 * 70 + 35
    for d in (1, 3, 6):
        assert blurred[0, 30 + d, 35] == pytest.approx(blurred[0, 30 - d, 35].item())
        assert blurred[0, 30, 35 + d] == pytest.approx(blurred[0, 30 - d, 35].item())
    assert blurred[0, 30, 35 + 1] > blurred[0, 30, 35 + 3] > blurred[0, 30, 35 + 6] > 0


@pytest.mark.parametrize("sigma", [0.5, 1.0, 6.0, 9.0])
def test_gaussian_blur_mass_and_centre_for_any_width(sigma):
    maps = torch.zeros(1, 120, 140)
    maps[0, 50:70, 60:80] = 1.0
    blurred = gaussian_blur(maps, sigma)
    assert blurred.shape == maps.shape
    assert blurred.sum().item() == pytest.approx(400.0, rel=0.01)
    assert blurred.min() >= 0
    # The bump stays centred on the block.
    ys, xs = torch.meshgrid(torch.arange(120.0), torch.arange(140.0), indexing="ij")
    total = blurred.sum()
    assert (blurred[0] * ys).sum() / total == pytest.approx(59.5, abs=0.5)
    assert (blurred[0] * xs).sum() / total == pytest.approx(69.5, abs=0.5)


def test_gaussian_blur_keeps_constant_map():
    maps = torch.full((1, 9, 11), 0.7)
    torch.testing.assert_close(gaussian_blur(maps, 5.0), maps)


@pytest.mark.parametrize("sigma", [0.0, -1.0])
def test_gaussian_blur_non_positive_sigma_is_identity(sigma):
    maps = torch.rand(2, 8, 9)
    torch.testing.assert_close(gaussian_blur(maps, sigma), maps, rtol=0, atol=0)


def test_gaussian_blur_larger_than_map():
    maps = torch.zeros(1, 5, 6)
    maps[0, 2, 3] = 1.0
    blurred = gaussian_blur(maps, 50.0)
    assert blurred.shape == maps.shape
    assert torch.isfinite(blurred).all()
    # Nearly uniform, but the mass stays on the map.
    assert blurred.max() - blurred.min() < 0.05


def test_every_map_method_has_its_label_and_the_labels_load_no_torch():
    from core.engine.map_names import MAP_LABELS
    from core.engine.maps import METHODS

    assert list(METHODS) == list(MAP_LABELS)
    assert all(cls.label == MAP_LABELS[name] for name, cls in METHODS.items())
    code = (
        "import sys; import desktop_app.map_selector, desktop_app.controller; "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert done.stdout.strip() == "False", "the GUI thread's wiring imports torch"
