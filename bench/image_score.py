"""Does image-score order put good proposals first? Against softmax order, on real sets.

Usage: ``python -m bench.image_score [--json]``. For each set of ../shared/datasets: the
default proposals' top-box IoU per image; then, for each ordering, CorLoc of the first and
last quartile and the Spearman correlation between the ordering key and the IoU. Score
variants: references grouped by predicted class or one global reference, threshold from
the mean (default) or the paper's literal sum, every block or stage outputs only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from bench.common import SETS
from core.engine.backbones import load_backbone
from core.engine.images import load_rgb
from core.engine.proposals import make_proposer
from core.evaluation.measures import match_image
from core.formats.voc import read_voc
from core.formats.voc_dataset import annotated_images
from core.scoring.image_score import ActivationReader
from core.scoring.image_score_runner import image_batches, score_files

#: Last block of each EfficientNet-Lite0 stage.
STAGE_OUTPUTS = [f"net._blocks.{i}" for i in (0, 2, 4, 7, 10, 14, 15)]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (ties broken by order; NaNs dropped)."""
    keep = ~(np.isnan(a) | np.isnan(b))
    ra = np.argsort(np.argsort(a[keep])).astype(float)
    rb = np.argsort(np.argsort(b[keep])).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def quartiles(key: np.ndarray, iou: np.ndarray) -> tuple[float, float]:
    """CorLoc of the quarter of images with the highest and with the lowest ``key``."""
    order = np.argsort(-key, kind="stable")
    q = max(1, len(order) // 4)
    return float((iou[order[:q]] > 0.5).mean()), float((iou[order[-q:]] > 0.5).mean())


def top_ious(proposer, pairs) -> np.ndarray:
    ious = []
    for start in range(0, len(pairs), 16):
        batch = pairs[start : start + 16]
        images = [load_rgb(p).rgb for p, _ in batch]
        for result, (_, xml) in zip(proposer.propose(images), batch, strict=True):
            truth = np.array([o.box for o in read_voc(xml).objects]).reshape(-1, 4)
            boxes = np.array([p.box for p in result.proposals]).reshape(-1, 4)
            ious.append(match_image(boxes, truth).top_iou)
    return np.array(ious)


def forward_seconds(reader: ActivationReader, paths) -> float:
    """Seconds for one pass over ``paths``: decode, resize, forward with the score hooks."""
    start = time.perf_counter()
    for _, x in image_batches(reader, paths, 16, None):
        reader(x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    backbone = load_backbone()
    proposer = make_proposer(backbone, "default")
    everything = {}
    named = {"raccoon": [], "fruit": []}
    for name, images, xml_dir in SETS:
        if images.is_dir():
            named["raccoon" if name == "raccoon" else "fruit"] += annotated_images(images, xml_dir)
    for name, pairs in named.items():
        if not pairs:
            continue
        paths = [p for p, _ in pairs]
        iou = top_ious(proposer, pairs)
        rows = {}
        variants = {
            "score (by predicted class, >=10)": dict(),
            "score (by predicted class, all)": dict(min_group=1),
            "score (one global reference)": dict(min_group=len(pairs) + 1),
            "score (stage outputs only)": dict(layers=STAGE_OUTPUTS),
            "score (paper's literal threshold)": dict(literal=True),
        }
        confidence = None
        timing = {}
        for label, options in variants.items():
            reader = ActivationReader(backbone, options.pop("layers", None))
            start = time.perf_counter()
            result = score_files(reader, paths, **options)
            timing.setdefault("score_seconds", time.perf_counter() - start)
            timing.setdefault("one_pass_seconds", forward_seconds(reader, paths))
            confidence = result.confidence
            top, bottom = quartiles(result.scores, iou)
            rows[label] = {
                "corloc_top_quartile": top,
                "corloc_bottom_quartile": bottom,
                "spearman_with_iou": spearman(result.scores, iou),
                "images_with_an_empty_layer": float((result.empty_layers > 0).mean()),
            }
            print(f"{name} {label}: done", file=sys.stderr)
        top, bottom = quartiles(confidence, iou)
        rows["softmax confidence"] = {
            "corloc_top_quartile": top,
            "corloc_bottom_quartile": bottom,
            "spearman_with_iou": spearman(confidence, iou),
        }
        everything[name] = {
            "images": len(pairs),
            "corloc": float((iou > 0.5).mean()),
            **{k: round(v, 2) for k, v in timing.items()},
            **rows,
        }
    if args.json:
        print(json.dumps(everything, indent=2))
        return
    for name, rows in everything.items():
        print(
            f"\n{name}: {rows['images']} images, default CorLoc {rows['corloc']:.3f}; "
            f"scoring {rows['score_seconds']:.1f} s, "
            f"one forward pass {rows['one_pass_seconds']:.1f} s"
        )
        print(f"{'ordering':<36}{'top 25%':>9}{'bottom 25%':>12}{'Spearman':>10}{'empty':>7}")
        for label, f in rows.items():
            if isinstance(f, dict):
                empty = f.get("images_with_an_empty_layer")
                print(
                    f"{label:<36}{f['corloc_top_quartile']:>9.3f}"
                    f"{f['corloc_bottom_quartile']:>12.3f}{f['spearman_with_iou']:>10.3f}"
                    + (f"{empty:>7.2f}" if empty is not None else "")
                )


if __name__ == "__main__":
    main()
