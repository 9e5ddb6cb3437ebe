"""Integration: the embedded EfficientNet-Lite0 weights on a real photograph."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from core.engine.backbones import load_backbone
from core.engine.proposals import RECIPES, make_proposer

CAT_CLASSES = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
# scikit-image's chelsea (451 x 300) is a close-up of a cat's face; its eyes and nose lie in
# this box (pixels, read off the photograph).
EYES_AND_NOSE = (140.0, 90.0, 340.0, 255.0)


def covered(box, region) -> float:
    """Fraction of ``region`` inside ``box`` (both x1, y1, x2, y2)."""
    x1, y1, x2, y2 = box
    rx1, ry1, rx2, ry2 = region
    inter = max(0, min(x2, rx2) - max(x1, rx1)) * max(0, min(y2, ry2) - max(y1, ry1))
    return inter / ((rx2 - rx1) * (ry2 - ry1))


@pytest.fixture(scope="module")
def backbone():
    return load_backbone()


def test_chelsea_is_a_cat(backbone):
    proposer = make_proposer(backbone, "cam")
    result, _ = proposer.maps([data.chelsea()])
    assert backbone.class_names[int(result.classes[0])] in CAT_CLASSES
    assert float(result.scores[0]) > 0.5


@pytest.mark.parametrize("method", ["default", "cam", "gradcam", "sensitivity", "attention"])
def test_top_box_covers_the_face(backbone, method):
    image = data.chelsea()
    (result,) = make_proposer(backbone, method).propose([image])
    top = result.proposals[0]
    assert top.class_name in CAT_CLASSES
    x1, y1, x2, y2 = top.box
    assert 0 <= x1 < x2 <= image.shape[1] and 0 <= y1 < y2 <= image.shape[0]
    assert covered(top.box, EYES_AND_NOSE) > 0.95
    assert result.saliency.shape == (RECIPES[method].input_size,) * 2


@pytest.mark.parametrize("method", ["default", "cam"])
def test_class_maps_do_not_take_the_whole_frame(backbone, method):
    """The CAM and default boxes leave out part of the background around the face."""
    image = data.chelsea()
    (result,) = make_proposer(backbone, method).propose([image])
    x1, y1, x2, y2 = result.proposals[0].box
    assert (x2 - x1) * (y2 - y1) < 0.92 * image.shape[0] * image.shape[1]


def test_batch_matches_single_images(backbone):
    images = [data.chelsea(), data.astronaut(), data.coffee()]
    proposer = make_proposer(backbone, "default")
    batched = proposer.propose(images)
    for image, together in zip(images, batched, strict=True):
        (alone,) = proposer.propose([image])
        assert alone.proposals[0].class_name == together.proposals[0].class_name
        np.testing.assert_allclose(alone.proposals[0].box, together.proposals[0].box, atol=2.0)


def test_odd_images_give_proposals_not_errors(backbone):
    proposer = make_proposer(backbone, "default")
    gray = np.repeat(data.camera()[:, :, None], 3, axis=2)
    tiny = np.full((1, 1, 3), 200, dtype=np.uint8)
    wide = np.ascontiguousarray(data.chelsea()[:20])
    for image in (gray, tiny, wide):
        (result,) = proposer.propose([image])
        for p in result.proposals:
            x1, y1, x2, y2 = p.box
            assert 0 <= x1 <= x2 <= image.shape[1] and 0 <= y1 <= y2 <= image.shape[0]


def test_sensitivity_needs_no_parameter_gradients(backbone):
    """Saliency backward passes reach the pixels only: the weights stay frozen."""
    make_proposer(backbone, "default").propose([data.chelsea()])
    params = [*backbone.features.parameters(), *backbone.head.parameters()]
    assert all(not p.requires_grad and p.grad is None for p in params)
    assert torch.is_grad_enabled()
