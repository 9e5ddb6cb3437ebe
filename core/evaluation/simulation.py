"""A simulated annotator: replays a labelled data set through the learning loop.

The annotator reviews images in a chosen order. For each ground-truth box, a proposal of
the right class with IoU ≥ 0.7 is accepted as is, one with IoU ≥ 0.5 is edited, else the
box is drawn; every proposal left over is rejected. Reviewed images become accepted
labels in a real project store, and once the accepted boxes grew by ``train_every`` (or
by the app's share of them, :func:`~core.learning.cadence.retrain_due`) a model version
is trained, at most once per image, by the app's own training service
(:class:`~core.evaluation.replay_project.ReplayProject`). Until a class head exists
proposals carry ImageNet names, and the annotator's choice of class is free (as in the
app, where accepting such a proposal gives it the chosen class).

Time costs (seconds) default to Konyushkova et al. 2018's 25.5 s per drawn box (ILSVRC
interface), 8 s per edit and 2 s per accept or reject.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.engine.boxes import iou_matrix
from core.evaluation.measures import DetectionMeasures, detection_measures
from core.evaluation.plots import learning_curve_png
from core.evaluation.replay_project import ReplayProject
from core.learning.cadence import retrain_due
from core.learning.evidence import Evidence
from core.learning.model import LearnedModel

ACCEPT_IOU = 0.7
EDIT_IOU = 0.5


@dataclass(frozen=True)
class Costs:
    """Seconds an annotator spends per action."""

    draw: float = 25.5
    edit: float = 8.0
    verify: float = 2.0


@dataclass(frozen=True)
class Truth:
    """Ground truth of one image: ``boxes`` ``(M, 4)`` in pixels, ``labels`` M names."""

    boxes: np.ndarray
    labels: tuple[str, ...]


@dataclass
class Counts:
    """What the annotator did with the ground-truth boxes and the proposals."""

    accepted: int = 0
    edited: int = 0
    drawn: int = 0
    rejected: int = 0

    def add(self, other: Counts) -> None:
        for name in ("accepted", "edited", "drawn", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def seconds(self, costs: Costs) -> float:
        return (
            self.drawn * costs.draw
            + self.edited * costs.edit
            + (self.accepted + self.rejected) * costs.verify
        )


@dataclass
class Step:
    """Figures after ``reviewed`` images (rates over the boxes reviewed so far)."""

    reviewed: int
    boxes: int
    accepted_rate: float
    edited_rate: float
    drawn_rate: float
    rejected: int
    corloc_remaining: float | None
    trainings: int
    #: Rejected proposals per accepted one (accepted as is or edited), so far.
    rejects_per_accepted: float
    #: AP50 and recall at #objects of the current model on the images not yet reviewed
    #: (class-agnostic, :func:`~core.evaluation.measures.detection_measures`).
    ap50_remaining: float | None
    recall_at_objects_remaining: float | None
    seconds_assisted: float
    seconds_drawing_all: float


@dataclass
class Simulation:
    """A whole replay: the steps, the final counts and the last model."""

    steps: list[Step] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    model: LearnedModel | None = None
    #: ``(accepted boxes, seconds)`` of each training (evidence already computed).
    trainings: list[tuple[int, float]] = field(default_factory=list)

    def as_dict(self) -> dict:
        last = self.steps[-1] if self.steps else None
        return {
            "final": asdict(last) if last else None,
            "speed_up": (last.seconds_drawing_all / last.seconds_assisted)
            if last and last.seconds_assisted > 0
            else None,
            "counts": asdict(self.counts),
            "model": self.model.metrics if self.model else None,
            "steps": [asdict(s) for s in self.steps],
            "trainings": [{"boxes": b, "seconds": t} for b, t in self.trainings],
        }


def review_image(proposals: list, truth: Truth, class_aware: bool) -> Counts:
    """Match one image's proposals to its ground truth, greedily by IoU."""
    counts = Counts()
    if not proposals:
        counts.drawn = len(truth.labels)
        return counts
    boxes = np.array([p.box for p in proposals], dtype=np.float64)
    iou = iou_matrix(boxes, np.asarray(truth.boxes, np.float64)) if len(truth.labels) else None
    used: set[int] = set()
    for g, label in enumerate(truth.labels):
        assert iou is not None
        order = np.argsort(-iou[:, g], kind="stable")
        match = next(
            (
                int(p)
                for p in order
                if int(p) not in used and (not class_aware or proposals[p].class_name == label)
            ),
            None,
        )
        best = iou[match, g] if match is not None else 0.0
        if match is not None and best >= ACCEPT_IOU:
            counts.accepted += 1
            used.add(match)
        elif match is not None and best >= EDIT_IOU:
            counts.edited += 1
            used.add(match)
        else:
            counts.drawn += 1
    counts.rejected = len(proposals) - len(used)
    return counts


def corloc(
    model: LearnedModel, evidence: Sequence[Evidence], truth: Sequence[Truth], names
) -> float:
    """Share of images whose top proposal has IoU > 0.5 with a ground-truth box."""
    return rest_measures(model, evidence, truth, names)[0]


def rest_measures(
    model: LearnedModel, evidence: Sequence[Evidence], truth: Sequence[Truth], names
) -> tuple[float, DetectionMeasures]:
    """CorLoc and the COCO measures (class-agnostic, scored by confidence) of ``model``'s
    proposals on these images."""
    hits = 0
    detections, boxes = [], []
    for ev, t in zip(evidence, truth, strict=True):
        proposals = model.propose(ev, names).proposals
        found = np.array([p.box for p in proposals], dtype=np.float64).reshape(-1, 4)
        detections.append((found, np.array([p.confidence for p in proposals])))
        boxes.append(np.asarray(t.boxes, np.float64).reshape(-1, 4))
        if proposals and len(t.labels):
            hits += float(iou_matrix(found[:1], boxes[-1]).max()) > 0.5
    return hits / max(len(evidence), 1), detection_measures(detections, boxes)


def simulate(
    evidence: Sequence[Evidence],
    truth: Sequence[Truth],
    order: Sequence[int],
    imagenet_names: list[str],
    replay: ReplayProject,
    *,
    train_every: int = 10,
    report_every: int = 10,
    budget: int | None = None,
    costs: Costs = Costs(),
    progress: Callable[[int, int], None] | None = None,
) -> Simulation:
    """Replay the images ``order`` names (indices into ``evidence`` and ``truth``).

    Args:
        replay: the project the reviewed images' boxes go to and that trains, as the app
            does (:class:`~core.evaluation.replay_project.ReplayProject`, over the same
            images in the same order as ``evidence``).
        train_every: retrain after this many newly accepted boxes, or once they grew by
            :data:`~core.learning.cadence.GROWTH` of those of the last training.
        report_every: record a :class:`Step` (with CorLoc on the images not yet
            reviewed) every this many images, and after the last.
        budget: stop after this many images; CorLoc then covers all the rest.
        progress: ``progress(done, total)`` after each image.
    """
    order = list(order)
    total = len(order) if budget is None else min(budget, len(order))
    model = LearnedModel(replay.backbone.name, None)
    sim = Simulation(model=model)
    trainings = labelled = trained_on = 0
    reviewed_boxes = accepted_boxes = 0
    for step, idx in enumerate(order[:total], start=1):
        ev, t = evidence[idx], truth[idx]
        proposals = model.propose(ev, imagenet_names).proposals
        sim.counts.add(review_image(proposals, t, class_aware=model.head is not None))
        reviewed_boxes += len(t.labels)
        if len(t.labels):
            replay.label(idx, np.asarray(t.boxes, np.float64).reshape(-1, 4).tolist(), t.labels)
            labelled += 1
            accepted_boxes += len(t.labels)
        if labelled and retrain_due(accepted_boxes, trained_on, train_every):
            model = replay.train()
            sim.trainings.append((model.metrics["boxes"], model.metrics["seconds"]))
            trained_on = accepted_boxes
            trainings += 1
        if step % report_every == 0 or step == total:
            rest = order[step:]
            c = sim.counts
            rest_corloc, rest_detection = (
                rest_measures(
                    model, [evidence[i] for i in rest], [truth[i] for i in rest], imagenet_names
                )
                if rest
                else (None, None)
            )
            sim.steps.append(
                Step(
                    reviewed=step,
                    boxes=reviewed_boxes,
                    accepted_rate=c.accepted / max(reviewed_boxes, 1),
                    edited_rate=c.edited / max(reviewed_boxes, 1),
                    drawn_rate=c.drawn / max(reviewed_boxes, 1),
                    rejected=c.rejected,
                    corloc_remaining=rest_corloc,
                    trainings=trainings,
                    rejects_per_accepted=c.rejected / max(c.accepted + c.edited, 1),
                    ap50_remaining=rest_detection.ap50 if rest_detection else None,
                    recall_at_objects_remaining=rest_detection.recall_at_objects
                    if rest_detection
                    else None,
                    seconds_assisted=c.seconds(costs),
                    seconds_drawing_all=reviewed_boxes * costs.draw,
                )
            )
        if progress is not None:
            progress(step, total)
    sim.model = model
    return sim


def write_csv(sim: Simulation, path: str | Path) -> None:
    """One row per :class:`Step`."""
    rows = [asdict(s) for s in sim.steps]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(Step.__dataclass_fields__))
        writer.writeheader()
        writer.writerows(rows)


def plot_png(sim: Simulation, path: str | Path, title: str = "") -> None:
    """Learning curve (640 × 400 PNG, drawn by :mod:`core.evaluation.plots`): CorLoc on
    the images not yet reviewed (blue) and the share of boxes accepted as is (green),
    against images reviewed, with axis ticks and labels."""
    learning_curve_png(
        path,
        [s.reviewed for s in sim.steps],
        [s.corloc_remaining for s in sim.steps],
        [s.accepted_rate for s in sim.steps],
        title,
    )
