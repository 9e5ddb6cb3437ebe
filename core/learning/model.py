"""A learned model version: the class head, each class's chosen localizer, and saving it.

Files are written with ``torch.save`` and read back with ``weights_only=True`` (tensors,
strings, numbers, lists and dicts only), so a model file cannot run code when loaded.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.engine.backbones import Backbone
from core.engine.boxes import as_box, box_mass, clip_boxes
from core.engine.errors import InputError
from core.engine.proposals import DEFAULT_RECIPE, ImageProposals, Proposal
from core.formats.records import write_atomic
from core.learning.class_head import ClassHead
from core.learning.dense import CellScores
from core.learning.evidence import Evidence
from core.learning.localizers import (
    LOCALIZERS,
    DenseLocalizer,
    Localizer,
    RecipeLocalizer,
    RegressorLocalizer,
)
from core.learning.refine import BoxRefiner
from core.learning.ridge import ridge_from_state, ridge_state
from core.learning.saliency_tuning import TunedTail

FILE_FORMAT = 2
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
        refiner: moves every proposal towards where accepted boxes are
            (:mod:`core.learning.refine`), or ``None``.
        tail: the backbone's last block fine-tuned with saliency alignment, or ``None``;
            when set, :attr:`Evidence.features` are recomputed through it from
            :attr:`Evidence.tail_input`.
    """

    backbone: str
    head: ClassHead | None
    localizers: dict[str, Localizer] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    tail: TunedTail | None = None
    refiner: BoxRefiner | None = None

    @property
    def classes(self) -> list[str]:
        return list(self.head.classes) if self.head is not None else []

    @property
    def needs_tail_input(self) -> bool:
        """Whether :meth:`propose` needs :attr:`Evidence.tail_input`."""
        return self.tail is not None

    def recipes_needed(self) -> set[str]:
        """Recipes whose maps :meth:`propose` reads."""
        needed = {DEFAULT_RECIPE}
        for loc in self.localizers.values():
            if isinstance(loc, RecipeLocalizer | RegressorLocalizer):
                needed.add(loc.recipe)
        return needed

    def localizer(self, class_name: str) -> Localizer:
        return self.localizers.get(class_name) or RecipeLocalizer(DEFAULT_RECIPE)

    def tuned(self, evidence: Evidence) -> Evidence:
        """The evidence with its features recomputed through :attr:`tail` (as is without)."""
        if self.tail is None:
            return evidence
        if evidence.tail_input is None:
            raise ValueError("this model needs evidence with tail inputs (keep_tail_input)")
        with torch.inference_mode():
            feats = self.tail.features(evidence.tail_input[None].float())[0]
        return replace(evidence, features=feats)

    def propose(self, evidence: Evidence, imagenet_names: list[str]) -> ImageProposals:
        """Proposals for one image, in its original pixels, best first.

        Every class whose localizer is the dense detector proposes each object it finds
        above its threshold, scored by the detector; the image's top class (the head's,
        or ImageNet's without one) proposes with its own localizer when that is not the
        dense detector, scored by the class probability. The map shown is the top
        class's.
        """
        evidence = self.tuned(evidence)
        if self.head is not None:
            k, confidence = self.head.classify(evidence.features)
            class_name = self.head.classes[k]
        else:
            k, confidence = evidence.imagenet_class, evidence.imagenet_confidence
            class_name = imagenet_names[k]
        found: list[tuple[np.ndarray, np.ndarray, int, str, str]] = []
        saliency = None
        passes: dict[int, CellScores] = {}  # one pass per detector serves its classes
        for index, name in enumerate(self.classes):
            loc = self.localizers.get(name)
            if isinstance(loc, DenseLocalizer) and evidence.dense is not None:
                key = id(loc.detector)
                if key not in passes:
                    passes[key] = loc.detector.score_cells(evidence.dense)
                boxes, scores, heat = loc.detect(evidence, cells=passes[key])
                found.append((boxes, scores, index, name, loc.name))
                if name == class_name:
                    saliency = heat
        localizer = self.localizer(class_name)
        if saliency is None:
            fractions, saliency = localizer.locate(evidence, k)
            found.append(
                (fractions, np.full(len(fractions), confidence), k, class_name, localizer.name)
            )
        proposals = []
        width, height = evidence.size
        side = evidence.side
        for fractions, scores, index, name, method in found:
            if len(fractions) == 0:
                continue
            if self.refiner is not None:
                fractions = self.refiner.refine(evidence, fractions)
            boxes = clip_boxes(fractions * [width, height, width, height], evidence.size)
            mass = box_mass(saliency, np.round(fractions * side))
            proposals += [
                Proposal(as_box(box), index, name, float(score), method, float(m))
                for box, score, m in zip(boxes, scores, mass, strict=True)
            ]
        proposals.sort(key=lambda p: -p.confidence)
        return ImageProposals(proposals, np.asarray(saliency, np.float32), evidence.size)

    def save(self, path: str | Path) -> None:
        """Write the model to ``path`` through a temporary file and a rename."""
        state = {
            "format": FILE_FORMAT,
            "backbone": self.backbone,
            "head": None
            if self.head is None
            else {"classes": self.head.classes, "weight": self.head.weight, "bias": self.head.bias},
            "localizers": {
                name: {"kind": loc.kind, **loc.state()} for name, loc in self.localizers.items()
            },
            "metrics": json.dumps(self.metrics),
            "tail": None if self.tail is None else self.tail.state_dict(),
            "refiner": None if self.refiner is None else ridge_state(self.refiner.model),
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(state, buffer)
        write_atomic(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path, backbone: Backbone | None = None) -> LearnedModel:
        """Read a file written by :meth:`save`; a model with a tuned tail needs the
        ``backbone`` it was tuned from (the tail's architecture is copied from it).

        Raises:
            ValueError: not a SaliBox model file, of another format version, or a tuned
                tail without its backbone.
        """
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(f"{path} is not a readable SaliBox model file: {exc}") from exc
        if not isinstance(state, dict) or state.get("format") not in (1, FILE_FORMAT):
            raise InputError(f"{path} is not a SaliBox model file of format {FILE_FORMAT}")
        head = None
        if state["head"] is not None:
            h = state["head"]
            head = ClassHead(list(h["classes"]), h["weight"], h["bias"])
        localizers: dict[str, Localizer] = {}
        saved = state["localizers"] if state["format"] == FILE_FORMAT else _format_1(state)
        for name, entry in saved.items():
            localizer = LOCALIZERS[entry["kind"]].restore(entry, head)
            if localizer is not None:
                localizers[name] = localizer
        _share_detectors(localizers)
        tail = None
        if state.get("tail") is not None and head is not None:
            if backbone is None or backbone.name != state["backbone"]:
                raise ValueError(
                    f"{path} holds a fine-tuned {state['backbone']} tail; "
                    "load it with that backbone"
                )
            tail = TunedTail.from_backbone(backbone, head.classes)
            tail.load_state_dict(state["tail"])
            tail.requires_grad_(False)
        refiner = state.get("refiner")
        return cls(
            state["backbone"],
            head,
            localizers,
            json.loads(state["metrics"]),
            tail,
            None if refiner is None else BoxRefiner(ridge_from_state(refiner)),
        )


def _share_detectors(localizers: dict[str, Localizer]) -> None:
    """Give the classes of one saved dense detector (stored once per class) one object
    again, so that :meth:`LearnedModel.propose` scores an image's cells once for all."""
    seen: list[DenseLocalizer] = []
    for loc in localizers.values():
        if not isinstance(loc, DenseLocalizer):
            continue
        twin = next((s for s in seen if torch.equal(s.detector.weight, loc.detector.weight)), None)
        if twin is None:
            seen.append(loc)
        else:
            loc.detector = twin.detector


def _format_1(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The localizers of a file of format 1 (SaliBox before the localizer registry), which
    saved each class's choice as a name (``recipe:cam``, ``regressor:cam``, ``head-cam``)."""
    saved: dict[str, dict[str, Any]] = {}
    for name, choice in state["choices"].items():
        kind, _, recipe = choice.partition(":")
        extra = state["regressors"][name] if kind == RegressorLocalizer.kind else {}
        saved[name] = {"kind": kind, **({"recipe": recipe} if recipe else {}), **extra}
    return saved
