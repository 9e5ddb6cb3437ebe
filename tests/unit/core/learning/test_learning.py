"""The learning loop's core: ridge in closed form, training on generated scenes, model
files, cancelling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.engine.backbones import load_backbone
from core.evaluation.simulation import Truth, corloc
from core.learning.class_head import ClassHead, LabelledImage
from core.learning.dense import DenseDetector
from core.learning.evidence import EvidenceMaker
from core.learning.localizers import (
    LOCALIZERS,
    DenseLocalizer,
    HeadCamLocalizer,
    HeadProbabilityLocalizer,
    RecipeLocalizer,
    RegressorLocalizer,
)
from core.learning.model import FALLBACK, LearnedModel
from core.learning.ridge import RidgeModel, fit_ridge
from core.learning.trainer import TrainingCancelled, train_model

SIDE = 224


def scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A flat grey object whose top-left quarter is a high-contrast checkerboard, on noise.

    The box is the whole object, but zero-shot saliency lights up the checkerboard: what
    the object looks like has to be learned from accepted boxes.
    """
    img = rng.normal(110, 12, (SIDE, SIDE, 3))
    w, h = (int(v) for v in rng.integers(90, 150, 2))
    x, y = int(rng.integers(0, SIDE - w)), int(rng.integers(0, SIDE - h))
    img[y : y + h, x : x + w] = rng.normal(125, 12, (h, w, 3))
    yy, xx = np.mgrid[0 : h // 2, 0 : w // 2]
    img[y : y + h // 2, x : x + w // 2] = (((yy // 6 + xx // 6) % 2) * 255)[..., None]
    return img.clip(0, 255).astype(np.uint8), np.array([[x, y, x + w, y + h]], float)


@pytest.fixture(scope="module")
def backbone():
    return load_backbone()


@pytest.fixture(scope="module")
def scenes(backbone):
    rng = np.random.default_rng(0)
    data = [scene(rng) for _ in range(36)]
    evidence = EvidenceMaker(backbone)([image for image, _ in data])
    truth = [Truth(boxes, ("widget",)) for _, boxes in data]
    return evidence, truth


def labelled(evidence, truth) -> list[LabelledImage]:
    return [
        LabelledImage(e, t.boxes / SIDE, t.labels) for e, t in zip(evidence, truth, strict=True)
    ]


@pytest.mark.parametrize("samples", [8, 200])  # fewer samples than features: dual form
def test_ridge_matches_a_direct_least_squares_solve(samples):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(samples, 30)) * rng.uniform(0.5, 3, 30) + rng.normal(size=30)
    y = rng.normal(size=(samples, 4))
    alpha = 0.3
    model = fit_ridge(x, y, alpha)
    # The same problem as ordinary least squares on rows augmented with √λ·I.
    xs = (x - x.mean(0)) / x.std(0)
    lam = alpha * samples
    a = np.vstack(
        [
            np.hstack([xs, np.ones((samples, 1))]),
            np.hstack([np.sqrt(lam) * np.eye(30), np.zeros((30, 1))]),
        ]
    )
    b = np.vstack([y, np.zeros((30, 4))])
    direct, *_ = np.linalg.lstsq(a, b, rcond=None)
    np.testing.assert_allclose(model.weights, direct[:-1], atol=1e-8)
    np.testing.assert_allclose(
        model.predict(x), np.hstack([xs, np.ones((samples, 1))]) @ direct, atol=1e-8
    )


def test_ridge_rejects_bad_shapes_and_penalties():
    with pytest.raises(ValueError):
        fit_ridge(np.zeros((3, 2)), np.zeros((4, 1)), 1.0)
    with pytest.raises(ValueError):
        fit_ridge(np.zeros((3, 2)), np.zeros((3, 1)), 0.0)


def test_training_on_accepted_boxes_raises_corloc_on_held_back_images(backbone, scenes):
    evidence, truth = scenes
    model = train_model(labelled(evidence[:20], truth[:20]), backbone.name)
    zero_shot = LearnedModel(backbone.name, None)
    before = corloc(zero_shot, evidence[20:], truth[20:], backbone.class_names)
    after = corloc(model, evidence[20:], truth[20:], backbone.class_names)
    figures = model.metrics["classes"]["widget"]
    assert figures["choice"] != FALLBACK
    assert figures["cv_corloc"][figures["choice"]] > figures["cv_corloc"][FALLBACK]
    assert after >= before + 0.2, (before, after)
    # Proposals now carry the user's class, not an ImageNet name.
    proposals = model.propose(evidence[25], backbone.class_names).proposals
    assert proposals and {p.class_name for p in proposals} == {"widget"}


def test_few_images_keep_the_default(backbone, scenes):
    evidence, truth = scenes
    model = train_model(labelled(evidence[:4], truth[:4]), backbone.name)
    assert model.metrics["classes"]["widget"]["choice"] == FALLBACK


def test_model_file_round_trip(backbone, scenes, tmp_path):
    evidence, truth = scenes
    model = train_model(labelled(evidence[:12], truth[:12]), backbone.name)
    path = tmp_path / "models" / "model-1.pt"
    model.save(path)
    loaded = LearnedModel.load(path)
    assert loaded.classes == ["widget"]
    assert loaded.metrics == model.metrics
    for ev in evidence[12:16]:
        a = model.propose(ev, backbone.class_names)
        b = loaded.propose(ev, backbone.class_names)
        assert [p.box for p in a.proposals] == [p.box for p in b.proposals]
        np.testing.assert_array_equal(a.saliency, b.saliency)
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a readable SaliBox model"):
        LearnedModel.load(tmp_path / "junk.pt")


def every_kind_of_localizer() -> LearnedModel:
    rng = np.random.default_rng(3)
    head = ClassHead(["a", "b", "c", "d"], torch.randn(5, 8), torch.randn(5))
    ridge = RidgeModel(*(rng.normal(size=s).astype(np.float32) for s in ((6,), (6,), (6, 4), (4,))))
    sides = RidgeModel(*(rng.normal(size=s) for s in ((12,), (12,), (12, 4), (4,))))
    detector = DenseDetector(
        ["d", "e"], torch.randn(12), torch.rand(12) + 0.5, torch.randn(3, 12), torch.randn(3), sides
    )
    localizers = {
        "a": RecipeLocalizer("cam-grabcut"),
        "b": HeadCamLocalizer(head),
        "c": HeadProbabilityLocalizer(head),
        "d": RegressorLocalizer("cam", ridge),
        "e": DenseLocalizer(detector, "e", 0.42),
    }
    return LearnedModel("efficientnet_lite0", head, localizers, {"images": 9})


def described(model: LearnedModel) -> dict[str, tuple]:
    out = {}
    for name, loc in model.localizers.items():
        ridge = getattr(loc, "model", None)
        arrays = () if ridge is None else tuple(ridge.weights.ravel().tolist())
        if isinstance(loc, DenseLocalizer):
            d = loc.detector
            arrays = (
                d.classes,
                loc.class_name,
                loc.threshold,
                d.weight.tolist(),
                d.sides.weights.tolist(),
            )
        out[name] = (type(loc), loc.name, getattr(loc, "recipe", None), arrays)
    return out


def test_every_registered_localizer_survives_the_model_file(tmp_path):
    model = every_kind_of_localizer()
    assert {type(loc) for loc in model.localizers.values()} == set(LOCALIZERS.values())
    model.save(tmp_path / "m.pt")
    assert described(LearnedModel.load(tmp_path / "m.pt")) == described(model)


def test_a_model_file_of_the_first_format_still_loads(tmp_path):
    """Files written before the localizer registry named each class's choice."""
    model = every_kind_of_localizer()
    del model.localizers["e"]  # the dense detector came later
    ridge = model.localizers["d"].model
    old = {
        "format": 1,
        "backbone": model.backbone,
        "head": {
            "classes": model.head.classes,
            "weight": model.head.weight,
            "bias": model.head.bias,
        },
        "choices": {
            "a": "recipe:cam-grabcut",
            "b": "head-cam",
            "c": "head-probability",
            "d": "regressor:cam",
        },
        "regressors": {
            "d": {
                "recipe": "cam",
                **{
                    k: torch.from_numpy(getattr(ridge, k))
                    for k in ("mean", "scale", "weights", "bias")
                },
            }
        },
        "metrics": "{}",
        "tail": None,
    }
    torch.save(old, tmp_path / "old.pt")
    assert described(LearnedModel.load(tmp_path / "old.pt")) == described(model)


def test_cancelled_training_raises(backbone, scenes):
    evidence, truth = scenes
    with pytest.raises(TrainingCancelled):
        train_model(labelled(evidence[:10], truth[:10]), backbone.name, cancelled=lambda: True)


def test_training_needs_boxes(backbone):
    with pytest.raises(ValueError, match="no accepted box"):
        train_model([], backbone.name)


def test_saliency_aligned_training_tunes_the_tail_and_its_file_needs_the_backbone(
    backbone, tmp_path
):
    from core.learning.saliency_tuning import SaliencyAlignment

    rng = np.random.default_rng(5)
    data = [scene(rng) for _ in range(12)]
    evidence = EvidenceMaker(backbone, keep_tail_input=True)([image for image, _ in data])
    assert evidence[0].tail_input is not None and evidence[0].tail_input.shape[0] == 192
    items = [
        LabelledImage(e, boxes / SIDE, ("widget",))
        for e, (_, boxes) in zip(evidence, data, strict=True)
    ]
    model = train_model(items[:10], backbone.name, align=SaliencyAlignment(backbone, steps=5))
    assert model.tail is not None
    assert model.metrics["saliency_alignment"]["steps"] == 5
    # Proposals read features recomputed through the tuned tail, not the cached ones.
    tuned = model.tuned(evidence[11])
    assert not torch.equal(tuned.features.float(), evidence[11].features.float())
    before = model.propose(evidence[11], backbone.class_names)
    path = tmp_path / "aligned.pt"
    model.save(path)
    with pytest.raises(ValueError, match="load it with that backbone"):
        LearnedModel.load(path)
    loaded = LearnedModel.load(path, backbone)
    after = loaded.propose(evidence[11], backbone.class_names)
    assert [p.box for p in after.proposals] == [p.box for p in before.proposals]
    # Evidence without tail inputs cannot feed a tuned model.
    with pytest.raises(ValueError, match="tail inputs"):
        loaded.propose(EvidenceMaker(backbone)([data[11][0]])[0], backbone.class_names)
