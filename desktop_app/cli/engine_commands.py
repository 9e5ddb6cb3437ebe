"""Engine subcommands: ``propose`` and ``evaluate``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from core.engine.backbones import load_backbone
from core.engine.device import pick_device
from core.engine.images import ImageLoadError, is_image_file, list_images, load_rgb
from core.engine.proposals import RECIPES, make_proposer
from core.evaluation.runner import evaluate_proposer
from core.formats.voc_dataset import annotated_images
from desktop_app.cli.errors import CliError


def proposer_from_args(args: argparse.Namespace, method: str):
    if method not in RECIPES:
        raise CliError(f"unknown method {method!r}; choose one of {', '.join(RECIPES)}")
    if args.batch_size < 1:
        raise CliError("--batch-size must be at least 1")
    backbone = load_backbone(args.backbone, args.weights, pick_device(args.device))
    overrides: dict = {"input_size": args.input_size} if args.input_size else {}
    if args.gradcam_layer is not None:
        if RECIPES[method].maps != "gradcam":
            raise CliError(f"--gradcam-layer needs the gradcam method, not {method}")
        overrides["map_options"] = {"layer": args.gradcam_layer}
    return make_proposer(backbone, method, **overrides)


def _expand_paths(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(list_images(path))
        elif path.is_file():
            files.append(path)
        else:
            raise CliError(f"{path}: no such file or folder")
    if not files:
        raise CliError("no images found in " + ", ".join(str(p) for p in paths))
    return files


def run_propose(args: argparse.Namespace) -> int:
    if args.project is not None:
        if args.paths:
            raise CliError("give image paths or --project, not both")
        from desktop_app.cli.project_commands import run_propose_project

        return run_propose_project(args)
    if not args.paths:
        raise CliError("give image files or folders, or --project")
    if args.engine != "local":
        raise CliError("--engine ray needs --project (its proposals are stored there)")
    files = _expand_paths(args.paths)
    proposer = proposer_from_args(args, args.method)
    skipped = 0
    report: list[dict] = []
    bar = tqdm(total=len(files), unit="img", disable=None, file=sys.stderr)
    for start in range(0, len(files), args.batch_size):
        loaded = []
        for path in files[start : start + args.batch_size]:
            if not is_image_file(path):
                print(f"salibox: skipped {path}: not an image file", file=sys.stderr)
                skipped += 1
                continue
            try:
                loaded.append(load_rgb(path))
            except ImageLoadError as exc:
                print(f"salibox: skipped {exc}", file=sys.stderr)
                skipped += 1
        results = proposer.propose([im.rgb for im in loaded])
        for image, result in zip(loaded, results, strict=True):
            report.append(
                {
                    "image": str(image.path),
                    "width": image.width,
                    "height": image.height,
                    "proposals": [
                        {
                            "box": [round(v, 2) for v in p.box],
                            "class": p.class_name,
                            "confidence": round(p.confidence, 4),
                            "method": p.method,
                            "map_mass": round(p.map_mass, 4),
                        }
                        for p in result.proposals
                    ],
                }
            )
        bar.update(min(args.batch_size, len(files) - start))
    bar.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for item in report:
            print(f"{item['image']} ({item['width']}x{item['height']})")
            for p in item["proposals"]:
                x1, y1, x2, y2 = p["box"]
                print(
                    f"  {p['class']:<24} {p['confidence']:.2f}  "
                    f"box {x1:.0f} {y1:.0f} {x2:.0f} {y2:.0f}  mass {p['map_mass']:.2f}"
                )
    return 1 if skipped else 0


def run_evaluate(args: argparse.Namespace) -> int:
    if not args.images.is_dir():
        raise CliError(f"{args.images}: not a folder")
    if args.annotations is not None and not args.annotations.is_dir():
        raise CliError(f"{args.annotations}: not a folder")
    pairs = annotated_images(args.images, args.annotations)
    if args.limit:
        pairs = pairs[: args.limit]
    if not pairs:
        raise CliError(f"no images with Pascal VOC XML found in {args.images}")
    requested = [m for m in args.method if m != "default"]
    if "all" in requested:
        requested = [m for m in RECIPES if m != "default"]
    methods = ["default", *dict.fromkeys(requested)]
    figures: dict[str, dict] = {}
    problems: list[str] = []
    for method in methods:
        proposer = proposer_from_args(args, method)
        with tqdm(total=len(pairs), desc=method, unit="img", disable=None, file=sys.stderr) as bar:
            summary = evaluate_proposer(
                proposer, pairs, args.batch_size, progress=bar.update, problems=problems
            )
        figures[method] = summary.as_dict()
    for line in dict.fromkeys(problems):
        print(f"salibox: skipped {line}", file=sys.stderr)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"{'method':<22}{'images':>7}{'CorLoc':>8}{'mean IoU':>10}{'recall':>8}"
            f"{'R@1':>7}{'R@#obj':>8}{'R@10':>7}{'AP50':>7}{'AP':>7}{'img/s':>8}"
        )
        for method, f in figures.items():
            d = f["detection"]
            print(
                f"{method:<22}{f['images']:>7}{f['corloc']:>8.3f}{f['mean_iou']:>10.3f}"
                f"{f['recall']:>8.3f}{d['recall_at_1']:>7.3f}{d['recall_at_objects']:>8.3f}"
                f"{d['recall_at_10']:>7.3f}{d['ap50']:>7.3f}{d['ap']:>7.3f}"
                f"{f['images_per_second']:>8.1f}"
            )
        print(
            "recall: any proposal, IoU > 0.5; R@k, AP50, AP: pycocotools, class-agnostic, "
            "at most k / #objects proposals per image"
        )
    return 0
