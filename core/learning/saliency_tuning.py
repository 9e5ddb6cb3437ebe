"""Saliency-aligned fine-tuning of the backbone's last block (Trustworthy Convolutional
Neural Networks: A Gradient Penalized-based Approach).

The paper (§3.1-3.2) adds to cross-entropy a penalty on the saliency mass
outside the ground-truth region when the prediction is right, one on the mass inside it
when the prediction is wrong, and a regulariser on the map's mean against over-confident
(spread-out) maps, and trains only the last layers. Here the accepted boxes are the
ground-truth regions and the trained part is a *copy* of EfficientNet-Lite0's last MBConv
block (``net._blocks[15]``), its ``_conv_head`` (BatchNorm is folded into the convolutions
at load time, :mod:`core.engine.fusion`) and a linear head over the user classes + background on
globally average-pooled features. The backbone itself is never modified.

The input of block 15 (the output of block 14, ``(192, 13, 13)`` at 416 px) is computed
once per image (:func:`tail_inputs`), so a training step only runs the tail.

Saliency is the CAM of the image's class against background,
``M = ReLU((w_k − w_bg) · f)``: with a linear head on pooled features it is Grad-CAM up to
scale and differentiable in the tail's weights. The box penalty reads ``M / ΣM`` (a
distribution over cells); the mean regulariser reads ``M / max M`` (0-1, as in the paper:
the mean of a sum-normalised map is the constant ``1 / (h·w)`` and would have no gradient).

Loss per step (all training images, or a random batch of 64 when there are more)::

    CE(GAP logits, image class; box-pooled features, their class; background windows,
        background)
    + λ · mean_i [(1 − inside_i) if image i predicted right else inside_i]
    + μ · mean_i mean(M_i / max M_i)

Measured on raccoon by ``bench/saliency_tuning.py`` (3 splits of 20 train / 180 test,
30 steps, head-probability CorLoc): frozen + fit_class_head 0.872, cross-entropy only
0.709, λ=10 μ=0.1 0.909, outside-only (``inside_when_wrong=False``) λ=10 0.917; about 21 s
of training per run on 1 CPU thread (a loaded machine). Not wired into the training loop.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

from core.engine.backbones import Backbone
from core.engine.proposals import resize_for_network
from core.learning.class_head import ClassHead, LabelledImage, background_windows
from core.learning.evidence import FEATURE_SIZE
from core.learning.tail import TAIL_BLOCK


class TunedTail(nn.Module):
    """Block 15 + ``_conv_head`` + activation (copies) and a linear head on pooled features.

    Args:
        block: the MBConv block, ``(B, 192, h, w) → (B, 320, h, w)``.
        conv_head: the 1×1 convolution ``(B, 320, h, w) → (B, 1280, h, w)``.
        activation: the network's activation (``ReLU6`` for the Lite models).
        classes: the user classes; the head has ``len(classes) + 1`` outputs, background
            last.
        head: the linear head ``1280 → K + 1``; zeros if omitted.
    """

    def __init__(
        self,
        block: nn.Module,
        conv_head: nn.Conv2d,
        activation: nn.Module,
        classes: Sequence[str],
        head: nn.Linear | None = None,
    ) -> None:
        super().__init__()
        self.block = block
        self.conv_head = conv_head
        self.activation = activation
        self.classes = list(classes)
        if head is None:
            head = nn.Linear(conv_head.out_channels, len(self.classes) + 1)
            nn.init.zeros_(head.weight)
            nn.init.zeros_(head.bias)
        self.head = head

    @classmethod
    def from_backbone(
        cls, backbone: Backbone, classes: Sequence[str], head: ClassHead | None = None
    ) -> TunedTail:
        """Deep copies of the backbone's last block and conv head (EfficientNet-Lite only),
        with the linear head initialised from ``head`` (or zeros)."""
        net: Any = backbone.features.net  # efficientnet_lite's untyped model
        linear = None
        if head is not None:
            if list(head.classes) != list(classes):
                raise ValueError("the class head's classes differ from the tail's")
            linear = nn.Linear(head.weight.shape[1], head.weight.shape[0])
            with torch.no_grad():
                linear.weight.copy_(head.weight)
                linear.bias.copy_(head.bias)
        tail = cls(
            copy.deepcopy(net._blocks[TAIL_BLOCK]),
            copy.deepcopy(net._conv_head),
            copy.deepcopy(net._swish),
            classes,
            linear,
        )
        tail.to(torch.float32, memory_format=torch.contiguous_format)  # type: ignore[call-overload]
        return tail.eval()

    def features(self, block14_output: torch.Tensor) -> torch.Tensor:
        """``(B, 192, h, w)`` output of block 14 → ``(B, 1280, h, w)`` last conv activations
        (what :attr:`Evidence.features` holds for the frozen backbone)."""
        x = self.block(block14_output.float())
        return self.activation(self.conv_head(x))

    def forward(self, block14_output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 192, h, w)`` → (features ``(B, 1280, h, w)``, logits ``(B, K + 1)``)."""
        feats = self.features(block14_output)
        return feats, self.head(feats.mean(dim=(2, 3)))

    def cam(self, feats: torch.Tensor, class_index: torch.Tensor) -> torch.Tensor:
        """ReLU of the CAM of each image's class against background, ``(B, h, w)`` ≥ 0.

        Args:
            feats: ``(B, C, h, w)`` features.
            class_index: ``(B,)`` long, the class of each image.
        """
        direction = self.head.weight[class_index] - self.head.weight[-1]
        return torch.einsum("bc,bchw->bhw", direction, feats).relu()

    def class_head(self) -> ClassHead:
        """The linear head as a :class:`ClassHead` (for the localizers, with features from
        :meth:`features`)."""
        return ClassHead(
            list(self.classes),
            self.head.weight.detach().clone().float(),
            self.head.bias.detach().clone().float(),
        )


def tail_inputs(
    backbone: Backbone,
    images: Sequence[np.ndarray],
    size: int = FEATURE_SIZE,
    batch_size: int = 8,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Block-14 outputs and frozen last conv features of ``(H, W, 3)`` uint8 images.

    Images are resized (squashed) to ``size`` px as :class:`EvidenceMaker` does for its
    features. Returns (``(N, 192, h, w)`` float32 input of block 15, ``(N, 1280, h, w)``
    float32 features of the frozen backbone), both on the CPU.
    """
    net: Any = backbone.features.net  # efficientnet_lite's untyped model
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        captured.append(args[0].detach().to("cpu", torch.float32).contiguous())

    handle = net._blocks[TAIL_BLOCK].register_forward_pre_hook(hook)
    inputs, feats = [], []
    try:
        for start in range(0, len(images), batch_size):
            batch = [resize_for_network(im, size) for im in images[start : start + batch_size]]
            with torch.inference_mode():
                f = backbone.features(backbone.batch(batch))
            inputs.append(captured.pop())
            feats.append(f.to("cpu", torch.float32).contiguous())
    finally:
        handle.remove()
    return torch.cat(inputs), torch.cat(feats)


def box_masks(boxes: Sequence[np.ndarray], h: int, w: int) -> torch.Tensor:
    """``(N, h, w)`` float32 share of each feature cell covered by the union of each
    image's ``(M, 4)`` fractional boxes (the max of the per-box coverages)."""
    out = torch.zeros(len(boxes), h, w)
    edges_y = torch.arange(h + 1, dtype=torch.float32) / h
    edges_x = torch.arange(w + 1, dtype=torch.float32) / w
    for i, image_boxes in enumerate(boxes):
        for x1, y1, x2, y2 in np.asarray(image_boxes, dtype=np.float32).reshape(-1, 4):
            cover_y = (edges_y[1:].clamp(max=y2) - edges_y[:-1].clamp(min=y1)).clamp(min=0) * h
            cover_x = (edges_x[1:].clamp(max=x2) - edges_x[:-1].clamp(min=x1)).clamp(min=0) * w
            out[i] = torch.maximum(out[i], cover_y[:, None] * cover_x[None, :])
    return out


@dataclass
class TuningLog:
    """Figures of a :func:`fine_tune` run, per step.

    Attributes:
        loss: total loss before each step's update.
        cross_entropy: its cross-entropy part.
        inside: mean share of the sum-normalised saliency inside the boxes.
    """

    loss: list[float]
    cross_entropy: list[float]
    inside: list[float]


def _rois(boxes: Sequence[np.ndarray], h: int, w: int) -> torch.Tensor:
    """``(R, 5)`` roi_align rows ``(image, x1, y1, x2, y2)`` in feature cells."""
    rows = [
        [i, x1 * w, y1 * h, x2 * w, y2 * h]
        for i, image_boxes in enumerate(boxes)
        for x1, y1, x2, y2 in np.asarray(image_boxes, dtype=np.float64).reshape(-1, 4)
    ]
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 5)


def _flip_boxes(boxes: np.ndarray) -> np.ndarray:
    """Horizontal flip of ``(M, 4)`` fractional boxes."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([1 - b[:, 2], b[:, 1], 1 - b[:, 0], b[:, 3]], axis=1)


def fine_tune(
    backbone: Backbone,
    images: Sequence[np.ndarray] | torch.Tensor,
    boxes: Sequence[np.ndarray],
    labels: Sequence[Sequence[str]],
    classes: Sequence[str],
    steps: int = 30,
    lr: float = 1e-4,
    head_lr: float = 1e-3,
    saliency_weight: float = 0.0,
    mean_weight: float = 0.0,
    init_head: ClassHead | None = None,
    inside_when_wrong: bool = True,
    flip: bool = True,
    seed: int = 0,
    log: TuningLog | None = None,
    batch_images: int = 64,
) -> TunedTail:
    """Fine-tune a copy of the backbone's tail (block 15, conv head) and a linear head.

    Args:
        backbone: EfficientNet-Lite (``backbone.features.net``); not modified.
        images: ``N`` ``(H, W, 3)`` uint8 images, or their cached block-14 outputs
            ``(N, 192, h, w)`` from :func:`tail_inputs`.
        boxes: per image, ``(M, 4)`` accepted boxes as fractions of width and height.
        labels: per image, its ``M`` class names (boxes of other classes count as neither
            object nor background).
        classes: the user classes, in output order (background is appended).
        steps: full-batch Adam steps.
        lr: learning rate of the block and conv head.
        head_lr: learning rate of the linear head.
        saliency_weight: λ, weight of the box penalty (0: plain cross-entropy tuning).
        mean_weight: μ, weight of the mean-of-map regulariser.
        init_head: start the linear head from this (e.g. :func:`fit_class_head` on the
            frozen features, so step 0 is the current model); zeros if omitted.
        inside_when_wrong: the paper's penalty on the mass *inside* the box when the
            image's GAP prediction is wrong; ``False`` penalises the mass outside the box
            whatever the prediction (the wrong branch pushes saliency out of the object
            while the image is still misclassified, as a small object's image is by a
            head fit on boxes against background windows).
        flip: use the horizontal mirror of every image too.
        seed: for the background windows.
        log: filled with per-step figures if given.
        batch_images: images (mirrors included) per step; a random subset of this many
            when there are more, so a step costs the same with 20 or 2,000 images (the
            20-image benchmark, 40 with mirrors, is full-batch as before).

    Returns:
        The tuned tail, in eval mode, with no gradients required.
    """
    if not classes:
        raise ValueError("fine-tuning needs at least one class")
    index = {name: k for k, name in enumerate(classes)}
    if isinstance(images, torch.Tensor):
        x = images.float()
    else:
        x, _ = tail_inputs(backbone, images)
    n, _, h, w = x.shape
    if not (len(boxes) == len(labels) == n):
        raise ValueError("images, boxes and labels differ in length")

    rng = np.random.default_rng(seed)
    image_class, class_boxes, windows = [], [], []
    for image_boxes, image_labels in zip(boxes, labels, strict=True):
        image_boxes = np.asarray(image_boxes, dtype=np.float64).reshape(-1, 4)
        keep = [i for i, name in enumerate(image_labels) if name in index]
        if keep:
            areas = (image_boxes[keep, 2] - image_boxes[keep, 0]) * (
                image_boxes[keep, 3] - image_boxes[keep, 1]
            )
            k = index[image_labels[keep[int(np.argmax(areas))]]]
        else:
            k = len(classes)
        image_class.append(k)
        same = [i for i in keep if index[image_labels[i]] == k]
        class_boxes.append(image_boxes[same])
        windows.append(background_windows(image_boxes, rng))
    if all(k == len(classes) for k in image_class):
        raise ValueError("no accepted box of the classes to learn")

    # One fixed training set: every image, and its mirror when flipping.
    targets = torch.tensor(image_class)
    box_targets = torch.tensor(
        [index[name] for lab in labels for name in lab if name in index], dtype=torch.long
    )
    known = [  # per image, its boxes of the classes to learn
        np.asarray(b, dtype=np.float64).reshape(-1, 4)[[i for i, m in enumerate(lab) if m in index]]
        for b, lab in zip(boxes, labels, strict=True)
    ]
    pos_rois = _rois(known, h, w)
    neg_rois = _rois(windows, h, w)
    masks = box_masks(class_boxes, h, w)
    if flip:
        x = torch.cat([x, x.flip(-1)])
        targets = torch.cat([targets, targets])
        box_targets = torch.cat([box_targets, box_targets])
        pos_flip = _rois([_flip_boxes(b) for b in known], h, w)
        pos_flip[:, 0] += n
        neg_flip = _rois([_flip_boxes(b) for b in windows], h, w)
        neg_flip[:, 0] += n
        pos_rois = torch.cat([pos_rois, pos_flip])
        neg_rois = torch.cat([neg_rois, neg_flip])
        masks = torch.cat([masks, masks.flip(-1)])
    labelled = targets < len(classes)
    row_targets = torch.cat(
        [targets, box_targets, torch.full((len(neg_rois),), len(classes), dtype=torch.long)]
    )

    tail = TunedTail.from_backbone(backbone, classes, init_head)
    tail.train()
    tail.requires_grad_(True)  # the backbone's parameters are frozen, and so their copies
    body = [*tail.block.parameters(), *tail.conv_head.parameters()]
    optimizer = torch.optim.Adam(
        [{"params": body, "lr": lr}, {"params": tail.head.parameters(), "lr": head_lr}]
    )
    all_rois = torch.cat([pos_rois, neg_rois])
    roi_targets = row_targets[len(targets) :]
    with torch.enable_grad():
        for _ in range(steps):
            pick = torch.arange(len(x))
            if len(x) > batch_images:  # a fixed cost per step, however many images
                pick = torch.from_numpy(np.sort(rng.choice(len(x), batch_images, replace=False)))
            position = torch.full((len(x),), -1, dtype=torch.long)
            position[pick] = torch.arange(len(pick))
            kept = position[all_rois[:, 0].long()] >= 0
            rois = all_rois[kept].clone()
            rois[:, 0] = position[rois[:, 0].long()].to(rois.dtype)
            feats, logits = tail(x[pick])
            pooled = roi_align(feats, rois, (2, 2), 1.0, 2, aligned=True).mean(dim=(2, 3))
            all_logits = torch.cat([logits, tail.head(pooled)])
            ce = F.cross_entropy(all_logits, torch.cat([targets[pick], roi_targets[kept]]))
            loss = ce
            batch_labelled = labelled[pick]
            batch_targets = targets[pick][batch_labelled]
            sal = tail.cam(feats[batch_labelled], batch_targets)
            distribution = sal / (sal.sum(dim=(1, 2), keepdim=True) + 1e-8)
            inside = (distribution * masks[pick][batch_labelled]).sum(dim=(1, 2))
            if saliency_weight:
                right = logits[batch_labelled].argmax(dim=1) == batch_targets
                if not inside_when_wrong:
                    right = torch.ones_like(right)
                penalty = torch.where(right, 1 - inside, inside)
                loss = loss + saliency_weight * penalty.mean()
            if mean_weight:
                peak = sal.amax(dim=(1, 2), keepdim=True) + 1e-8
                loss = loss + mean_weight * (sal / peak).mean()
            if log is not None:
                log.loss.append(loss.item())
                log.cross_entropy.append(ce.item())
                log.inside.append(inside.mean().item())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    tail.eval()
    tail.requires_grad_(False)
    return tail


def saliency_inside(
    tail: TunedTail,
    block14_output: torch.Tensor,
    boxes: Sequence[np.ndarray],
    class_index: int = 0,
) -> torch.Tensor:
    """``(N,)`` share of the sum-normalised CAM of ``class_index`` inside each image's
    boxes (union), for ``(N, 192, h, w)`` block-14 outputs."""
    with torch.inference_mode():
        feats = tail.features(block14_output)
        sal = tail.cam(feats, torch.full((len(feats),), class_index, dtype=torch.long))
        distribution = sal / (sal.sum(dim=(1, 2), keepdim=True) + 1e-8)
        masks = box_masks(boxes, *feats.shape[-2:])
        return (distribution * masks).sum(dim=(1, 2))


@dataclass(frozen=True)
class SaliencyAlignment:
    """Saliency-aligned fine-tuning as the trainer runs it, with the measured settings
    (λ = 10, μ = 0.1, 30 steps: raccoon 0.909 against 0.872 frozen, bench/saliency_tuning.py).

    Attributes:
        backbone: the (frozen) backbone whose tail is copied and tuned.
        saliency_weight: λ.
        mean_weight: μ.
        steps: full-batch Adam steps.
    """

    backbone: Backbone
    saliency_weight: float = 10.0
    mean_weight: float = 0.1
    steps: int = 30

    def tune(self, images: Sequence[LabelledImage], head: ClassHead) -> TunedTail:
        """Tune from the images' cached :attr:`Evidence.tail_input`, starting at ``head``.

        Raises:
            ValueError: an image's evidence has no tail input.
        """
        if any(im.evidence.tail_input is None for im in images):
            raise ValueError("saliency-aligned fine-tuning needs evidence with tail inputs")
        inputs = [im.evidence.tail_input for im in images]
        x = torch.stack([t for t in inputs if t is not None]).float()
        return fine_tune(
            self.backbone,
            x,
            [im.boxes for im in images],
            [im.labels for im in images],
            head.classes,
            steps=self.steps,
            saliency_weight=self.saliency_weight,
            mean_weight=self.mean_weight,
            init_head=head,
        )
