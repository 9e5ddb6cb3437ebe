"""Pixel sensitivity maps (Interpreting Deep Neural Network: Fast Object Localization via
Sensitivity Analysis, §2.1-2.3; Simonyan et al., Deep Inside Convolutional Networks, 2013, §3.1)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar, Literal

import torch

from core.engine.backbones import Backbone
from core.engine.map_names import MAP_LABELS
from core.engine.maps.base import SaliencyMethod

Aggregate = Literal["max", "mean"]


class _PixelGradient(SaliencyMethod):
    """``|∂ objective / ∂ pixel|`` aggregated over the colour channels by max or mean."""

    needs_gradients = True
    recipe_smooth = 0.05
    recipe_options: ClassVar[dict[str, Any]] = {"aggregate": "max"}

    def __init__(
        self, backbone: Backbone, smooth: float = 0.0, aggregate: Aggregate = "max"
    ) -> None:
        super().__init__(backbone, smooth)
        if aggregate not in ("max", "mean"):
            raise ValueError(f"aggregate must be 'max' or 'mean', not {aggregate!r}")
        self.aggregate = aggregate

    @abstractmethod
    def objective(
        self, feats: torch.Tensor, logits: torch.Tensor, targets: torch.Tensor | None
    ) -> torch.Tensor:
        """The scalar whose pixel gradient is the map (summed over the batch)."""

    def raw_maps(self, x, targets):
        x = x.detach().requires_grad_(True)
        feats, logits = self.backbone.forward(x)
        (grads,) = torch.autograd.grad(self.objective(feats, logits, targets), x)
        grads = grads.abs_()
        maps = grads.amax(dim=1) if self.aggregate == "max" else grads.mean(dim=1)
        return maps, logits


class Sensitivity(_PixelGradient):
    """Gradient of the target class score with respect to the pixels (sensitivity-analysis
    paper §2.1)."""

    name = "sensitivity"
    label = MAP_LABELS["sensitivity"]

    def objective(self, feats, logits, targets):
        return (logits * self._resolve(targets, logits)).sum()


class AttentionSensitivity(_PixelGradient):
    """Gradient of the sum of the last conv activations (the "attention map" of the
    sensitivity-analysis paper, §2.2).

    Independent of any class, so it also localises objects of classes the network never saw.
    """

    name = "attention"
    label = MAP_LABELS["attention"]

    def objective(self, feats, logits, targets):
        return feats.float().sum()
