"""From images to box proposals: resize, map, box, and back to original pixels.

A :class:`Recipe` names one way of proposing (which map, how it becomes boxes); a
:class:`Proposer` runs a recipe on batches of images with a backbone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import nms

from core.engine import defaults
from core.engine.backbones import Backbone
from core.engine.boxes import (
    as_box,
    box_mass,
    clip_boxes,
    grabcut_box,
    scale_boxes,
    threshold_boxes,
)
from core.engine.errors import UnknownNameError
from core.engine.maps import METHODS, MapResult
from core.engine.peaks import PeakSplit

BoxMethod = Literal["threshold", "grabcut"]


@dataclass(frozen=True)
class Recipe:
    """How to propose boxes.

    Attributes:
        maps: name of a saliency method in :data:`core.engine.maps.METHODS`.
        boxes: ``"threshold"`` (fraction of the map's max, largest component first) or
            ``"grabcut"`` (seeded from the map's quantiles).
        threshold: for ``"threshold"``, keep pixels above ``threshold`` times the map's
            maximum or mean (see ``relative_to``).
        relative_to: ``"max"`` (the CAM paper's rule) or ``"mean"``.
        smooth: Gaussian σ of the map as a fraction of the input side.
        map_options: extra keyword arguments of the map method (``aggregate``, ``layer``).
        input_size: side of the square the image is resized to, in pixels.
        top_k: propose from the maps of the ``top_k`` most probable classes (the CAM
            paper's top-5, §3.2), each box carrying its class and that class's
            probability; boxes of lower classes that overlap a kept one (IoU > 0.5) are
            dropped. Each class costs one more map (a backward pass for gradient maps).
        split: split components that hold several peaks (:mod:`core.engine.peaks`).
        max_boxes: at most this many boxes per image.
    """

    maps: str = "cam"
    boxes: BoxMethod = "threshold"
    threshold: float = 0.2
    relative_to: Literal["max", "mean"] = "max"
    smooth: float = 0.0
    map_options: dict = field(default_factory=dict)
    input_size: int = 224
    top_k: int = 1
    split: PeakSplit | None = None
    max_boxes: int = 5


_MEAN_SENSITIVITY = Recipe(
    "sensitivity", threshold=1.0, relative_to="mean", smooth=0.05, map_options={"aggregate": "mean"}
)

#: Each map method's own recipe (named as the method, from its ``recipe_*`` attributes)
#: and the tuned ones.
RECIPES: dict[str, Recipe] = {
    # Chosen on raccoon and fruit-train (bench/localization.py): the class-score gradient,
    # channels averaged, blurred by 5% of the side, kept above the map's mean. CorLoc was
    # flat (0.79-0.80 on raccoon) for blurs from 3% to 8%; the mean rule beat every
    # fraction-of-max threshold on both sets. Splitting components at their peaks raised
    # CorLoc and recall at #objects on raccoon and on fruit (README "Benchmarks").
    "default": replace(_MEAN_SENSITIVITY, split=PeakSplit()),
    "default-whole": _MEAN_SENSITIVITY,
    **{
        name: Recipe(name, smooth=cls.recipe_smooth, map_options=dict(cls.recipe_options))
        for name, cls in METHODS.items()
    },
    "cam-split": Recipe("cam", split=PeakSplit()),
    "cam-top5": Recipe("cam", top_k=5),
    "cam-top5-split": Recipe("cam", top_k=5, split=PeakSplit()),
    "cam-grabcut": Recipe("cam", boxes="grabcut"),
    "sensitivity-grabcut": Recipe(
        "sensitivity", boxes="grabcut", smooth=0.05, map_options={"aggregate": "max"}
    ),
}
DEFAULT_RECIPE = defaults.RECIPE
#: Boxes of lower classes overlapping a better box by more than this IoU are dropped.
NMS_IOU = 0.5


@dataclass(frozen=True)
class Proposal:
    """A proposed box in the original image's pixels (continuous edges, see core.engine.boxes).

    Attributes:
        box: ``(x1, y1, x2, y2)`` in pixels of the original image.
        class_index: index of the predicted class in the backbone's class list.
        class_name: its name.
        confidence: softmax probability of the predicted class, 0-1.
        method: the recipe's name.
        map_mass: fraction of the saliency map's total mass inside the box, 0-1.
    """

    box: tuple[float, float, float, float]
    class_index: int
    class_name: str
    confidence: float
    method: str
    map_mass: float


@dataclass
class ImageProposals:
    """Proposals for one image, best first, and the map they came from.

    ``saliency`` is ``(S, S)`` float32 0-1 at the network's input resolution; stretch it to
    the image's ``size = (W, H)`` to overlay it.
    """

    proposals: list[Proposal]
    saliency: np.ndarray
    size: tuple[int, int]


def resize_for_network(rgb: np.ndarray, side: int) -> np.ndarray:
    """``(H, W, 3)`` uint8 → ``(side, side, 3)`` uint8; area averaging when shrinking."""
    shrink = rgb.shape[0] > side or rgb.shape[1] > side
    return cv2.resize(
        rgb, (side, side), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )


class Proposer:
    """Runs one recipe with one backbone on batches of RGB images.

    Args:
        backbone: the classifier.
        recipe: a :class:`Recipe` or the name of one in :data:`RECIPES`.
        name: the method name proposals carry (the recipe's name by default).
    """

    def __init__(
        self, backbone: Backbone, recipe: Recipe | str = DEFAULT_RECIPE, name: str | None = None
    ) -> None:
        self.name = name or (recipe if isinstance(recipe, str) else "custom")
        self.recipe = RECIPES[recipe] if isinstance(recipe, str) else recipe
        self.backbone = backbone
        method_cls = METHODS[self.recipe.maps]
        self.method = method_cls(backbone, smooth=self.recipe.smooth, **self.recipe.map_options)

    def tensor(self, resized: list[np.ndarray]) -> torch.Tensor:
        """``(S, S, 3)`` uint8 images → normalised ``(B, 3, S, S)`` float32 on the device."""
        return self.backbone.batch(resized)

    def maps(self, images: list[np.ndarray]) -> tuple[MapResult, list[np.ndarray]]:
        """Maps for ``(H, W, 3)`` uint8 images; also returns the resized images."""
        resized = [resize_for_network(im, self.recipe.input_size) for im in images]
        return self.method(self.tensor(resized)), resized

    def propose(
        self, images: list[np.ndarray], sizes: list[tuple[int, int]] | None = None
    ) -> list[ImageProposals]:
        """Proposals for a batch of ``(H, W, 3)`` uint8 RGB images of any sizes.

        Args:
            images: the images, or copies already shrunk for the network
                (:func:`resize_for_network`), which keeps a batch of large photos small.
            sizes: ``(W, H)`` of the original images when ``images`` were shrunk; boxes
                are returned in those pixels.
        """
        if not images:
            return []
        resized = [resize_for_network(im, self.recipe.input_size) for im in images]
        maps, classes, scores = self.ranked_maps(self.tensor(resized))
        side = self.recipe.input_size
        out = []
        for i, image in enumerate(images):
            size = sizes[i] if sizes is not None else (image.shape[1], image.shape[0])
            boxes, mass, rank = ranked_boxes(self.recipe, maps[i], scores[i], resized[i])
            boxes = clip_boxes(scale_boxes(boxes, (side, side), size), size)
            proposals = [
                Proposal(
                    box=as_box(box),
                    class_index=int(classes[i, r]),
                    class_name=self.backbone.class_names[int(classes[i, r])],
                    confidence=float(scores[i, r]),
                    method=self.name,
                    map_mass=float(m),
                )
                for box, m, r in zip(boxes, mass, rank, strict=True)
            ]
            out.append(ImageProposals(proposals, maps[i].max(axis=0), size))
        return out

    def ranked_maps(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Maps of each image's ``top_k`` most probable classes, most probable first.

        Args:
            x: normalised images ``(B, 3, S, S)``.

        Returns:
            (maps ``(B, k, S, S)`` float32 0-1, classes ``(B, k)`` int, their softmax
            probabilities ``(B, k)`` float).
        """
        result = self.method(x)
        scores, classes = result.probabilities.topk(self.recipe.top_k, dim=1)
        maps = [result.maps]
        for rank in range(1, self.recipe.top_k):
            targets = F.one_hot(classes[:, rank], result.probabilities.shape[1]).float()
            maps.append(self.method(x, targets).maps)
        return (
            torch.stack(maps, dim=1).cpu().numpy().astype(np.float32),
            classes.cpu().numpy(),
            scores.cpu().numpy(),
        )

    def boxes(self, saliency: np.ndarray, resized: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(N, 4)`` in map pixels and their map mass ``(N,)`` for one map."""
        return recipe_boxes(self.recipe, saliency, resized)


def recipe_boxes(
    recipe: Recipe, saliency: np.ndarray, resized: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes ``(N, 4)`` in map pixels, best first, and their map mass ``(N,)``.

    Args:
        recipe: how the map becomes boxes (threshold or GrabCut, falling back to the
            threshold when GrabCut finds no foreground).
        saliency: ``(S, S)`` float map, 0-1.
        resized: ``(S, S, 3)`` uint8 image the map belongs to (GrabCut's colours).
    """
    if recipe.boxes == "grabcut":
        box = grabcut_box(resized, saliency)
        if box is not None:
            return box[None], box_mass(saliency, box[None])
    return threshold_boxes(
        saliency,
        threshold=recipe.threshold,
        relative_to=recipe.relative_to,
        max_boxes=recipe.max_boxes,
        split=recipe.split,
    )


def ranked_boxes(
    recipe: Recipe, maps: np.ndarray, scores: np.ndarray, resized: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's boxes from the maps of its top classes, merged by NMS.

    Boxes rank by their class's probability, then by their rank within that class's map;
    a box overlapping a better one by IoU > 0.5 is dropped, and at most
    ``recipe.max_boxes`` are kept.

    Args:
        maps: ``(k, S, S)`` float maps 0-1, most probable class first.
        scores: ``(k,)`` the classes' probabilities, descending.
        resized: ``(S, S, 3)`` uint8 image the maps belong to.

    Returns:
        (boxes ``(N, 4)`` in map pixels, best first, map mass ``(N,)`` in their own map,
        class rank ``(N,)`` int: the index into ``scores``).
    """
    found = [recipe_boxes(recipe, saliency, resized) for saliency in maps]
    boxes = np.concatenate([b for b, _ in found]).reshape(-1, 4)
    mass = np.concatenate([m for _, m in found])
    rank = np.concatenate([np.full(len(b), r) for r, (b, _) in enumerate(found)]).astype(int)
    if len(maps) == 1:
        return boxes, mass, rank
    # Concatenated in class order, each class best first: earlier rows score higher.
    kept = nms(
        torch.as_tensor(boxes, dtype=torch.float64),
        -torch.arange(len(boxes), dtype=torch.float64),
        NMS_IOU,
    ).numpy()[: recipe.max_boxes]
    return boxes[kept], mass[kept], rank[kept]


def make_proposer(backbone: Backbone, name: str, **overrides) -> Proposer:
    """A proposer for a named recipe, with fields of the recipe overridden."""
    if name not in RECIPES:
        raise UnknownNameError(f"unknown method {name!r}; choose one of {', '.join(RECIPES)}")
    recipe = replace(RECIPES[name], **overrides) if overrides else RECIPES[name]
    return Proposer(backbone, recipe, name)
