"""The shared base of every saliency method: targets, resizing, smoothing, normalising.

A method implements :meth:`SaliencyMethod.raw_maps`; the base turns its output into maps
at the input resolution, each scaled to 0-1, with the predicted class and its probability.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from core.engine.backbones import Backbone
from core.engine.device import autocast
from core.engine.maps.smoothing import gaussian_blur


@dataclass
class MapResult:
    """Saliency maps for a batch.

    Attributes:
        maps: ``(B, H, W)`` float32 at the input resolution, each map scaled to 0-1
            (min-max).
        classes: ``(B,)`` int64, the top-1 predicted class of each image.
        scores: ``(B,)`` float32, the softmax probability of that class.
        probabilities: ``(B, K)`` float32 softmax over all classes.
    """

    maps: torch.Tensor
    classes: torch.Tensor
    scores: torch.Tensor
    probabilities: torch.Tensor


def one_hot_targets(logits: torch.Tensor) -> torch.Tensor:
    """``(B, K)`` logits → ``(B, K)`` one-hot weights of each row's top-1 class."""
    return F.one_hot(logits.argmax(dim=1), logits.shape[1]).to(logits.dtype)


def normalize_maps(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each ``(H, W)`` map of ``(B, H, W)`` to 0-1 by its own min and max.

    A constant map becomes all zeros.
    """
    flat = maps.flatten(1)
    lo = flat.min(dim=1).values.view(-1, 1, 1)
    hi = flat.max(dim=1).values.view(-1, 1, 1)
    return (maps - lo) / (hi - lo).clamp_min(eps)


class SaliencyMethod(ABC):
    """Base of every map method: ``method(x, targets) -> MapResult``.

    Args:
        backbone: the classifier to explain.
        smooth: Gaussian σ as a fraction of the input's longer side (0 = no smoothing);
            gradient maps are speckled and need about 0.02-0.08.
    """

    #: The method's name in :data:`core.engine.maps.METHODS` and in recipes.
    name: ClassVar[str]
    #: How the app's map selector names it.
    label: ClassVar[str]
    needs_gradients: ClassVar[bool] = False
    #: The blur (fraction of the side) and keyword arguments of the method's own recipe
    #: (``core.engine.proposals.RECIPES[name]``).
    recipe_smooth: ClassVar[float] = 0.0
    recipe_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, backbone: Backbone, smooth: float = 0.0) -> None:
        self.backbone = backbone
        self.smooth = smooth

    @abstractmethod
    def raw_maps(
        self, x: torch.Tensor, targets: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Compute unnormalised maps.

        Args:
            x: normalised images ``(B, 3, H, W)``.
            targets: ``(B, K)`` class weights (the map explains ``Σ_k targets[b,k] ·
                logit_k``), or ``None`` for each image's top-1 class.

        Returns:
            (maps ``(B, h, w)`` at any resolution, logits ``(B, K)``).
        """

    def __call__(self, x: torch.Tensor, targets: torch.Tensor | None = None) -> MapResult:
        """Maps for normalised images ``x`` ``(B, 3, H, W)``; see :class:`MapResult`."""
        device = self.backbone.device
        x = x.to(device, memory_format=torch.channels_last)
        grad_mode = torch.enable_grad() if self.needs_gradients else torch.inference_mode()
        with grad_mode, autocast(device):
            maps, logits = self.raw_maps(x, targets)
        maps = maps.detach().float()
        logits = logits.detach().float()
        height, width = x.shape[-2:]
        if maps.shape[-2:] != (height, width):
            maps = F.interpolate(
                maps.unsqueeze(1), size=(height, width), mode="bilinear", align_corners=False
            ).squeeze(1)
        if self.smooth > 0:
            maps = gaussian_blur(maps, self.smooth * max(height, width))
        probabilities = logits.softmax(dim=1)
        scores, classes = probabilities.max(dim=1)
        return MapResult(normalize_maps(maps), classes, scores, probabilities)

    def _resolve(self, targets: torch.Tensor | None, logits: torch.Tensor) -> torch.Tensor:
        if targets is None:
            return one_hot_targets(logits.detach())
        return targets.to(logits.device, logits.dtype)
