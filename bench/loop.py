"""The learning loop on the shared data sets: whole simulated sessions and their figures.

    python -m bench.loop [--sets raccoon fruit aquarium bccd] [--orders score]
        [--budget N] [--align-saliency] [--threads 2]

Each set's images are reviewed by the simulated annotator
(:func:`core.evaluation.simulation.simulate`) in each review order, trained by the app's
own service at the app's cadence. Prints one JSON object per session: the estimated time
saved against drawing every box, the shares of boxes accepted as is, edited and drawn,
rejected proposals per accepted one, CorLoc, AP50 and recall with as many proposals as
objects on the images not yet reviewed after 20 and 50 images, the trainings (count,
total seconds, the last one's boxes and seconds), the time per image to compute the
evidence (the network passes) and to propose from it with the final model, and each
class's chosen localizer.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import DATASETS
from core.engine.backbones import Backbone, load_backbone
from core.evaluation.replay_project import ReplayProject
from core.evaluation.simulation import Simulation, Step, simulate
from core.evaluation.simulation_data import load_replay
from core.formats.voc_dataset import annotated_images
from core.learning.evidence import Evidence, EvidenceMaker
from core.scoring.image_score import ActivationReader
from core.scoring.image_score_runner import review_order, score_files

#: Set → (images folder, annotations folder or None for XML beside each image, report
#: every K images: the measures on the images not yet reviewed cost a proposal pass).
SETS = {
    "raccoon": ("raccoon/images", "raccoon/annotations", 10),
    "fruit": ("fruit/train", None, 10),
    "aquarium": ("aquarium/images", "aquarium/annotations", 50),
    "bccd": ("bccd/images", "bccd/annotations", 50),
}


def order_of(kind: str, backbone: Backbone, paths, evidence: list[Evidence]) -> np.ndarray:
    confidence = np.array([e.imagenet_confidence for e in evidence])
    if kind == "score":
        scores = score_files(ActivationReader(backbone), paths).scores
        return review_order(scores, confidence, "score-desc")
    return review_order(np.zeros(len(evidence)), confidence, kind, seed=0)


def at(sim: Simulation, reviewed: int) -> Step | None:
    """The first step at or after ``reviewed`` images."""
    return next((s for s in sim.steps if s.reviewed >= reviewed), None)


def rest_figures(step: Step | None) -> dict | None:
    if step is None:
        return None
    return {
        "reviewed": step.reviewed,
        "corloc": _round(step.corloc_remaining),
        "ap50": _round(step.ap50_remaining),
        "recall_at_objects": _round(step.recall_at_objects_remaining),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def propose_ms(sim: Simulation, evidence: list[Evidence], names: list[str]) -> float:
    """Milliseconds per image for the final model to turn up to 50 images' evidence into
    proposals (the network pass is ``evidence_ms_per_image``)."""
    assert sim.model is not None
    sample = evidence[:50]
    start = time.perf_counter()
    for ev in sample:
        sim.model.propose(ev, names)
    return 1000 * (time.perf_counter() - start) / max(len(sample), 1)


def session(args, name: str, backbone: Backbone, maker: EvidenceMaker) -> None:
    images, annotations, report_every = SETS[name]
    pairs = annotated_images(
        args.datasets / images, None if annotations is None else args.datasets / annotations
    )
    start = time.perf_counter()
    evidence, truth, paths = load_replay(pairs, maker)
    evidence_seconds = time.perf_counter() - start
    for kind in args.orders:
        start = time.perf_counter()
        order = order_of(kind, backbone, paths, evidence)
        with (
            tempfile.TemporaryDirectory() as folder,
            ReplayProject(Path(folder), paths, evidence, backbone, args.align_saliency) as replay,
        ):
            sim = simulate(
                evidence,
                truth,
                order,
                backbone.class_names,
                replay,
                report_every=report_every,
                budget=args.budget,
            )
        out = sim.as_dict()
        final = out["final"]
        trainings = out["trainings"]
        print(
            json.dumps(
                {
                    "set": name,
                    "order": kind,
                    "images": final["reviewed"],
                    "boxes": final["boxes"],
                    "align_saliency": args.align_saliency,
                    "speed_up": round(out["speed_up"], 2),
                    "accepted_edited_drawn": [
                        round(final[k], 3) for k in ("accepted_rate", "edited_rate", "drawn_rate")
                    ],
                    "rejects_per_accepted": round(final["rejects_per_accepted"], 2),
                    "rest_after_20": rest_figures(at(sim, 20)),
                    "rest_after_50": rest_figures(at(sim, 50)),
                    "trainings": len(trainings),
                    "training_seconds_total": round(sum(t["seconds"] for t in trainings), 1),
                    "last_training": trainings[-1] if trainings else None,
                    "training_near_1000_boxes": min(
                        trainings, key=lambda t: abs(t["boxes"] - 1000), default=None
                    ),
                    "evidence_ms_per_image": round(1000 * evidence_seconds / len(evidence)),
                    "propose_ms_per_image": round(
                        propose_ms(sim, evidence, backbone.class_names), 1
                    ),
                    "chosen": {
                        c: m["choice"] for c, m in (out["model"] or {}).get("classes", {}).items()
                    },
                    "refiner": (out["model"] or {}).get("refiner"),
                    "seconds": round(time.perf_counter() - start, 1),
                }
            ),
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS))
    parser.add_argument("--orders", nargs="+", default=["score"], help="score, softmax, random")
    parser.add_argument("--budget", type=int, help="stop each session after N images")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (2)")
    parser.add_argument(
        "--align-saliency", action="store_true", help="saliency-aligned fine-tuning in training"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    backbone = load_backbone()
    maker = EvidenceMaker(backbone, keep_tail_input=args.align_saliency)
    for name in args.sets:
        session(args, name, backbone, maker)


if __name__ == "__main__":
    main()
