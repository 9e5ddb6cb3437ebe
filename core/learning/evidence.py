"""What the learning loop keeps of an image: network features and saliency maps.

Everything the learned parts fit or predict from (the class head, the box regressors, the
per-class choice of method) reads an :class:`Evidence`, so one forward pass (plus the
backward passes of gradient maps) per image serves training, cross-validation and
proposals alike, and the simulator can replay a whole session from a cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from core.backbones import Backbone
from core.maps import METHODS
from core.proposals import RECIPES, Recipe, resize_for_network

#: The zero-shot recipes the learning loop compares per class (bench/localization.py):
#: the default sensitivity map, CAM with the 20%-of-max rule, and GrabCut from CAM (the
#: best on multi-object fruit images).
CANDIDATE_RECIPES: tuple[str, ...] = ("default", "cam", "cam-grabcut")


@dataclass
class Evidence:
    """One image as the learning loop sees it.

    Attributes:
        size: ``(W, H)`` of the original image, pixels.
        resized: ``(S, S, 3)`` uint8 network-size copy.
        features: ``(C, h, w)`` float16 last conv activations (CPU).
        imagenet_class: the backbone's top-1 class index.
        imagenet_confidence: its softmax probability, 0-1.
        maps: recipe name → ``(S, S)`` float32 map, 0-1.
        recipe_boxes: recipe name → its ``(N, 4)`` boxes as fractions (filled on first
            use: they do not change with training, and GrabCut takes tens of ms).
    """

    size: tuple[int, int]
    resized: np.ndarray
    features: torch.Tensor
    imagenet_class: int
    imagenet_confidence: float
    maps: dict[str, np.ndarray]
    recipe_boxes: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def side(self) -> int:
        """``S``, the side of the maps in pixels."""
        return int(self.resized.shape[0])


def _map_key(recipe: Recipe) -> tuple:
    """Recipes whose maps are computed the same way share one map."""
    return (recipe.maps, recipe.smooth, tuple(sorted(recipe.map_options.items())))


class EvidenceMaker:
    """Computes :class:`Evidence` for batches of images with one backbone.

    Args:
        backbone: the classifier (its ``features`` give :attr:`Evidence.features`).
        recipes: names in :data:`core.proposals.RECIPES` whose maps to keep; recipes with
            the same map share its computation.
        input_size: network input side ``S``, pixels.
    """

    def __init__(
        self,
        backbone: Backbone,
        recipes: Sequence[str] = CANDIDATE_RECIPES,
        input_size: int = 224,
    ) -> None:
        unknown = [r for r in recipes if r not in RECIPES]
        if unknown:
            raise KeyError(f"unknown recipe {unknown[0]!r}; choose from {', '.join(RECIPES)}")
        self.backbone = backbone
        self.recipes = tuple(dict.fromkeys(recipes))
        self.input_size = input_size
        self._methods = {}
        for name in self.recipes:
            recipe = RECIPES[name]
            key = _map_key(recipe)
            if key not in self._methods:
                method_cls = METHODS[recipe.maps]
                self._methods[key] = method_cls(
                    backbone, smooth=recipe.smooth, **recipe.map_options
                )

    def __call__(
        self, images: Sequence[np.ndarray], sizes: Sequence[tuple[int, int]] | None = None
    ) -> list[Evidence]:
        """Evidence for ``(H, W, 3)`` uint8 images (or their network-size copies, with the
        originals' ``(W, H)`` in ``sizes``)."""
        if not images:
            return []
        side = self.input_size
        resized = [resize_for_network(im, side) for im in images]
        batch = torch.from_numpy(np.stack(resized)).to(self.backbone.device)
        x = self.backbone.normalize(batch.permute(0, 3, 1, 2).float())
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            feats, logits = self.backbone.forward(x)
            probabilities = logits.float().softmax(dim=1)
        confidence, classes = probabilities.max(dim=1)
        by_key = {key: method(x).maps.cpu().numpy() for key, method in self._methods.items()}
        out = []
        for i, image in enumerate(images):
            size = sizes[i] if sizes is not None else (image.shape[1], image.shape[0])
            maps = {name: by_key[_map_key(RECIPES[name])][i] for name in self.recipes}
            out.append(
                Evidence(
                    size=(int(size[0]), int(size[1])),
                    resized=resized[i],
                    features=feats[i].detach().to("cpu", torch.float16).contiguous(),
                    imagenet_class=int(classes[i]),
                    imagenet_confidence=float(confidence[i]),
                    maps=maps,
                )
            )
        return out
