"""CorLoc, mean IoU, recall, recall at #objects and AP50 of every proposal method on every
set in ../shared/datasets.

Usage: ``python -m bench.localization [--methods default cam ...] [--json]``. The
``whole-image`` row is the trivial baseline that proposes the full image.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from bench.common import SETS
from core.engine.backbones import DEFAULT_BACKBONE, load_backbone
from core.engine.device import pick_device
from core.engine.images import load_rgb
from core.engine.proposals import RECIPES, make_proposer
from core.evaluation.measures import detection_measures, match_image, summarize
from core.evaluation.runner import evaluate_proposer
from core.formats.voc import read_voc
from core.formats.voc_dataset import annotated_images

DEFAULT_METHODS = ["default", "cam", "gradcam", "sensitivity", "attention", "cam-grabcut"]


def whole_image(pairs) -> dict:
    """Figures of the baseline that proposes the whole image."""
    outcomes, detections, truths = [], [], []
    for image_path, xml_path in pairs:
        image = load_rgb(image_path)
        truth = np.array([o.box for o in read_voc(xml_path).objects]).reshape(-1, 4)
        whole = np.array([[0, 0, image.width, image.height]], np.float64)
        outcomes.append(match_image(whole, truth))
        detections.append((whole, np.ones(1)))
        truths.append(truth)
    return summarize(outcomes, 0, detection_measures(detections, truths)).as_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(RECIPES))
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    present = [(n, i, a) for n, i, a in SETS if i.is_dir()]
    if not present:
        sys.exit("bench/localization.py: ../shared/datasets not found beside the checkout")
    backbone = load_backbone(args.backbone, device=pick_device(args.device))
    table: dict[str, dict[str, dict]] = {}
    for name, images, xml_dir in present:
        pairs = annotated_images(images, xml_dir)
        table[name] = {"whole-image": whole_image(pairs)}
        for method in args.methods:
            summary = evaluate_proposer(make_proposer(backbone, method), pairs)
            table[name][method] = summary.as_dict()
            print(f"{name} {method}: CorLoc {summary.corloc:.3f}", file=sys.stderr)
    if args.json:
        print(json.dumps(table, indent=2))
        return
    print(f"{args.backbone}, 224 px, CorLoc / mean IoU / recall / R@#objects / AP50 / img/s")
    header = f"{'method':<22}" + "".join(f"{n:>40}" for n in table)
    print(header)
    for method in ["whole-image", *args.methods]:
        cells = []
        for figures in table.values():
            f = figures[method]
            d = f["detection"]
            cells.append(
                f"{f['corloc']:.3f} {f['mean_iou']:.3f} {f['recall']:.3f} "
                f"{d['recall_at_objects']:.3f} {d['ap50']:.3f} {f['images_per_second']:>5.1f}"
            )
        print(f"{method:<22}" + "".join(f"{c:>40}" for c in cells))


if __name__ == "__main__":
    main()
