"""Class activation maps (Zhou et al. 2016, §2)."""

from __future__ import annotations

import torch

from core.engine.errors import InputError
from core.engine.map_names import MAP_LABELS
from core.engine.maps.base import SaliencyMethod


class CAM(SaliencyMethod):
    """``M_c(x, y) = Σ_k w^c_k f_k(x, y)``: last conv activations weighted by the linear
    head's weights for class ``c``.

    For a weighted set of classes the map is the same sum with ``Σ_c t_c w^c`` (CAM is
    linear in the weights). Needs a GAP → Linear head (EfficientNet, ResNet); use Grad-CAM
    for other networks. One forward pass, no gradients.
    """

    name = "cam"
    label = MAP_LABELS["cam"]

    def __init__(self, backbone, smooth: float = 0.0) -> None:
        if backbone.linear_head is None:
            raise InputError(
                f"CAM needs a global-average-pooling + linear head, which {backbone.name} "
                "does not have; use gradcam"
            )
        super().__init__(backbone, smooth)

    def raw_maps(self, x, targets):
        feats, logits = self.backbone.forward(x)
        weights = self._resolve(targets, logits) @ self.backbone.linear_head.weight  # (B, C)
        return torch.einsum("bc,bchw->bhw", weights.to(feats.dtype), feats), logits
