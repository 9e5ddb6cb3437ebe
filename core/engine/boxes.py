"""Box maths and map-to-box conversion, as pure functions.

Coordinates are continuous pixel edges: a box ``(x1, y1, x2, y2)`` covers
``x1 <= x < x2``; the pixel in column ``c`` spans ``[c, c + 1)``. A box covering the whole
``W × H`` image is ``(0, 0, W, H)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np
import torch
from torchvision.ops import box_iou, nms

from core.engine.peaks import PeakSplit, split_boxes

#: A box ``(x1, y1, x2, y2)`` in pixel edges.
Box = tuple[float, float, float, float]


def as_box(values: Sequence[float] | np.ndarray) -> Box:
    """Four numbers as a box ``(x1, y1, x2, y2)`` of Python floats."""
    x1, y1, x2, y2 = (float(v) for v in values)
    return x1, y1, x2, y2


def scale_boxes(
    boxes: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]
) -> np.ndarray:
    """Map ``(N, 4)`` boxes from an image of ``from_size = (W, H)`` to one of ``to_size``.

    Exact for the axis-aligned resize SaliBox applies (each axis scaled independently).
    """
    sx = to_size[0] / from_size[0]
    sy = to_size[1] / from_size[1]
    return np.asarray(boxes, dtype=np.float64) * np.array([sx, sy, sx, sy])


def clip_boxes(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Clip ``(N, 4)`` boxes to an image of ``size = (W, H)``."""
    w, h = size
    out = np.asarray(boxes, dtype=np.float64).copy()
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, w)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, h)
    return out


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` ``(N, 4)`` with every box of ``b`` ``(M, 4)`` → ``(N, M)``."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return box_iou(
        torch.as_tensor(np.asarray(a), dtype=torch.float64),
        torch.as_tensor(np.asarray(b), dtype=torch.float64),
    ).numpy()


def component_boxes(mask: np.ndarray, min_area: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of the 8-connected components of a binary ``(H, W)`` mask.

    Args:
        mask: boolean or 0/1 array.
        min_area: components with fewer pixels are dropped.

    Returns:
        (boxes ``(N, 4)`` in pixel edges, areas ``(N,)`` in pixels), largest first.
    """
    _, _, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S
    )
    stats = stats[1:]
    keep = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= max(min_area, 1))
    order = keep[np.argsort(-stats[keep, cv2.CC_STAT_AREA], kind="stable")]
    x, y = stats[order, cv2.CC_STAT_LEFT], stats[order, cv2.CC_STAT_TOP]
    w, h = stats[order, cv2.CC_STAT_WIDTH], stats[order, cv2.CC_STAT_HEIGHT]
    boxes = np.stack([x, y, x + w, y + h], axis=1).astype(np.float64).reshape(-1, 4)
    return boxes, stats[order, cv2.CC_STAT_AREA].astype(np.float64)


def box_mass(saliency: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Fraction of a non-negative ``(H, W)`` map's total inside each integer box ``(N, 4)``."""
    total = max(float(saliency.sum()), 1e-12)
    return np.array(
        [saliency[int(y1) : int(y2), int(x1) : int(x2)].sum() / total for x1, y1, x2, y2 in boxes]
    )


def threshold_boxes(
    saliency: np.ndarray,
    threshold: float = 0.2,
    relative_to: Literal["max", "mean"] = "max",
    min_area: float = 0.01,
    nms_iou: float = 0.5,
    max_boxes: int = 5,
    split: PeakSplit | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of the connected components of a thresholded map (Zhou et al. §3.2).

    Args:
        saliency: ``(H, W)`` float map, larger is more salient.
        threshold: keep pixels ``>= threshold * max(saliency)`` (the CAM paper's rule, 0.2
            by default) or, with ``relative_to="mean"``, ``>= threshold * mean(saliency)``.
        relative_to: ``"max"`` or ``"mean"``. The mean adapts to the object's size: a
            small object leaves most of a 0-1 map near zero, which pulls the mean down less
            than the max-fraction rule lets a coarse blob spread.
        min_area: smallest component kept, as a fraction of the map's area (the largest
            component is always kept).
        nms_iou: components overlapping a larger one by more than this IoU are dropped.
        max_boxes: at most this many boxes.
        split: when given, a component that holds several peaks (:mod:`core.engine.peaks`)
            gives one box per peak instead of its own; parts rank by box area.

    Returns:
        (boxes ``(N, 4)`` in map pixel edges, mass ``(N,)``: see :func:`box_mass`), largest
        component first. Empty for an all-zero map.
    """
    peak = float(saliency.max())
    if not np.isfinite(peak) or peak <= 0:
        return np.zeros((0, 4)), np.zeros(0)
    level = threshold * (peak if relative_to == "max" else float(saliency.mean()))
    mask = saliency >= level
    if split is None:
        boxes, areas = component_boxes(mask)
        keep = np.flatnonzero((areas >= min_area * saliency.size) | (np.arange(len(areas)) == 0))
        boxes, areas = boxes[keep], areas[keep]
    else:
        boxes, areas = _split_components(saliency, mask, min_area * saliency.size, split)
    mass = box_mass(saliency, boxes)
    if len(boxes) == 1:
        return boxes, mass
    # Rank by area, largest first (the paper's "largest connected component").
    kept = nms(
        torch.as_tensor(boxes, dtype=torch.float64),
        torch.as_tensor(areas, dtype=torch.float64),
        nms_iou,
    ).numpy()[:max_boxes]
    return boxes[kept], mass[kept]


def _split_components(
    saliency: np.ndarray, mask: np.ndarray, min_area: float, split: PeakSplit
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of a mask's components, each split at its peaks, and their areas (the box's,
    in pixels), largest first; components under ``min_area`` pixels but the largest are
    dropped."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S
    )
    sizes = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(-sizes, kind="stable")
    order = order[(sizes[order] >= max(min_area, 1)) | (np.arange(len(order)) == 0)]
    parts = [split_boxes(saliency, labels == i + 1, split) for i in order]
    boxes = np.concatenate(parts).reshape(-1, 4) if parts else np.zeros((0, 4))
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    rank = np.argsort(-areas, kind="stable")
    return boxes[rank], areas[rank]


def grabcut_box(
    image: np.ndarray,
    saliency: np.ndarray,
    foreground_quantile: float = 0.95,
    background_quantile: float = 0.30,
    iterations: int = 3,
) -> np.ndarray | None:
    """One box from GrabCut seeded by a saliency map (Simonyan et al. 2013 §3.2).

    Pixels above the ``foreground_quantile`` of the map are sure foreground, those below
    the ``background_quantile`` sure background; the rest is left for the colour models to
    decide. The box is that of the largest connected foreground component.

    Args:
        image: ``(H, W, 3)`` uint8 RGB, the same size as ``saliency``.
        saliency: ``(H, W)`` float map.

    Returns:
        ``(4,)`` box in pixel edges, or ``None`` when GrabCut finds no foreground.
    """
    hi = np.quantile(saliency, foreground_quantile)
    lo = np.quantile(saliency, background_quantile)
    mask = np.full(saliency.shape, cv2.GC_PR_BGD, dtype=np.uint8)
    mask[saliency > np.quantile(saliency, 0.5 * (foreground_quantile + background_quantile))] = (
        cv2.GC_PR_FGD
    )
    mask[saliency <= lo] = cv2.GC_BGD
    mask[saliency >= hi] = cv2.GC_FGD
    if not (mask == cv2.GC_BGD).any() or not (mask == cv2.GC_FGD).any() or hi <= lo:
        return None
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    cv2.grabCut(bgr, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]  # the stubs want a rect, which GC_INIT_WITH_MASK ignores
    foreground = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    boxes, _ = component_boxes(foreground)
    return boxes[0] if len(boxes) else None
