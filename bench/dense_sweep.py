"""The dense detector alone under other settings: fit on N images of a set, measure on M.

    python -m bench.dense_sweep SET [N] [M] [--try base WEIGHT_DECAY=0.01 CONTEXT=3-7-13 ...]

Each ``--try`` names settings of :mod:`core.learning.dense` (``NAME=VALUE``, several joined
by commas; ``base`` is the shipped settings; a tuple is written ``3-7-13``). The evidence is
computed once (a random draw of N + M images, seed 0, as :mod:`bench.dense`); for each
setting the detector is fitted on the first N and, on the other M, prints: recall at IoU
0.5 with as many boxes of a class as the image holds of it, the same without classes,
with three times as many boxes, at IoU 0.3 (found at all), each class's recall, and the
fit's seconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.common import DATASETS
from bench.loop import SETS
from core.engine.backbones import load_backbone
from core.engine.boxes import iou_matrix
from core.evaluation.simulation_data import load_replay
from core.formats.voc_dataset import annotated_images
from core.learning import dense
from core.learning.class_head import LabelledImage
from core.learning.evidence import EvidenceMaker
from core.learning.trainer import CV_THRESHOLD, matched

SETTINGS = ("WEIGHT_DECAY", "CENTRE_SHARE", "BACKGROUND_CELLS", "NMS_IOU", "RIDGE_ALPHA", "CONTEXT")


def apply(setting: str, shipped: dict) -> None:
    """Set the module's constants to ``shipped``, then to what ``setting`` names."""
    for name, value in shipped.items():
        setattr(dense, name, value)
    for part in setting.split(","):
        if part == "base":
            continue
        name, _, text = part.partition("=")
        if name not in shipped:
            raise SystemExit(f"unknown setting {name!r}; choose from {', '.join(SETTINGS)}")
        like = shipped[name]
        value = (
            tuple(int(v) for v in text.split("-")) if isinstance(like, tuple) else type(like)(text)
        )
        setattr(dense, name, value)


def measure(train: list[LabelledImage], test: list[LabelledImage]) -> str:
    classes = sorted({name for item in train for name in item.labels})
    start = time.perf_counter()
    detector = dense.fit_dense_detector(train, classes)
    seconds = time.perf_counter() - start
    objects = sum(len(item.labels) for item in test)
    found = agnostic = triple = loose = 0
    per_class: dict[str, list[int]] = {}
    for item in test:
        cells = detector.score_cells(item.evidence.dense)
        all_boxes, all_scores = [], []
        for k, name in enumerate(classes):
            boxes, scores, _ = detector.detect(cells, k, CV_THRESHOLD)
            all_boxes.append(boxes)
            all_scores.append(scores)
            truth = item.boxes[[i for i, n in enumerate(item.labels) if n == name]]
            hit = matched(boxes[: len(truth)], truth)
            found += hit
            counts = per_class.setdefault(name, [0, 0])
            counts[0] += hit
            counts[1] += len(truth)
        ranked = np.concatenate(all_boxes)[np.argsort(-np.concatenate(all_scores))]
        agnostic += matched(ranked[: len(item.boxes)], item.boxes)
        triple += matched(ranked[: 3 * len(item.boxes)], item.boxes)
        if len(ranked):
            loose += int(
                (iou_matrix(item.boxes, ranked[: len(item.boxes)]).max(axis=1) > 0.3).sum()
            )
    classes_text = " ".join(f"{n} {f / max(t, 1):.2f}" for n, (f, t) in per_class.items() if t)
    return (
        f"recall {found / objects:.3f} ({found}/{objects}),"
        f" without classes {agnostic / objects:.3f},"
        f" with 3x the boxes {triple / objects:.3f}, at IoU 0.3 {loose / objects:.3f};"
        f" {classes_text}; fit {seconds:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set", choices=list(SETS))
    parser.add_argument("train", type=int, nargs="?", default=50)
    parser.add_argument("test", type=int, nargs="?", default=60)
    parser.add_argument("--try", dest="settings", nargs="+", default=["base"])
    args = parser.parse_args()
    images, annotations, _ = SETS[args.set]
    pairs = annotated_images(
        DATASETS / images, None if annotations is None else DATASETS / annotations
    )
    order = np.random.default_rng(0).permutation(len(pairs))[: args.train + args.test]
    evidence, truth, _ = load_replay([pairs[i] for i in order], EvidenceMaker(load_backbone()))
    items = []
    for e, t in zip(evidence, truth, strict=True):
        width, height = e.size
        boxes = np.asarray(t.boxes, float).reshape(-1, 4) / [width, height, width, height]
        items.append(LabelledImage(e, boxes, tuple(t.labels)))
    shipped = {name: getattr(dense, name) for name in SETTINGS}
    for setting in args.settings:
        apply(setting, shipped)
        print(
            f"{args.set} {setting}: {measure(items[: args.train], items[args.train :])}", flush=True
        )


if __name__ == "__main__":
    main()
