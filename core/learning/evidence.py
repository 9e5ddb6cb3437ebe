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

from core.engine.backbones import Backbone
from core.engine.errors import UnknownNameError
from core.engine.maps import METHODS
from core.engine.maps.base import SaliencyMethod
from core.engine.proposals import RECIPES, Recipe, resize_for_network
from core.learning.tail import tail_block

#: The zero-shot recipes the learning loop compares per class (bench/localization.py):
#: the default sensitivity map, CAM with the 20%-of-max rule, and GrabCut from CAM (the
#: best on multi-object fruit images).
CANDIDATE_RECIPES: tuple[str, ...] = ("default", "cam", "cam-grabcut")
#: Input side, pixels, of the features the class head reads (see :class:`EvidenceMaker`).
FEATURE_SIZE = 416
#: Input side, pixels, of the dense detector's stride-16 features (40 × 40 cells) for
#: images of at least :data:`DENSE_FROM` pixels on their longer side, whose small objects
#: vanish at 416 (aquarium, 1024 px: recall after 50 images 0.049 at 416, 0.140 at 640).
#: Smaller images use the features pass (26 × 26 cells): at 640 px bccd (640 × 480) fell
#: from 0.731 to 0.629 and fruit from 0.581 to 0.524 (python -m bench.dense SET 50 60).
DENSE_SIZE = 640
DENSE_FROM = 960


@dataclass
class Evidence:
    """One image as the learning loop sees it.

    Attributes:
        size: ``(W, H)`` of the original image, pixels.
        resized: ``(S, S, 3)`` uint8 network-size copy.
        features: ``(C, h, w)`` float16 last conv activations (CPU) of the image resized
            to the maker's ``feature_size`` (416 px: ``h = w = 13`` for EfficientNet-Lite0).
        imagenet_class: the backbone's top-1 class index.
        imagenet_confidence: its softmax probability, 0-1.
        maps: recipe name → ``(S, S)`` float32 map, 0-1.
        tail_input: ``(192, h, w)`` float16 input of EfficientNet-Lite0's last block at
            the feature size, kept when saliency-aligned fine-tuning may need it
            (:mod:`core.learning.saliency_tuning`); ``None`` otherwise.
        dense: ``(C16, h16, w16)`` float16 output of the backbone's ``dense_layer``
            (stride 16), what the dense detector reads (:mod:`core.learning.dense`): at
            the maker's ``dense_size`` for images of at least :data:`DENSE_FROM` pixels
            (112 × 40 × 40 for EfficientNet-Lite0 at 640 px), else at the feature size
            (26 × 26);
            ``None`` for a backbone without one.
        recipe_boxes: recipe name → its ``(N, 4)`` boxes as fractions (filled on first
            use: they do not change with training, and GrabCut takes tens of ms).
    """

    size: tuple[int, int]
    resized: np.ndarray
    features: torch.Tensor
    imagenet_class: int
    imagenet_confidence: float
    maps: dict[str, np.ndarray]
    tail_input: torch.Tensor | None = None
    dense: torch.Tensor | None = None
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
        recipes: names in :data:`core.engine.proposals.RECIPES` whose maps to keep; recipes with
            the same map share its computation.
        input_size: network input side ``S`` of the maps, pixels.
        feature_size: input side for :attr:`Evidence.features`, pixels. The class head
            reads them; finer cells give finer boxes. Measured on raccoon (head
            probability, 20 training images): CorLoc 0.85 at 224 px, 0.87 at 320, 0.89 at
            416 and 512; the zero-shot maps are best at 224 (0.79 → 0.73 at 416), so
            maps and features are computed at their own sizes.
        keep_tail_input: keep :attr:`Evidence.tail_input` (EfficientNet-Lite only).
        dense_size: input side for :attr:`Evidence.dense` of images whose longer side
            (in the original) is at least :data:`DENSE_FROM` pixels (one more forward
            pass for those).
    """

    def __init__(
        self,
        backbone: Backbone,
        recipes: Sequence[str] = CANDIDATE_RECIPES,
        input_size: int = 224,
        feature_size: int = FEATURE_SIZE,
        keep_tail_input: bool = False,
        dense_size: int = DENSE_SIZE,
    ) -> None:
        unknown = [r for r in recipes if r not in RECIPES]
        if unknown:
            raise UnknownNameError(
                f"unknown recipe {unknown[0]!r}; choose from {', '.join(RECIPES)}"
            )
        self.backbone = backbone
        self.recipes = tuple(dict.fromkeys(recipes))
        self.input_size = input_size
        self.feature_size = feature_size
        self.dense_size = dense_size
        self.tail_block: torch.nn.Module | None = None
        if keep_tail_input:
            self.tail_block = tail_block(backbone)
        modules = dict(backbone.features.named_modules())
        self.dense_block = modules.get(backbone.dense_layer) if backbone.dense_layer else None
        self._methods: dict[tuple, SaliencyMethod] = {}
        for name in self.recipes:
            recipe = RECIPES[name]
            key = _map_key(recipe)
            if key not in self._methods:
                method_cls = METHODS[recipe.maps]
                self._methods[key] = method_cls(
                    backbone, smooth=recipe.smooth, **recipe.map_options
                )

    @property
    def copy_size(self) -> int:
        """Side, pixels, of the smallest image copy that serves maps and features alike
        (callers may shrink large images to it before calling)."""
        return max(self.input_size, self.feature_size, self.dense_size)

    def _tensor(self, resized: list[np.ndarray]) -> torch.Tensor:
        """``(S, S, 3)`` uint8 images → normalised ``(B, 3, S, S)`` on the device."""
        return self.backbone.batch(resized)

    def _dense_features(self, images: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """``(C16, h16, w16)`` float16 stride-16 activations at :attr:`dense_size`."""
        assert self.dense_block is not None
        out: list[torch.Tensor] = []
        handle = self.dense_block.register_forward_hook(
            lambda _m, _args, result: out.append(result.to("cpu", torch.float16))
        )
        try:
            resized = [resize_for_network(im, self.dense_size) for im in images]
            self.backbone.features(self._tensor(resized))
        finally:
            handle.remove()
        return list(out[0])

    def __call__(
        self, images: Sequence[np.ndarray], sizes: Sequence[tuple[int, int]] | None = None
    ) -> list[Evidence]:
        """Evidence for ``(H, W, 3)`` uint8 images (or their network-size copies, with the
        originals' ``(W, H)`` in ``sizes``)."""
        if not images:
            return []
        resized = [resize_for_network(im, self.input_size) for im in images]
        x = self._tensor(resized)
        results = {key: method(x) for key, method in self._methods.items()}
        by_key = {key: r.maps.cpu().numpy() for key, r in results.items()}
        captured: list[torch.Tensor] = []
        dense: list[torch.Tensor] = []
        with torch.inference_mode():
            feats = None
            if results:  # every map method already ran the network: reuse its top-1 class
                first = next(iter(results.values()))
                classes, confidence = first.classes, first.scores
            else:
                feats, logits = self.backbone.forward(x)
                confidence, classes = logits.float().softmax(dim=1).max(dim=1)
            handles = []
            if self.tail_block is not None:
                handles.append(
                    self.tail_block.register_forward_pre_hook(
                        lambda _m, args: captured.append(args[0].to("cpu", torch.float16))
                    )
                )
            if self.dense_block is not None:
                handles.append(
                    self.dense_block.register_forward_hook(
                        lambda _m, _args, out: dense.append(out.to("cpu", torch.float16))
                    )
                )
            try:
                if feats is None or self.feature_size != self.input_size or handles:
                    large = [resize_for_network(im, self.feature_size) for im in images]
                    feats = self.backbone.features(self._tensor(large))
            finally:
                for handle in handles:
                    handle.remove()
            per_image = list(dense[0]) if dense else []
            originals = [
                max(sizes[i]) if sizes is not None else max(im.shape[:2])
                for i, im in enumerate(images)
            ]
            big = [i for i, side in enumerate(originals) if side >= DENSE_FROM]
            if self.dense_block is not None and big and self.dense_size > self.feature_size:
                finer = self._dense_features([images[i] for i in big])
                for i, feats_i in zip(big, finer, strict=True):
                    per_image[i] = feats_i
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
                    tail_input=captured[0][i].contiguous() if captured else None,
                    dense=per_image[i].contiguous() if per_image else None,
                )
            )
        return out
