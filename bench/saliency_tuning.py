"""Saliency-aligned fine-tuning of the last block versus the frozen backbone, on raccoon.

For random splits of 20 training / 180 test images, CorLoc on the test images of the
head-probability localizer (per-cell probability of the class against background, boxes
above 0.3 of its peak) read from

* ``frozen``: the frozen backbone's features + :func:`fit_class_head` (the current best);
* ``ce``: the fine-tuned tail (block 15 + conv head) and head, cross-entropy only (λ = 0);
* ``sal l=λ m=μ``: the same with the saliency penalties of
  :mod:`core.learning.saliency_tuning` (the paper's: mass outside the box when the image
  is classified right, inside when wrong, and the map-mean regulariser);
* ``out l=λ m=μ``: the mass outside the box penalised whatever the prediction.

``CAM in box`` is the mean share of the CAM's mass inside the test images' boxes.

Fine-tuning starts from the frozen model (the head is initialised with
:func:`fit_class_head`). Prints figures only::

    .venv/bin/python -m bench.saliency_tuning [--splits 3] [--steps 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from bench.common import DATASETS
from core.engine.backbones import load_backbone
from core.engine.boxes import iou_matrix
from core.engine.images import load_rgb
from core.engine.proposals import resize_for_network
from core.formats.voc import read_voc
from core.formats.voc_dataset import annotated_images
from core.learning.class_head import LabelledImage, fit_class_head
from core.learning.evidence import Evidence
from core.learning.localizers import HeadProbabilityLocalizer
from core.learning.saliency_tuning import TunedTail, fine_tune, saliency_inside, tail_inputs

#: Side of the maps the localizer thresholds (the EvidenceMaker default input size).
MAP_SIDE = 224


def load_raccoon(backbone) -> tuple[list[Evidence], list[np.ndarray], torch.Tensor]:
    """Evidence (frozen features), fractional boxes and block-14 outputs of every image."""
    pairs = annotated_images(DATASETS / "raccoon" / "images", DATASETS / "raccoon" / "annotations")
    images, boxes = [], []
    for image_path, xml_path in pairs:
        rgb = load_rgb(image_path).rgb
        ann = read_voc(xml_path)
        if not ann.objects:
            continue
        h, w = rgb.shape[:2]
        b = np.array([o.box for o in ann.objects], dtype=np.float64).reshape(-1, 4)
        boxes.append(b / [w, h, w, h])
        images.append(rgb)
    inputs, feats = tail_inputs(backbone, images)
    evidence = [
        Evidence(
            size=(im.shape[1], im.shape[0]),
            resized=resize_for_network(im, MAP_SIDE),
            features=f.to(torch.float16),
            imagenet_class=0,
            imagenet_confidence=0.0,
            maps={},
        )
        for im, f in zip(images, feats, strict=True)
    ]
    return evidence, boxes, inputs


def corloc(head, evidence: list[Evidence], boxes: list[np.ndarray]) -> float:
    """Share of images whose top head-probability box has IoU > 0.5 with a true box."""
    localizer = HeadProbabilityLocalizer(head)
    hits = 0
    for ev, truth in zip(evidence, boxes, strict=True):
        found, _ = localizer.locate(ev, 0)
        hits += len(found) > 0 and float(iou_matrix(found[:1], truth).max()) > 0.5
    return hits / len(evidence)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--train", type=int, default=20)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--lambdas", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--mus", type=float, nargs="+", default=[0.0, 0.1])
    parser.add_argument(
        "--outside",
        type=float,
        nargs="*",
        default=[10.0],
        help="λs of the variant penalising mass outside the box whatever the prediction",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    backbone = load_backbone()
    start = time.perf_counter()
    evidence, boxes, inputs = load_raccoon(backbone)
    print(
        f"{len(evidence)} images, block-14 cache {tuple(inputs.shape)} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    classes = ["raccoon"]
    variants = (
        [("ce", 0.0, 0.0, True)]
        + [(f"sal l={lam:g} m={mu:g}", lam, mu, True) for lam in args.lambdas for mu in args.mus]
        + [(f"out l={lam:g} m={mu:g}", lam, mu, False) for lam in args.outside for mu in args.mus]
    )
    results: dict[str, list[float]] = {"frozen": []}
    inside: dict[str, list[float]] = {"frozen": []}
    seconds: dict[str, list[float]] = {"frozen": []}
    for split in range(args.splits):
        order = np.random.default_rng(split).permutation(len(evidence))
        train, test = order[: args.train], order[args.train :]
        items = [LabelledImage(evidence[i], boxes[i], ("raccoon",) * len(boxes[i])) for i in train]
        t0 = time.perf_counter()
        head = fit_class_head(items, classes, seed=split)
        seconds["frozen"].append(time.perf_counter() - t0)
        test_ev = [evidence[i] for i in test]
        test_boxes = [boxes[i] for i in test]
        results["frozen"].append(corloc(head, test_ev, test_boxes))
        frozen_tail = TunedTail.from_backbone(backbone, classes, head)
        inside["frozen"].append(
            float(saliency_inside(frozen_tail, inputs[test], test_boxes).mean())
        )
        line = [f"split {split}: frozen {results['frozen'][-1]:.3f}"]
        for name, lam, mu, when_wrong in variants:
            t0 = time.perf_counter()
            tail = fine_tune(
                backbone,
                inputs[train],
                [boxes[i] for i in train],
                [("raccoon",) * len(boxes[i]) for i in train],
                classes,
                steps=args.steps,
                lr=args.lr,
                head_lr=args.head_lr,
                saliency_weight=lam,
                mean_weight=mu,
                init_head=head,
                inside_when_wrong=when_wrong,
                seed=split,
            )
            seconds.setdefault(name, []).append(time.perf_counter() - t0)
            with torch.inference_mode():
                feats = torch.cat(
                    [tail.features(inputs[test[i : i + 32]]) for i in range(0, len(test), 32)]
                )
            tuned_ev = [
                dataclasses.replace(ev, features=f.to(torch.float16))
                for ev, f in zip(test_ev, feats, strict=True)
            ]
            results.setdefault(name, []).append(corloc(tail.class_head(), tuned_ev, test_boxes))
            inside.setdefault(name, []).append(
                float(saliency_inside(tail, inputs[test], test_boxes).mean())
            )
            line.append(f"{name} {results[name][-1]:.3f} ({seconds[name][-1]:.1f} s)")
        print("; ".join(line), flush=True)

    print(
        f"\nraccoon, {args.splits} splits of {args.train} train / {len(evidence) - args.train} "
        f"test, {args.steps} steps, lr {args.lr:g}, head lr {args.head_lr:g}, "
        f"{args.threads} thread(s)"
    )
    print(f"{'variant':<16} {'CorLoc per split':<24} {'mean':>6} {'CAM in box':>10} {'train s':>8}")
    for name, values in results.items():
        per = " ".join(f"{v:.3f}" for v in values)
        print(
            f"{name:<16} {per:<24} {np.mean(values):6.3f} {np.mean(inside[name]):10.3f} "
            f"{np.mean(seconds[name]):8.2f}"
        )


if __name__ == "__main__":
    main()
