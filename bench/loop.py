"""The learning loop on the shared data sets: simulated sessions and their figures.

    python -m bench.loop [--datasets ../shared/datasets] [--orders score softmax random]
        [--sets raccoon fruit] [--align-saliency]

raccoon: a whole session in each review order (accepted-as-is, edited and drawn rates,
CorLoc on the images not yet reviewed after 20 images and at the end, estimated time
against drawing every box). fruit: a session over the train split (score order), then
the final model's CorLoc per class on the test split. Prints one JSON object per run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from core.engine.backbones import load_backbone
from core.engine.boxes import iou_matrix
from core.evaluation.replay_project import ReplayProject
from core.evaluation.simulation import simulate
from core.evaluation.simulation_data import load_replay
from core.formats.voc_dataset import annotated_images
from core.learning.evidence import EvidenceMaker
from core.learning.model import LearnedModel
from core.scoring.image_score import ActivationReader
from core.scoring.image_score_runner import review_order, score_files


def order_of(kind: str, backbone, paths, evidence) -> np.ndarray:
    confidence = np.array([e.imagenet_confidence for e in evidence])
    if kind == "score":
        scores = score_files(ActivationReader(backbone), paths).scores
        return review_order(scores, confidence, "score-desc")
    return review_order(np.zeros(len(evidence)), confidence, kind, seed=0)


def replayed(backbone, evidence, truth, paths, order, align: bool, report_every: int):
    """One simulated session in a temporary project, trained by the app's service."""
    with (
        tempfile.TemporaryDirectory() as folder,
        ReplayProject(Path(folder), paths, evidence, backbone, align) as replay,
    ):
        return simulate(
            evidence, truth, order, backbone.class_names, replay, report_every=report_every
        )


def per_class_corloc(model, evidence, truth, names) -> dict[str, float]:
    """Per class: images holding it whose top proposal has IoU > 0.5 with one of its boxes."""
    hits: dict[str, list[bool]] = {}
    for ev, t in zip(evidence, truth, strict=True):
        proposals = model.propose(ev, names).proposals
        for name in set(t.labels):
            boxes = t.boxes[[i for i, n in enumerate(t.labels) if n == name]]
            ok = bool(proposals) and iou_matrix(np.array([proposals[0].box]), boxes).max() > 0.5
            hits.setdefault(name, []).append(bool(ok))
    return {name: round(float(np.mean(v)), 3) for name, v in sorted(hits.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--orders", nargs="+", default=["score", "softmax", "random"])
    parser.add_argument("--sets", nargs="+", default=["raccoon", "fruit"])
    parser.add_argument(
        "--align-saliency", action="store_true", help="saliency-aligned fine-tuning in training"
    )
    args = parser.parse_args()
    torch.set_num_threads(2)
    backbone = load_backbone()
    maker = EvidenceMaker(backbone, keep_tail_input=args.align_saliency)
    align = args.align_saliency
    if "raccoon" in args.sets:
        raccoon_runs(args, backbone, maker, align)
    if "fruit" in args.sets:
        fruit_run(args, backbone, maker, align)


def raccoon_runs(args, backbone, maker, align) -> None:
    start = time.perf_counter()
    raccoon = args.datasets / "raccoon" / "images"
    evidence, truth, paths = load_replay(annotated_images(raccoon), maker)
    print(f"raccoon evidence: {len(evidence)} images in {time.perf_counter() - start:.1f} s")
    for kind in args.orders:
        start = time.perf_counter()
        order = order_of(kind, backbone, paths, evidence)
        sim = replayed(backbone, evidence, truth, paths, order, align, report_every=20)
        at20 = next(s for s in sim.steps if s.reviewed == 20)
        out = sim.as_dict()
        print(
            json.dumps(
                {
                    "set": "raccoon",
                    "order": kind,
                    "align_saliency": align,
                    "corloc_rest_after_20": round(at20.corloc_remaining, 3),
                    "corloc_rest_by_step": {s.reviewed: s.corloc_remaining for s in sim.steps},
                    "final": out["final"],
                    "speed_up": round(out["speed_up"], 2),
                    "model": out["model"],
                    "trainings": out["trainings"],
                    "seconds": round(time.perf_counter() - start, 1),
                }
            )
        )


def fruit_run(args, backbone, maker, align) -> None:
    names = backbone.class_names
    fruit_train = annotated_images(args.datasets / "fruit" / "train")
    fruit_test = annotated_images(args.datasets / "fruit" / "test")
    ev_train, truth_train, paths_train = load_replay(fruit_train, maker)
    ev_test, truth_test, _ = load_replay(fruit_test, maker)
    start = time.perf_counter()
    order = order_of("score", backbone, paths_train, ev_train)
    sim = replayed(backbone, ev_train, truth_train, paths_train, order, align, report_every=40)
    zero_shot = LearnedModel(backbone.name, None)
    print(
        json.dumps(
            {
                "set": "fruit",
                "order": "score",
                "align_saliency": align,
                "test_corloc_per_class": per_class_corloc(sim.model, ev_test, truth_test, names),
                "test_corloc_per_class_zero_shot": per_class_corloc(
                    zero_shot, ev_test, truth_test, names
                ),
                "final": sim.as_dict()["final"],
                "speed_up": round(sim.as_dict()["speed_up"], 2),
                "model": sim.model.metrics,
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
