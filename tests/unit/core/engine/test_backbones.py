"""Building backbones from weights on disk, never from the network (core.engine.backbones).

The weights are randomly initialised torchvision state dicts the tests save themselves, so
nothing is downloaded and the real ImageNet files are not needed.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm
from torch import nn

from core.engine.backbones import (
    BACKBONES,
    IMAGENET_NORM,
    Normalization,
    WeightsNotFoundError,
    load_backbone,
)

RESNET18_FILE = Path(tvm.ResNet18_Weights.IMAGENET1K_V1.url).name
MOBILENET_FILES = [Path(w.url).name for w in tvm.MobileNet_V3_Large_Weights]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to download fails the test loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """An empty ``$TORCH_HOME``; returns its ``hub/checkpoints`` folder (not created)."""
    home = tmp_path / "torch home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    assert Path(torch.hub.get_dir()) == home / "hub"
    return home / "hub" / "checkpoints"


@pytest.fixture(scope="module")
def resnet18_state() -> dict:
    torch.manual_seed(0)
    return tvm.resnet18(weights=None).state_dict()


@pytest.fixture(scope="module")
def mobilenet_state() -> dict:
    torch.manual_seed(0)
    return tvm.mobilenet_v3_large(weights=None).state_dict()


def save_state(state: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path


def assert_frozen_eval(backbone) -> None:
    modules = [backbone.features, backbone.head]
    for module in modules:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    assert backbone.device == torch.device("cpu")


def test_resnet18_file_name_is_the_published_one():
    assert RESNET18_FILE == "resnet18-f37072fd.pth"


def test_missing_weights_name_file_and_folder(torch_home):
    with pytest.raises(WeightsNotFoundError) as info:
        load_backbone("resnet18")
    message = str(info.value)
    assert RESNET18_FILE in message
    assert str(torch_home) in message
    assert isinstance(info.value, FileNotFoundError)


def test_missing_mobilenet_weights_names_a_published_file(torch_home):
    with pytest.raises(WeightsNotFoundError) as info:
        load_backbone("mobilenet_v3_large")
    assert MOBILENET_FILES[0] in str(info.value)
    assert str(torch_home) in str(info.value)


def test_resnet18_from_hub_cache(torch_home, resnet18_state):
    save_state(resnet18_state, torch_home / RESNET18_FILE)
    backbone = load_backbone("resnet18")
    assert backbone.name == "resnet18"
    assert_frozen_eval(backbone)
    # The saved weights were loaded, not a fresh random initialisation.
    torch.testing.assert_close(backbone.linear_head.weight, resnet18_state["fc.weight"])
    assert backbone.head.fc is backbone.linear_head
    assert isinstance(backbone.linear_head, nn.Linear)
    assert backbone.normalize == IMAGENET_NORM
    assert len(backbone.class_names) == 1000
    feats, logits = backbone.forward(torch.randn(1, 3, 64, 64))
    assert feats.shape == (1, 512, 2, 2)
    assert logits.shape == (1, 1000)
    # The head is GAP → Linear, as CAM assumes.
    torch.testing.assert_close(logits, backbone.linear_head(feats.mean(dim=(2, 3))))
    modules = dict(backbone.features.named_modules())
    assert all(name in modules for name in backbone.score_layers)


def test_resnet18_matches_torchvision_network(torch_home, resnet18_state):
    save_state(resnet18_state, torch_home / RESNET18_FILE)
    backbone = load_backbone("resnet18")
    reference = tvm.resnet18(weights=None)
    reference.load_state_dict(resnet18_state)
    reference.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        _, logits = backbone.forward(x)
        torch.testing.assert_close(logits, reference(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("as_str", [False, True])
def test_resnet18_explicit_weights_path(torch_home, tmp_path, resnet18_state, as_str):
    path = save_state(resnet18_state, tmp_path / "my weights" / "anything.pth")
    backbone = load_backbone("resnet18", weights_path=str(path) if as_str else path)
    torch.testing.assert_close(backbone.linear_head.weight, resnet18_state["fc.weight"])
    feats, logits = backbone.forward(torch.randn(1, 3, 64, 64))
    assert feats.shape == (1, 512, 2, 2) and logits.shape == (1, 1000)
    assert not torch_home.exists()  # the hub cache was not needed


def test_explicit_weights_path_missing(tmp_path, torch_home):
    missing = tmp_path / "not here.pth"
    with pytest.raises(WeightsNotFoundError, match=r"not here\.pth"):
        load_backbone("resnet18", weights_path=missing)


@pytest.mark.parametrize("published", [0, 1])
def test_mobilenet_v3_large_from_hub_cache(torch_home, mobilenet_state, published):
    # Either published ImageNet file (V1 or V2) in the cache is found.
    save_state(mobilenet_state, torch_home / MOBILENET_FILES[published])
    backbone = load_backbone("mobilenet_v3_large")
    assert backbone.name == "mobilenet_v3_large"
    assert backbone.linear_head is None
    assert_frozen_eval(backbone)
    feats, logits = backbone.forward(torch.randn(1, 3, 64, 64))
    assert feats.shape == (1, 960, 2, 2)
    assert logits.shape == (1, 1000)
    modules = dict(backbone.features.named_modules())
    assert all(name in modules for name in backbone.score_layers)


def test_mobilenet_v3_large_explicit_weights_path(torch_home, tmp_path, mobilenet_state):
    path = save_state(mobilenet_state, tmp_path / "mnv3.pth")
    backbone = load_backbone("mobilenet_v3_large", weights_path=path)
    assert backbone.linear_head is None
    feats, logits = backbone.forward(torch.randn(1, 3, 64, 64))
    assert feats.shape == (1, 960, 2, 2) and logits.shape == (1, 1000)


def test_wrong_state_dict_is_an_error(torch_home, mobilenet_state):
    save_state(mobilenet_state, torch_home / RESNET18_FILE)
    with pytest.raises(RuntimeError):
        load_backbone("resnet18")


def test_unknown_backbone_lists_names():
    with pytest.raises(KeyError) as info:
        load_backbone("resnet1000")
    message = str(info.value)
    assert "resnet1000" in message
    for name in BACKBONES:
        assert name in message


def test_normalization_matches_formula():
    norm = Normalization(mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 1.0))
    images = torch.tensor([255.0, 0.0, 127.5]).view(1, 3, 1, 1).expand(2, 3, 4, 5)
    out = norm(images)
    assert out.shape == (2, 3, 4, 5)
    torch.testing.assert_close(out[:, :, 0, 0], torch.tensor([[1.0, -1.0, 0.5]] * 2))
