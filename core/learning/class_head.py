"""A linear head on the user's own classes, so CAM works for classes ImageNet lacks.

Zhou et al. (Learning Deep Features for Discriminative Localization, §4) train a linear
classifier on globally average-pooled features for a new task and read its CAM.
Here the head is fit on the features pooled inside each
accepted box (positives of its class) and inside windows that avoid every box (a
``background`` class), so no image has to be passed through the network again: the
pooling runs on the image's cached last conv activations (:class:`Evidence.features`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou, roi_align

from core.learning.evidence import Evidence
from core.learning.logistic import fit_multinomial

#: Background windows drawn per image (those overlapping a box by IoU ≥ 0.3 are dropped).
BACKGROUND_WINDOWS = 6
#: L2 penalty on the head's weights (per sample mean cross-entropy + this · ‖W‖²).
HEAD_WEIGHT_DECAY = 1e-2


@dataclass(frozen=True)
class LabelledImage:
    """An image with its accepted boxes.

    Attributes:
        evidence: the image's :class:`Evidence`.
        boxes: ``(M, 4)`` boxes as fractions of the width and height, 0-1.
        labels: ``M`` class names.
    """

    evidence: Evidence
    boxes: np.ndarray
    labels: tuple[str, ...]


@dataclass
class ClassHead:
    """``logits = pooled @ weight.T + bias`` over ``classes`` then ``background``.

    Attributes:
        classes: the user's class names, in output order (background is the last output).
        weight: ``(K + 1, C)`` float32.
        bias: ``(K + 1,)`` float32.
    """

    classes: list[str]
    weight: torch.Tensor
    bias: torch.Tensor

    def classify(self, features: torch.Tensor) -> tuple[int, float]:
        """``(C, h, w)`` features → (index of the most likely user class, its softmax
        probability among the user classes and background)."""
        logits = self.weight @ features.float().mean(dim=(1, 2)) + self.bias
        probabilities = logits.softmax(dim=0)
        k = int(probabilities[:-1].argmax())
        return k, float(probabilities[k])

    def probability(self, features: torch.Tensor, class_index: int, side: int) -> np.ndarray:
        """Per-cell probability of ``class_index`` against background, ``(side, side)``
        float32 0-1: the sigmoid of the CAM with the biases, upsampled bilinearly."""
        direction = self.weight[class_index] - self.weight[-1]
        offset = self.bias[class_index] - self.bias[-1]
        raw = torch.einsum("c,chw->hw", direction, features.float()) + offset
        raw = F.interpolate(
            raw[None, None], size=(side, side), mode="bilinear", align_corners=False
        )
        return raw[0, 0].sigmoid().numpy().astype(np.float32)

    def cam(self, features: torch.Tensor, class_index: int, side: int) -> np.ndarray:
        """CAM of ``class_index`` against background, ``(side, side)`` float32 0-1.

        ``M(x, y) = (w_k − w_background) · f(x, y)``: where the class wins over background.
        """
        direction = self.weight[class_index] - self.weight[-1]
        raw = torch.einsum("c,chw->hw", direction, features.float())[None, None]
        raw = F.interpolate(raw, size=(side, side), mode="bilinear", align_corners=False)[0, 0]
        raw = raw - raw.min()
        peak = float(raw.max())
        return (raw / peak if peak > 0 else raw).numpy().astype(np.float32)


def _pool(features: torch.Tensor, boxes: np.ndarray) -> torch.Tensor:
    """Mean ``(N, C)`` of ``(C, h, w)`` features inside ``(N, 4)`` fractional boxes."""
    h, w = features.shape[-2:]
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    rois = torch.as_tensor(boxes, dtype=torch.float32) * scale
    rois = torch.cat([torch.zeros(len(rois), 1), rois], dim=1)
    pooled = roi_align(features.float()[None], rois, (2, 2), 1.0, 2, aligned=True)
    return pooled.mean(dim=(2, 3))


def background_windows(boxes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Up to :data:`BACKGROUND_WINDOWS` random windows (20-50% of each side) that overlap
    no box by IoU ≥ 0.3 nor hold more than half of their area inside one."""
    sides = rng.uniform(0.2, 0.5, size=(BACKGROUND_WINDOWS, 2))
    corners = rng.uniform(0.0, 1.0, size=(BACKGROUND_WINDOWS, 2)) * (1 - sides)
    windows = np.hstack([corners, corners + sides])
    if len(boxes) == 0:
        return windows
    w, b = torch.as_tensor(windows), torch.as_tensor(boxes, dtype=torch.float64)
    iou = box_iou(w, b)
    lt = torch.maximum(w[:, None, :2], b[None, :, :2])
    rb = torch.minimum(w[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp_min(0).prod(dim=2)
    area = (w[:, 2:] - w[:, :2]).prod(dim=1)[:, None]
    keep = ((iou < 0.3) & (inter / area <= 0.5)).all(dim=1).numpy()
    return windows[keep]


def fit_class_head(
    images: Sequence[LabelledImage], classes: Sequence[str], seed: int = 0
) -> ClassHead:
    """Multinomial logistic regression (L-BFGS) on pooled box and background features.

    Args:
        images: accepted images; boxes whose label is not in ``classes`` are ignored.
        classes: the user classes to learn, in output order.
        seed: for the background windows.
    """
    if not classes:
        raise ValueError("a class head needs at least one class")
    index = {name: k for k, name in enumerate(classes)}
    rng = np.random.default_rng(seed)
    rows, targets = [], []
    for item in images:
        keep = [i for i, name in enumerate(item.labels) if name in index]
        if keep:
            rows.append(_pool(item.evidence.features, item.boxes[keep]))
            targets += [index[item.labels[i]] for i in keep]
        windows = background_windows(item.boxes, rng)
        if len(windows):
            rows.append(_pool(item.evidence.features, windows))
            targets += [len(classes)] * len(windows)
    if not targets or all(t == len(classes) for t in targets):
        raise ValueError("no accepted box of the classes to learn")
    weight, bias = fit_multinomial(
        torch.cat(rows), torch.tensor(targets), len(classes) + 1, HEAD_WEIGHT_DECAY
    )
    return ClassHead(list(classes), weight, bias)
