"""A learned model version: the class head, each class's chosen localizer, and saving it.

Files are written with ``torch.save`` and read back with ``weights_only=True`` (tensors,
strings, numbers, lists and dicts only), so a model file cannot run code when loaded.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.boxes import box_mass, clip_boxes
from core.learning.class_head import ClassHead
from core.learning.evidence import Evidence
from core.learning.localizers import (
    HeadCamLocalizer,
    HeadProbabilityLocalizer,
    Localizer,
    RecipeLocalizer,
    RegressorLocalizer,
)
from core.learning.ridge import RidgeModel
from core.proposals import DEFAULT_RECIPE, ImageProposals, Proposal

FILE_FORMAT = 1
#: The localizer of a class nobody has chosen anything for yet.
FALLBACK = f"recipe:{DEFAULT_RECIPE}"


@dataclass
class LearnedModel:
    """What one training run produced.

    Attributes:
        backbone: name of the backbone whose features it reads.
        head: the user-class head, or ``None`` (then classes are ImageNet's).
        localizers: class name → its chosen, fitted :class:`Localizer`.
        metrics: JSON-able figures of the run (cross-validation per class ...).
    """

    backbone: str
    head: ClassHead | None
    localizers: dict[str, Localizer] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return list(self.head.classes) if self.head is not None else []

    def recipes_needed(self) -> set[str]:
        """Recipes whose maps :meth:`propose` reads."""
        needed = {DEFAULT_RECIPE}
        for loc in self.localizers.values():
            if isinstance(loc, RecipeLocalizer | RegressorLocalizer):
                needed.add(loc.recipe)
        return needed

    def localizer(self, class_name: str) -> Localizer:
        return self.localizers.get(class_name) or RecipeLocalizer(DEFAULT_RECIPE)

    def propose(self, evidence: Evidence, imagenet_names: list[str]) -> ImageProposals:
        """Proposals for one image, in its original pixels, best first."""
        if self.head is not None:
            k, confidence = self.head.classify(evidence.features)
            class_name = self.head.classes[k]
        else:
            k, confidence = evidence.imagenet_class, evidence.imagenet_confidence
            class_name = imagenet_names[k]
        localizer = self.localizer(class_name)
        fractions, saliency = localizer.locate(evidence, k)
        width, height = evidence.size
        boxes = clip_boxes(fractions * [width, height, width, height], evidence.size)
        side = evidence.side
        mass = box_mass(saliency, np.round(fractions * side)) if len(fractions) else []
        proposals = [
            Proposal(
                box=tuple(float(v) for v in box),
                class_index=k,
                class_name=class_name,
                confidence=confidence,
                method=localizer.name,
                map_mass=float(m),
            )
            for box, m in zip(boxes, mass, strict=True)
        ]
        return ImageProposals(proposals, np.asarray(saliency, np.float32), evidence.size)

    def save(self, path: str | Path) -> None:
        """Write the model to ``path`` through a temporary file and a rename."""
        regressors = {
            name: {
                "recipe": loc.recipe,
                **{k: torch.from_numpy(np.asarray(getattr(loc.model, k))) for k in _RIDGE},
            }
            for name, loc in self.localizers.items()
            if isinstance(loc, RegressorLocalizer) and loc.model is not None
        }
        state = {
            "format": FILE_FORMAT,
            "backbone": self.backbone,
            "head": None
            if self.head is None
            else {"classes": self.head.classes, "weight": self.head.weight, "bias": self.head.bias},
            "choices": {name: loc.name for name, loc in self.localizers.items()},
            "regressors": regressors,
            "metrics": json.dumps(self.metrics),
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "wb") as f:
                torch.save(state, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path) -> LearnedModel:
        """Read a file written by :meth:`save`.

        Raises:
            ValueError: not a SaliBox model file, or of another format version.
        """
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"{path} is not a readable SaliBox model file: {exc}") from exc
        if not isinstance(state, dict) or state.get("format") != FILE_FORMAT:
            raise ValueError(f"{path} is not a SaliBox model file of format {FILE_FORMAT}")
        head = None
        if state["head"] is not None:
            h = state["head"]
            head = ClassHead(list(h["classes"]), h["weight"], h["bias"])
        localizers: dict[str, Localizer] = {}
        for name, choice in state["choices"].items():
            if choice == HeadCamLocalizer.name and head is not None:
                localizers[name] = HeadCamLocalizer(head)
            elif choice == HeadProbabilityLocalizer.name and head is not None:
                localizers[name] = HeadProbabilityLocalizer(head)
            elif choice.startswith("regressor:"):
                r = state["regressors"][name]
                model = RidgeModel(*(r[k].numpy() for k in _RIDGE))
                localizers[name] = RegressorLocalizer(r["recipe"], model)
            elif choice.startswith("recipe:"):
                localizers[name] = RecipeLocalizer(choice.removeprefix("recipe:"))
        return cls(state["backbone"], head, localizers, json.loads(state["metrics"]))


_RIDGE = ("mean", "scale", "weights", "bias")
