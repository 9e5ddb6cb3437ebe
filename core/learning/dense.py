"""A dense detector learned from accepted boxes: every object of the image, not one box
per class.

On the frozen backbone's stride-16 features (:attr:`Evidence.dense`, cached, so a
retraining passes no image through the network again) each cell gets a feature vector:
its own channels and their 3 × 3 and 7 × 7 averages (context). As in FCOS (Tian et al.,
"FCOS: Fully Convolutional One-Stage Object Detection", 2019) a cell whose centre lies in
the central part of a box is a positive of the box's class and predicts its distances to
the box's four sides; cells outside every box are background. Both parts are fitted the
way SaliBox fits its heads, cheaply on the CPU: the class scores by multinomial logistic
regression (L-BFGS, :mod:`core.learning.logistic`), the distances by closed-form ridge
regression on their logarithms (:mod:`core.learning.ridge`). Decoding keeps the cells
that are the maximum of their 3 × 3 neighbourhood and above the class's threshold, and
merges boxes with torchvision's NMS.

Boxes are ``(N, 4)`` fractions of the image width and height.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import nms

from core.learning.class_head import LabelledImage
from core.learning.logistic import fit_multinomial
from core.learning.ridge import RidgeModel, fit_ridge, ridge_from_state, ridge_state

#: Average-pool sizes whose outputs join each cell's own channels.
CONTEXT = (3, 7)
#: Share of a box's width and height, around its centre, whose cells are positives (at
#: least the cell holding the centre).
CENTRE_SHARE = 0.4
#: Background cells drawn per image for the class scores.
BACKGROUND_CELLS = 96
#: L2 penalty of the class scores (mean cross-entropy + this · ‖W‖²). Trained on 50
#: images, recall on 60 others with as many boxes as objects (fruit / bccd): 1e-3 0.637 /
#: 0.750, 1e-2 0.669 / 0.774, 3e-2 0.677 / 0.776, 1e-1 0.685 / 0.782.
WEIGHT_DECAY = 3e-2
#: Ridge penalty per sample of the distance regression.
RIDGE_ALPHA = 1.0
#: Boxes overlapping a better one of the same class by more than this IoU are dropped.
NMS_IOU = 0.5
#: Score a detection needs before a threshold is learned.
DEFAULT_THRESHOLD = 0.3


def cell_features(dense: torch.Tensor) -> torch.Tensor:
    """``(C, h, w)`` stride-16 activations → ``(h·w, C·(1 + len(CONTEXT)))`` float32 rows,
    row-major over the cells."""
    x = dense.float()[None]
    parts = [x] + [F.avg_pool2d(x, k, 1, k // 2, count_include_pad=False) for k in CONTEXT]
    return torch.cat(parts, dim=1)[0].flatten(1).T.contiguous()


def cell_centres(h: int, w: int) -> np.ndarray:
    """``(h·w, 2)`` centres ``(x, y)`` of the cells as fractions, row-major."""
    ys, xs = np.meshgrid((np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def cell_targets(
    boxes: np.ndarray, labels: Sequence[int], h: int, w: int
) -> tuple[np.ndarray, np.ndarray]:
    """What each cell should predict for ``boxes (M, 4)`` fractions of classes ``labels``.

    Returns:
        ``(h·w,)`` int: the class of the smallest box whose centre region holds the cell,
        -1 for a cell inside a box but outside every centre region (not learned), -2 for
        background (inside no box).
        ``(h·w, 4)`` float: log distances, in cells, from the cell centre to the box's
        left, top, right and bottom sides (rows of positive cells only are meaningful).
    """
    centres = cell_centres(h, w)
    target = np.full(len(centres), -2, dtype=np.int64)
    sides = np.zeros((len(centres), 4))
    if len(boxes) == 0:
        return target, sides
    cell = np.array([1.0 / w, 1.0 / h])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    best_area = np.full(len(centres), np.inf)
    for box, label, area in zip(boxes, labels, areas, strict=True):
        lo, hi = box[:2], box[2:]
        inside = np.all((centres >= lo) & (centres <= hi), axis=1)
        target[inside & (target == -2)] = -1
        middle = (lo + hi) / 2
        half = np.maximum(CENTRE_SHARE * (hi - lo) / 2, cell / 2)
        central = np.all(np.abs(centres - middle) <= half, axis=1)
        take = central & (area < best_area)
        target[take], best_area[take] = label, area
        distances = np.hstack([centres - lo, hi - centres]) / np.tile(cell, 2)
        sides[take] = np.log(np.maximum(distances[take], 0.25))
    return target, sides


@dataclass(frozen=True)
class CellScores:
    """One pass of a detector over one image's cells.

    Attributes:
        probs: ``(K + 1, h, w)`` class probabilities (background last).
        features: ``(h·w, D)`` standardised cell features, what the side regression reads.
    """

    probs: torch.Tensor
    features: np.ndarray


@dataclass
class DenseDetector:
    """The fitted detector.

    Attributes:
        classes: the class names, in score order (background is the last score).
        mean, scale: ``(D,)`` standardisation of the cell features.
        weight, bias: ``(K + 1, D)`` and ``(K + 1,)`` class scores.
        sides: ridge regression from standardised features to the four log distances.
    """

    classes: list[str]
    mean: torch.Tensor
    scale: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor
    sides: RidgeModel

    def score_cells(self, dense: torch.Tensor) -> CellScores:
        """Every class's probability in every cell of ``dense`` ``(C, h, w)``: one pass
        that :meth:`detect` decodes for each class."""
        h, w = dense.shape[1:]
        x = (cell_features(dense) - self.mean) / self.scale
        probs = (x @ self.weight.T + self.bias).softmax(dim=1)
        return CellScores(probs.T.reshape(-1, h, w), x.numpy())

    def detect(
        self, cells: CellScores, class_index: int, threshold: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes ``(N, 4)`` fractions best first, their scores ``(N,)`` (0-1) and the
        class's probability map ``(h, w)`` float32 for one class."""
        h, w = cells.probs.shape[1:]
        heat = cells.probs[class_index]
        peak = heat == F.max_pool2d(heat[None, None], 3, 1, 1)[0, 0]
        found = torch.nonzero((peak & (heat >= threshold)).flatten()).flatten().numpy()
        if len(found) == 0:
            return np.zeros((0, 4)), np.zeros(0), heat.numpy().astype(np.float32)
        centres = cell_centres(h, w)[found]
        distances = np.exp(self.sides.predict(cells.features[found])) * np.tile(
            [1.0 / w, 1.0 / h], 2
        )
        boxes = np.hstack([centres - distances[:, :2], centres + distances[:, 2:]])
        boxes = np.clip(boxes, 0.0, 1.0)
        scores = heat.flatten()[found].numpy()
        keep = nms(torch.as_tensor(boxes).float(), torch.as_tensor(scores).float(), NMS_IOU).numpy()
        return boxes[keep], scores[keep], heat.numpy().astype(np.float32)


@dataclass(frozen=True)
class ImageRows:
    """What one accepted image gives the fit: its positive and sampled background cells'
    features ``(n, D)`` with their targets ``(n,)`` (the class index; ``K`` for
    background), and the positives' log side distances ``(p, 4)`` (the first ``p``
    rows are the positives)."""

    features: torch.Tensor
    targets: np.ndarray
    sides: np.ndarray


def image_rows(item: LabelledImage, classes: Sequence[str], seed: int = 0) -> ImageRows | None:
    """The training rows of one image (None without dense features). The background cells
    are drawn by a generator seeded from ``seed`` and the image's boxes, so an image gives
    the same rows in every fit and they can be computed once per training."""
    if item.evidence.dense is None:
        return None
    index = {name: k for k, name in enumerate(classes)}
    h, w = item.evidence.dense.shape[1:]
    keep = [i for i, name in enumerate(item.labels) if name in index]
    labels = [index[item.labels[i]] for i in keep]
    target, sides = cell_targets(item.boxes[keep], labels, h, w)
    positive = np.flatnonzero(target >= 0)
    background = np.flatnonzero(target == -2)
    if len(background) > BACKGROUND_CELLS:
        rng = np.random.default_rng([seed, zlib.crc32(np.ascontiguousarray(item.boxes).tobytes())])
        background = rng.choice(background, BACKGROUND_CELLS, replace=False)
    chosen = np.concatenate([positive, background])
    return ImageRows(
        cell_features(item.evidence.dense)[chosen],
        np.where(target[chosen] >= 0, target[chosen], len(classes)),
        sides[positive],
    )


def fit_dense_detector(
    images: Sequence[LabelledImage],
    classes: Sequence[str],
    seed: int = 0,
    rows: dict[int, ImageRows | None] | None = None,
) -> DenseDetector:
    """Fit the class scores and the side distances on accepted images.

    Args:
        rows: each image's :func:`image_rows` by ``id(image)``, filled on first use; a
            trainer passes one dict to every fit of one training (the folds of its
            cross-validation and the final fit), so each image's cells are read once.

    Raises:
        ValueError: no image has dense features, or no positive cell of the classes.
    """
    rows = {} if rows is None else rows
    parts = []
    for item in images:
        if id(item) not in rows:
            rows[id(item)] = image_rows(item, classes, seed)
        part = rows[id(item)]
        if part is not None:
            parts.append(part)
    if not parts or not any(len(p.sides) for p in parts):
        raise ValueError("no accepted box with dense features to learn a detector from")
    x = torch.cat([p.features for p in parts])
    mean, scale = x.mean(dim=0), x.std(dim=0).clamp_min(1e-6)
    weight, bias = fit_multinomial(
        (x - mean) / scale,
        torch.as_tensor(np.concatenate([p.targets for p in parts])),
        len(classes) + 1,
        WEIGHT_DECAY,
    )
    positives = torch.cat([p.features[: len(p.sides)] for p in parts])
    regression = fit_ridge(
        ((positives - mean) / scale).numpy(), np.concatenate([p.sides for p in parts]), RIDGE_ALPHA
    )
    return DenseDetector(list(classes), mean, scale, weight, bias, regression)


def detector_state(detector: DenseDetector) -> dict:
    """The detector as strings and tensors (what a model file stores)."""
    return {
        "classes": list(detector.classes),
        "mean": detector.mean,
        "scale": detector.scale,
        "weight": detector.weight,
        "bias": detector.bias,
        **ridge_state(detector.sides, "sides_"),
    }


def detector_from_state(state: dict) -> DenseDetector:
    sides = ridge_from_state(state, "sides_")
    return DenseDetector(
        list(state["classes"]), state["mean"], state["scale"], state["weight"], state["bias"], sides
    )
