"""Grad-CAM (Selvaraju et al. 2017) on any layer of the backbone's features."""

from __future__ import annotations

import torch

from core.engine.backbones import Backbone
from core.engine.errors import UnknownNameError
from core.engine.map_names import MAP_LABELS
from core.engine.maps.base import SaliencyMethod


class GradCAM(SaliencyMethod):
    """``ReLU(Σ_k α_k A_k)`` with ``α_k`` the spatial mean of ``∂ score / ∂ A_k``.

    Args:
        layer: name of a module inside ``backbone.features`` (``""``, the default, is the
            last conv output, where Grad-CAM equals CAM up to scale for a GAP → Linear head).
    """

    name = "gradcam"
    label = MAP_LABELS["gradcam"]
    needs_gradients = True

    def __init__(self, backbone: Backbone, smooth: float = 0.0, layer: str = "") -> None:
        super().__init__(backbone, smooth)
        modules = dict(backbone.features.named_modules())
        if layer not in modules:
            raise UnknownNameError(f"{backbone.name} has no layer {layer!r}")
        self.layer = modules[layer]

    def raw_maps(self, x, targets):
        captured: list[torch.Tensor] = []
        hook = self.layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            _, logits = self.backbone.forward(x.detach().requires_grad_(True))
        finally:
            hook.remove()
        activations = captured[-1]
        score = (logits * self._resolve(targets, logits)).sum()
        (grads,) = torch.autograd.grad(score, activations)
        alpha = grads.mean(dim=(2, 3), keepdim=True)
        return torch.relu((alpha * activations).sum(dim=1)), logits
