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
    """

    maps: str = "cam"
    boxes: BoxMethod = "threshold"
    threshold: float = 0.2
    relative_to: Literal["max", "mean"] = "max"
    smooth: float = 0.0
    map_options: dict = field(default_factory=dict)
    input_size: int = 224


#: Each map method's own recipe (named as the method, from its ``recipe_*`` attributes)
#: and the tuned ones.
RECIPES: dict[str, Recipe] = {
    # Chosen on raccoon and fruit-train (bench/localization.py): the class-score gradient,
    # channels averaged, blurred by 5% of the side, kept above the map's mean. CorLoc was
    # flat (0.79-0.80 on raccoon) for blurs from 3% to 8%; the mean rule beat every
    # fraction-of-max threshold on both sets.
    "default": Recipe(
        "sensitivity",
        threshold=1.0,
        relative_to="mean",
        smooth=0.05,
        map_options={"aggregate": "mean"},
    ),
    **{
        name: Recipe(name, smooth=cls.recipe_smooth, map_options=dict(cls.recipe_options))
        for name, cls in METHODS.items()
    },
    "cam-grabcut": Recipe("cam", boxes="grabcut"),
    "sensitivity-grabcut": Recipe(
        "sensitivity", boxes="grabcut", smooth=0.05, map_options={"aggregate": "max"}
    ),
}
DEFAULT_RECIPE = defaults.RECIPE


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
        result, resized = self.maps(images)
        maps = result.maps.cpu().numpy()
        out = []
        for i, image in enumerate(images):
            size = sizes[i] if sizes is not None else (image.shape[1], image.shape[0])
            boxes, mass = self.boxes(maps[i], resized[i])
            side = self.recipe.input_size
            boxes = clip_boxes(scale_boxes(boxes, (side, side), size), size)
            cls = int(result.classes[i])
            proposals = [
                Proposal(
                    box=as_box(box),
                    class_index=cls,
                    class_name=self.backbone.class_names[cls],
                    confidence=float(result.scores[i]),
                    method=self.name,
                    map_mass=float(m),
                )
                for box, m in zip(boxes, mass, strict=True)
            ]
            out.append(ImageProposals(proposals, maps[i].astype(np.float32), size))
        return out

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
    return threshold_boxes(saliency, threshold=recipe.threshold, relative_to=recipe.relative_to)


def make_proposer(backbone: Backbone, name: str, **overrides) -> Proposer:
    """A proposer for a named recipe, with fields of the recipe overridden."""
    if name not in RECIPES:
        raise UnknownNameError(f"unknown method {name!r}; choose one of {', '.join(RECIPES)}")
    recipe = replace(RECIPES[name], **overrides) if overrides else RECIPES[name]
    return Proposer(backbone, recipe, name)
