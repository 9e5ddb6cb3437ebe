"""Image score from activation chains: how typical an image is of its class (Image Score:
How to Select Useful Samples, §2.2).

For a set 𝓘 of images of one class and each chosen layer l, X^l sums the images'
activations ``(C, h, w)``. The class mask is ``M^l = 1{X^l / |𝓘| >= t^l}`` and an image's
mask ``M^{I,l} = 1{X^{I,l} >= t^l}``, with ``t^l = max(X^l / |𝓘|) / 2``. The score is

    s^I = Σ_l log( Σ_i (M^{I,l} ∧ M^l)_i / Σ_i M^l_i ),

the log share of the class's strongly active units that the image activates too. Two
departures from the paper, both measured (README, bench/image_score.py):

* The paper's literal threshold ``max(X^l) / 2`` uses the *sum* over images, about |𝓘|
  times any one image's activations, so no image has an active unit and every score is
  −∞. The mean is used instead; ``literal=True`` keeps the paper's rule for comparison.
* The count is of units active in the image *and* in the class mask; counting all the
  image's active units gave no separation on raccoon.

A layer where the image shares no active unit would give log 0: the ratio is floored at
``EPSILON`` and such layers are counted in :attr:`Scores.empty_layers`.

The sums are additive, so a :class:`Reference` streams: pass 1 adds batches, pass 2 scores
batches against it; no pass holds more than one batch of activations, and new labels
update a reference with :meth:`Reference.add` without recomputing it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from core.engine.backbones import Backbone
from core.engine.device import autocast
from core.engine.errors import UnknownNameError

EPSILON = 1e-6


@dataclass
class Reference:
    """Running per-layer sums of activations of one class's images.

    Attributes:
        sums: layer name → float64 ``(C, h, w)`` sum of activations over the images added.
        count: number of images added.
    """

    sums: dict[str, torch.Tensor] = field(default_factory=dict)
    count: int = 0

    def add(self, activations: dict[str, torch.Tensor]) -> None:
        """Add a batch: layer name → ``(B, C, h, w)`` activations of B images of the class."""
        batch = 0
        for name, act in activations.items():
            total = act.detach().double().sum(dim=0).cpu()
            self.sums[name] = self.sums[name] + total if name in self.sums else total
            batch = act.shape[0]
        self.count += batch

    def remove(self, activations: dict[str, torch.Tensor]) -> None:
        """Take back a batch that was added (the sums are additive)."""
        batch = 0
        for name, act in activations.items():
            self.sums[name] = self.sums[name] - act.detach().double().sum(dim=0).cpu()
            batch = act.shape[0]
        self.count -= batch

    def thresholds(self, literal: bool = False) -> dict[str, float]:
        """``t^l = max(X^l / |𝓘|) / 2`` per layer (``max(X^l) / 2`` when ``literal``)."""
        scale = 1.0 if literal else 1.0 / max(self.count, 1)
        return {name: float(s.max()) * scale / 2 for name, s in self.sums.items()}

    def masks(self, literal: bool = False) -> dict[str, torch.Tensor]:
        """The class's "correct" masks ``M^l``: boolean ``(C, h, w)`` per layer."""
        scale = 1.0 if literal else 1.0 / max(self.count, 1)
        t = self.thresholds(literal)
        return {name: s * scale >= t[name] for name, s in self.sums.items()}


@dataclass(frozen=True)
class Scores:
    """Scores of a batch.

    Attributes:
        scores: ``(B,)`` float64, Σ over layers of log shares, ≤ 0 (0 = every class unit
            active); ``-len(layers) * log(1/EPSILON)`` at the floor.
        empty_layers: ``(B,)`` int64, layers where the image shared no active unit.
    """

    scores: torch.Tensor
    empty_layers: torch.Tensor


def score_activations(
    activations: dict[str, torch.Tensor], reference: Reference, literal: bool = False
) -> Scores:
    """Score a batch (layer name → ``(B, C, h, w)``) against a class reference."""
    masks = reference.masks(literal)
    thresholds = reference.thresholds(literal)
    batch = next(iter(activations.values())).shape[0]
    total = torch.zeros(batch, dtype=torch.float64)
    empty = torch.zeros(batch, dtype=torch.int64)
    for name, act in activations.items():
        mask = masks[name].to(act.device)
        active = (act.detach().double() >= thresholds[name]) & mask
        shared = active.flatten(1).sum(dim=1).double().cpu()
        ratio = shared / max(int(mask.sum()), 1)
        empty += (shared == 0).long()
        total += torch.log(ratio.clamp_min(EPSILON))
    return Scores(total, empty)


@dataclass(frozen=True)
class Forward:
    """What one batched forward pass gives the image score.

    Attributes:
        activations: layer name → ``(B, C, h, w)``.
        classes: ``(B,)`` top-1 class indices.
        confidence: ``(B,)`` softmax probability of that class.
    """

    activations: dict[str, torch.Tensor]
    classes: torch.Tensor
    confidence: torch.Tensor


class ActivationReader:
    """Runs a backbone and keeps the outputs of its score layers (forward hooks).

    Args:
        backbone: the network.
        layers: module names inside ``backbone.features``; ``backbone.score_layers`` by
            default (every MBConv block for EfficientNet-Lite0).
    """

    def __init__(self, backbone: Backbone, layers: list[str] | None = None) -> None:
        self.backbone = backbone
        self.layers = list(layers or backbone.score_layers)
        modules = dict(backbone.features.named_modules())
        missing = [n for n in self.layers if n not in modules]
        if missing:
            raise UnknownNameError(f"{backbone.name} has no layer {missing[0]!r}")
        self._modules = [modules[n] for n in self.layers]

    @contextmanager
    def _hooks(self, store: dict[str, torch.Tensor]) -> Iterator[None]:
        handles = [
            module.register_forward_hook(
                lambda _m, _i, out, name=name: store.__setitem__(name, out.float())
            )
            for name, module in zip(self.layers, self._modules, strict=True)
        ]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def __call__(self, x: torch.Tensor) -> Forward:
        """Normalised images ``(B, 3, H, W)`` → activations, classes and confidences."""
        store: dict[str, torch.Tensor] = {}
        device = self.backbone.device
        x = x.to(device, memory_format=torch.channels_last)
        with self._hooks(store), torch.inference_mode(), autocast(device):
            _, logits = self.backbone.forward(x)
        confidence, classes = logits.float().softmax(dim=1).max(dim=1)
        return Forward(store, classes.cpu(), confidence.cpu())


def log_floor(layers: int) -> float:
    """The lowest possible score with ``layers`` layers (every ratio at ``EPSILON``)."""
    return layers * math.log(EPSILON)
