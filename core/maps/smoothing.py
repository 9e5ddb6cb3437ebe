"""Separable Gaussian smoothing of batched maps."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur ``(B, H, W)`` maps with an isotropic Gaussian of ``sigma`` pixels.

    Two 1-D convolutions with edge-replicating padding; the kernel is cut at 3σ (and at the map
    size). ``sigma <= 0`` returns the maps unchanged.
    """
    if sigma <= 0:
        return maps
    h, w = maps.shape[-2:]
    radius = max(1, min(math.ceil(3 * sigma), max(h, w)))
    t = torch.arange(-radius, radius + 1, device=maps.device, dtype=maps.dtype)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = maps.unsqueeze(1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return x.squeeze(1)
