"""The learned localizers after N reviewed images: train on N labelled images of a set
(a random draw, seed 0), measure on the next M.

    python -m bench.dense SET [N] [M]     # SET: raccoon, fruit, aquarium, bccd

Prints the first training's time and a second's (every later training of a session, once
the zero-shot boxes are cached), each class's choice with its cross-validated recall,
then on the held-back images the recall at IoU 0.5 with as many proposals of a class as
the image has objects of it, the proposals per image against the objects per image, and
the time to propose.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.common import DATASETS
from core.engine.backbones import load_backbone
from core.evaluation.simulation_data import load_replay
from core.formats.voc_dataset import annotated_images
from core.learning.class_head import LabelledImage
from core.learning.evidence import EvidenceMaker
from core.learning.trainer import matched, train_model

SETS = {
    "raccoon": ("raccoon/images", "raccoon/annotations"),
    "fruit": ("fruit/train", None),
    "aquarium": ("aquarium/images", "aquarium/annotations"),
    "bccd": ("bccd/images", "bccd/annotations"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set", choices=list(SETS))
    parser.add_argument("train", type=int, nargs="?", default=50)
    parser.add_argument("test", type=int, nargs="?", default=60)
    args = parser.parse_args()
    images, annotations = SETS[args.set]
    pairs = annotated_images(
        DATASETS / images, None if annotations is None else DATASETS / annotations
    )
    order = np.random.default_rng(0).permutation(len(pairs))[: args.train + args.test]
    backbone = load_backbone()
    start = time.perf_counter()
    evidence, truth, _ = load_replay([pairs[i] for i in order], EvidenceMaker(backbone))
    print(f"evidence: {len(evidence)} images in {time.perf_counter() - start:.1f} s")
    items = []
    for e, t in zip(evidence, truth, strict=True):
        width, height = e.size
        boxes = np.asarray(t.boxes, float).reshape(-1, 4) / [width, height, width, height]
        items.append(LabelledImage(e, boxes, tuple(t.labels)))
    start = time.perf_counter()
    model = train_model(items[: args.train], backbone.name)
    boxes = sum(len(item.labels) for item in items[: args.train])
    print(f"training on {args.train} images, {boxes} boxes: {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    model = train_model(items[: args.train], backbone.name)
    print(
        f"training again, as every later training of a session (the zero-shot GrabCut boxes"
        f" are kept with the evidence): {time.perf_counter() - start:.1f} s"
    )
    for name, m in model.metrics["classes"].items():
        recall = {k: v for k, v in m["cv_recall"].items() if k in ("dense", "recipe:default")}
        print(
            f"  {name}: {m['choice']}, {m['objects_per_image']} objects/image, cv recall {recall}"
        )
    found = objects = proposed = 0
    start = time.perf_counter()
    held = items[args.train :]
    for item in held:
        out = model.propose(item.evidence, backbone.class_names)
        width, height = item.evidence.size
        for name in set(item.labels):
            boxes = item.boxes[[i for i, n in enumerate(item.labels) if n == name]]
            mine = [p.box for p in out.proposals if p.class_name == name]
            scaled = np.array(mine).reshape(-1, 4) / [width, height, width, height]
            found += matched(scaled[: len(boxes)], boxes)
            objects += len(boxes)
        proposed += len(out.proposals)
    per_image = (time.perf_counter() - start) / max(len(held), 1)
    print(
        f"{args.set}: recall with as many proposals as objects {found / max(objects, 1):.3f} "
        f"({found}/{objects}); {proposed / max(len(held), 1):.1f} proposals per image for "
        f"{objects / max(len(held), 1):.1f} objects; {per_image * 1000:.0f} ms per image"
    )


if __name__ == "__main__":
    main()
