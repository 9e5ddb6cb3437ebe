"""Ways to turn an image's evidence into boxes for one class, fit on accepted boxes.

One small class per way, all over :class:`Localizer`: a zero-shot recipe (nothing to
fit), the CAM of the user's class head (Zhou et al., Learning Deep Features for
Discriminative Localization, §4), and the ridge regressor from a map to the box
(sensitivity-analysis paper §2.4). :mod:`core.learning.trainer` cross-validates them per
class.
Boxes are ``(N, 4)`` fractions of the image width and height, best first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import cv2
import numpy as np

from core.engine.boxes import threshold_boxes
from core.engine.proposals import RECIPES, recipe_boxes
from core.learning.class_head import ClassHead, LabelledImage
from core.learning.dense import (
    DEFAULT_THRESHOLD,
    CellScores,
    DenseDetector,
    detector_from_state,
    detector_state,
)
from core.learning.evidence import Evidence
from core.learning.ridge import (
    RidgeModel,
    fit_box_regressor,
    regress_box,
    ridge_from_state,
    ridge_state,
)


class Localizer(ABC):
    """Boxes and the map behind them, for one class of one image.

    Each kind is registered by its ``kind`` in :data:`LOCALIZERS`; a saved model stores
    ``{"kind": kind, **localizer.state()}`` and :meth:`restore` builds it again.
    """

    #: The key of the class in :data:`LOCALIZERS`.
    kind: ClassVar[str]
    #: What the cross-validation report and the proposals' ``method`` call it.
    name: str

    def state(self) -> dict[str, Any]:
        """What :meth:`restore` needs besides the class head (strings and tensors only)."""
        return {}

    @classmethod
    def restore(cls, state: Mapping[str, Any], head: ClassHead | None) -> Localizer | None:
        """The localizer saved as ``state``; None when it needs a head the model lacks."""
        return cls()

    def fit(self, images: Sequence[LabelledImage], class_name: str) -> Localizer:
        """Learn from accepted images that hold ``class_name``; returns itself."""
        return self

    @abstractmethod
    def locate(self, evidence: Evidence, class_index: int) -> tuple[np.ndarray, np.ndarray]:
        """(boxes ``(N, 4)`` fractions 0-1, best first; map ``(S, S)`` float32 0-1)."""


class RecipeLocalizer(Localizer):
    """A zero-shot recipe of :data:`core.engine.proposals.RECIPES` (the map of the backbone's
    top-1 ImageNet class)."""

    kind = "recipe"

    def __init__(self, recipe: str) -> None:
        self.recipe = recipe
        self.name = f"recipe:{recipe}"

    def state(self):
        return {"recipe": self.recipe}

    @classmethod
    def restore(cls, state, head):
        return cls(state["recipe"])

    def locate(self, evidence, class_index):
        saliency = evidence.maps[self.recipe]
        boxes = evidence.recipe_boxes.get(self.recipe)
        if boxes is None:
            boxes, _ = recipe_boxes(RECIPES[self.recipe], saliency, evidence.resized)
            boxes = evidence.recipe_boxes[self.recipe] = boxes / evidence.side
        return boxes, saliency


class _HeadLocalizer(Localizer):
    """A map of the user's class head, made into boxes; nothing to fit or save but the head."""

    def __init__(self, head: ClassHead) -> None:
        self.head = head

    @classmethod
    def restore(cls, state, head):
        return None if head is None else cls(head)


class HeadCamLocalizer(_HeadLocalizer):
    """CAM of the user's class head, kept above its mean (the rule of the default recipe)."""

    kind = name = "head-cam"

    def locate(self, evidence, class_index):
        saliency = self.head.cam(evidence.features, class_index, evidence.side)
        boxes, _ = threshold_boxes(saliency, threshold=1.0, relative_to="mean")
        return boxes / evidence.side, saliency


class HeadProbabilityLocalizer(_HeadLocalizer):
    """Where the class head finds its class more likely than background, per cell
    (:meth:`ClassHead.probability`), kept above :data:`PROBABILITY_THRESHOLD` of the
    map's peak."""

    kind = name = "head-probability"

    def locate(self, evidence, class_index):
        saliency = self.head.probability(evidence.features, class_index, evidence.side)
        boxes, _ = threshold_boxes(saliency, threshold=PROBABILITY_THRESHOLD, relative_to="max")
        return boxes / evidence.side, saliency


#: Share of the probability map's peak a cell needs to count as the object. CorLoc on
#: raccoon (20 training images, 416-px features) was flat from 0.2 to 0.4 (0.88-0.89).
PROBABILITY_THRESHOLD = 0.3


def largest_box(item: LabelledImage, class_name: str) -> np.ndarray:
    """``(4,)`` the largest accepted box of ``class_name`` in the image."""
    boxes = item.boxes[[i for i, n in enumerate(item.labels) if n == class_name]]
    return boxes[np.argmax((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))]


class RegressorLocalizer(Localizer):
    """Ridge regression from a recipe's map to the class's largest box (one box)."""

    kind = "regressor"

    def __init__(self, recipe: str, model: RidgeModel | None = None) -> None:
        self.recipe = recipe
        self.name = f"regressor:{recipe}"
        self.model = model

    def state(self):
        if self.model is None:
            raise RuntimeError("fit the regressor before saving it")
        return {"recipe": self.recipe, **ridge_state(self.model)}

    @classmethod
    def restore(cls, state, head):
        return cls(state["recipe"], ridge_from_state(state))

    def fit(self, images, class_name):
        items = [it for it in images if class_name in it.labels]
        if not items:
            raise ValueError(f"no accepted box of {class_name!r} to fit a regressor on")
        maps = [it.evidence.maps[self.recipe] for it in items]
        self.model = fit_box_regressor(
            maps, np.stack([largest_box(it, class_name) for it in items])
        )
        return self

    def locate(self, evidence, class_index):
        if self.model is None:
            raise RuntimeError("fit the regressor before locating with it")
        saliency = evidence.maps[self.recipe]
        return regress_box(self.model, saliency)[None], saliency


class DenseLocalizer(Localizer):
    """Every object of the class found by the shared :class:`~core.learning.dense.DenseDetector`,
    best first, kept above the class's learned score ``threshold`` and at most ``cap`` of
    them (None: no cap); the saliency map is the class's cell probabilities."""

    kind = name = "dense"

    def __init__(
        self,
        detector: DenseDetector,
        class_name: str = "",
        threshold: float = DEFAULT_THRESHOLD,
        cap: int | None = None,
    ) -> None:
        self.detector = detector
        self.class_name = class_name
        self.threshold = threshold
        self.cap = cap

    def fit(self, images, class_name):
        """The detector is fitted once for every class (:func:`fit_dense_detector`)."""
        if class_name not in self.detector.classes:
            raise ValueError(f"the detector was not fitted on {class_name!r}")
        self.class_name = class_name
        return self

    def detect(
        self, evidence: Evidence, threshold: float | None = None, cells: CellScores | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes ``(N, 4)`` fractions, scores ``(N,)`` and the map ``(S, S)`` 0-1 of the
        class in one image, above ``threshold`` (default: the learned one); ``cells``:
        the detector's pass over this image when the caller has it (one pass serves
        every class)."""
        if evidence.dense is None:
            raise ValueError("this evidence has no dense features")
        k = self.detector.classes.index(self.class_name)
        limit = self.threshold if threshold is None else threshold
        if cells is None:
            cells = self.detector.score_cells(evidence.dense)
        boxes, scores, heat = self.detector.detect(cells, k, limit)
        if self.cap is not None:
            boxes, scores = boxes[: self.cap], scores[: self.cap]
        side = evidence.side
        saliency = cv2.resize(heat, (side, side), interpolation=cv2.INTER_LINEAR)
        return boxes, scores, np.clip(saliency, 0.0, 1.0).astype(np.float32)

    def locate(self, evidence, class_index):
        boxes, _scores, saliency = self.detect(evidence)
        return boxes, saliency

    def state(self):
        return {
            "class_name": self.class_name,
            "threshold": self.threshold,
            "cap": -1 if self.cap is None else self.cap,
            **detector_state(self.detector),
        }

    @classmethod
    def restore(cls, state, head):
        cap = int(state.get("cap", -1))  # files written before the cap have none
        return cls(
            detector_from_state(state),
            state["class_name"],
            float(state["threshold"]),
            None if cap < 0 else cap,
        )


#: Every kind of localizer by its ``kind``: a new one is one class and one entry here.
LOCALIZERS: dict[str, type[Localizer]] = {
    cls.kind: cls
    for cls in (
        RecipeLocalizer,
        HeadCamLocalizer,
        HeadProbabilityLocalizer,
        RegressorLocalizer,
        DenseLocalizer,
    )
}
