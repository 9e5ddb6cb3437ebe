"""``python main.py simulate``: replay a labelled folder as an annotator would."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.engine import defaults
from core.engine.backbones import load_backbone
from core.engine.device import pick_device
from core.evaluation.replay_project import ReplayProject
from core.evaluation.simulation import Costs, plot_png, simulate, write_csv
from core.evaluation.simulation_data import load_replay
from core.formats.voc_dataset import annotated_images
from core.learning.evidence import EvidenceMaker
from core.scoring.image_score import ActivationReader
from core.scoring.image_score_runner import review_order, score_files
from desktop_app.cli.errors import CliError

ORDERS = ("score", "softmax", "random")


def add_simulate_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    sim = sub.add_parser(
        "simulate",
        help="replay a labelled folder through the learning loop",
        description="Go through the images in review order as an annotator: accept a "
        "proposal with IoU >= 0.7, edit one with IoU >= 0.5, else draw the box; reject the "
        "rest. Accepted labels retrain the model as in the app. Prints the accepted-as-is, "
        "edited and drawn rates, rejects per accepted proposal, CorLoc, AP50 and recall "
        "at #objects of the current model on the images not yet reviewed, and the "
        "estimated annotator time against drawing every box.",
    )
    sim.add_argument("--images", type=Path, required=True, help="folder of images")
    sim.add_argument("--annotations", type=Path, help="folder of VOC XML files")
    sim.add_argument("--order", choices=ORDERS, default="score", help="review order (score)")
    sim.add_argument("--budget", type=int, help="stop after N reviewed images")
    sim.add_argument("--every", type=int, default=10, help="report every K images (10)")
    sim.add_argument(
        "--train-every",
        type=int,
        default=10,
        help="retrain after N new accepted boxes (10), or once they grew by 25%%",
    )
    sim.add_argument("--seed", type=int, default=0, help="seed of the random order (0)")
    sim.add_argument("--draw-cost", type=float, default=Costs.draw, help="s per drawn box")
    sim.add_argument("--edit-cost", type=float, default=Costs.edit, help="s per edit")
    sim.add_argument("--verify-cost", type=float, default=Costs.verify, help="s per accept/reject")
    sim.add_argument("--csv", type=Path, help="write the per-step figures here")
    sim.add_argument("--plot", type=Path, help="write the learning curve PNG here")
    sim.add_argument(
        "--align-saliency",
        action="store_true",
        help="also fine-tune the last block with the saliency-alignment loss in each training",
    )
    sim.add_argument("--json", action="store_true", help="print one JSON object")
    sim.add_argument("--device", default=defaults.DEVICE, help="auto (default), cpu, cuda, mps")
    return sim


def run_simulate(args: argparse.Namespace) -> int:
    if not args.images.is_dir():
        raise CliError(f"{args.images}: not a folder")
    if args.annotations is not None and not args.annotations.is_dir():
        raise CliError(f"{args.annotations}: not a folder")
    if args.budget is not None and args.budget < 1:
        raise CliError("--budget must be at least 1")
    pairs = annotated_images(args.images, args.annotations)
    if not pairs:
        raise CliError(f"{args.images}: no image with a VOC XML file")
    backbone = load_backbone(device=pick_device(args.device))
    problems: list[str] = []
    with tqdm(total=len(pairs), desc="maps", unit="img", disable=None, file=sys.stderr) as bar:
        evidence, truth, paths = load_replay(
            pairs,
            EvidenceMaker(backbone, keep_tail_input=args.align_saliency),
            progress=bar.update,
            problems=problems,
        )
    for line in problems:
        print(f"salibox: skipped {line}", file=sys.stderr)
    if not evidence:
        raise CliError("no readable image with objects")
    confidence = np.array([e.imagenet_confidence for e in evidence])
    if args.order == "score":
        scores = score_files(ActivationReader(backbone), paths).scores
        order = review_order(scores, confidence, "score-desc")
    else:
        order = review_order(np.zeros(len(evidence)), confidence, args.order, seed=args.seed)
    costs = Costs(args.draw_cost, args.edit_cost, args.verify_cost)
    total = len(order) if args.budget is None else min(args.budget, len(order))
    with (
        tempfile.TemporaryDirectory(prefix="salibox-simulate-") as folder,
        ReplayProject(Path(folder), paths, evidence, backbone, args.align_saliency) as replay,
        tqdm(total=total, desc="review", unit="img", disable=None, file=sys.stderr) as bar,
    ):
        sim = simulate(
            evidence,
            truth,
            order,
            backbone.class_names,
            replay,
            train_every=args.train_every,
            report_every=args.every,
            budget=args.budget,
            costs=costs,
            progress=lambda done, _total: bar.update(done - bar.n),
        )
    if args.csv:
        write_csv(sim, args.csv)
    if args.plot:
        plot_png(sim, args.plot, f"{args.images.name}, order {args.order}")
    if args.json:
        print(json.dumps(sim.as_dict(), indent=2))
        return 0
    print(
        "reviewed  accepted  edited  drawn  rejects/accept  CorLoc(rest)  AP50(rest)"
        "  R@#obj(rest)  trainings  time(min)  draw-all(min)"
    )
    for s in sim.steps:
        rest = [
            "-" if v is None else f"{v:.3f}"
            for v in (s.corloc_remaining, s.ap50_remaining, s.recall_at_objects_remaining)
        ]
        print(
            f"{s.reviewed:8d}  {s.accepted_rate:8.3f}  {s.edited_rate:6.3f}  {s.drawn_rate:5.3f}"
            f"  {s.rejects_per_accepted:14.2f}  {rest[0]:>12}  {rest[1]:>10}  {rest[2]:>12}"
            f"  {s.trainings:9d}  {s.seconds_assisted / 60:9.1f}"
            f"  {s.seconds_drawing_all / 60:13.1f}"
        )
    speed = sim.as_dict()["speed_up"]
    if speed:
        print(f"estimated annotator time {speed:.2f}x lower than drawing every box")
    return 0
