"""The ``python main.py SUBCOMMAND`` command line: headless runs of the engine."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.backbones import BACKBONES, DEFAULT_BACKBONE, WeightsNotFoundError, load_backbone
from core.datasets import annotated_images
from core.device import keep_freed_memory, pick_device
from core.evaluation_runner import evaluate_proposer
from core.exporter import FORMATS, export_project
from core.formats.voc import AnnotationError
from core.image_score_runner import ORDERS
from core.images import ImageLoadError, is_image_file, list_images, load_rgb
from core.importer import import_coco_file, import_folder
from core.proposals import RECIPES, make_proposer
from core.review_queue import add_pseudo_labels, empty_layer_share, order_rows, score_project
from core.store.project import Project, StoreError

PROG = "python main.py"


class CliError(Exception):
    """A problem with the user's input, reported as one line and exit status 2."""


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--backbone",
        default=DEFAULT_BACKBONE,
        choices=list(BACKBONES),
        help=f"pretrained classifier (default {DEFAULT_BACKBONE}, whose weights ship with "
        "SaliBox; torchvision networks need their weights file in the torch hub cache)",
    )
    group.add_argument("--weights", type=Path, help="weights file to load instead")
    group.add_argument("--device", default="auto", help="auto (default), cpu, cuda, mps")
    group.add_argument("--batch-size", type=int, default=16, help="images per batch (16)")
    group.add_argument("--input-size", type=int, help="side of the square network input in pixels")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="SaliBox proposes bounding boxes from what a pretrained classifier "
        "looks at. With no subcommand it starts the desktop app.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    methods = ", ".join(RECIPES)

    propose = sub.add_parser(
        "propose",
        help="propose boxes for images",
        description="Print box proposals (best first) for each image.",
    )
    propose.add_argument("paths", nargs="+", type=Path, help="image files or folders")
    propose.add_argument("--method", default="default", help=f"one of: {methods}")
    propose.add_argument("--json", action="store_true", help="print one JSON document")
    _add_model_options(propose)

    evaluate = sub.add_parser(
        "evaluate",
        help="measure proposals against Pascal VOC boxes",
        description="CorLoc (top proposal IoU > 0.5 with any ground-truth box), mean IoU of "
        "the top proposal, recall of all objects at IoU 0.5, and images/second, per method.",
    )
    evaluate.add_argument("--images", type=Path, required=True, help="folder of images")
    evaluate.add_argument(
        "--annotations",
        type=Path,
        help="folder of VOC XML files (default: beside each image, or a parallel "
        "annotations/ or Annotations/ folder)",
    )
    evaluate.add_argument(
        "--method",
        action="append",
        default=[],
        help=f"method to measure besides the default, repeatable, or 'all' ({methods})",
    )
    evaluate.add_argument("--limit", type=int, help="use only the first N images")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    _add_model_options(evaluate)
    imp = sub.add_parser(
        "import",
        help="add a folder of images (and their VOC boxes) to a project",
        description="Register every image below --images in the project (created if "
        "needed) and import Pascal VOC boxes found in --annotations, beside each image, or "
        "in a parallel annotations/ or Annotations/ folder. Importing again adds only what "
        "is new.",
    )
    imp.add_argument("--images", type=Path, required=True, help="folder of images")
    imp.add_argument("--annotations", type=Path, help="folder of VOC XML files")
    imp.add_argument(
        "--coco",
        type=Path,
        help="a COCO JSON file whose file_name entries are relative to --images",
    )
    imp.add_argument(
        "--project",
        type=Path,
        help="project database file, or a folder holding .salibox/project.db "
        "(default: IMAGES/.salibox/project.db)",
    )

    score = sub.add_parser(
        "score",
        help="rank a project's images for review by image score",
        description="Score every image of the project by how typical its chain of strong "
        "activations is of its class (image score), store the scores and softmax "
        "confidences, and print the review queue in the chosen order.",
    )
    score.add_argument("--project", type=Path, required=True, help="project database or folder")
    score.add_argument(
        "--order",
        choices=ORDERS,
        default="score-desc",
        help="score-desc: most typical first (fast accepts); score-asc: hardest first; "
        "softmax: most confident first (the paper's baseline); random",
    )
    score.add_argument("--limit", type=int, default=20, help="images to list (20)")
    score.add_argument(
        "--pseudo-labels",
        type=float,
        metavar="ALPHA",
        help="accept the top proposal of the best ALPHA fraction of each class's unlabelled "
        "images as unverified training boxes",
    )
    score.add_argument("--json", action="store_true", help="print one JSON object")
    _add_model_options(score)

    exp = sub.add_parser(
        "export",
        help="write a project's accepted boxes as Pascal VOC, YOLO or COCO",
        description="VOC: VOCdevkit layout (Annotations/, ImageSets/Main/, JPEGImages/ "
        "with --copy-images or --link-images). YOLO: labels/ and classes.txt. COCO: "
        "annotations.json. Every image is exported, also those without boxes.",
    )
    exp.add_argument("--project", type=Path, required=True, help="project database or folder")
    exp.add_argument("--format", choices=FORMATS, required=True)
    exp.add_argument("--out", type=Path, required=True, help="output folder")
    mode = exp.add_mutually_exclusive_group()
    mode.add_argument("--copy-images", action="store_true", help="copy the images too")
    mode.add_argument("--link-images", action="store_true", help="symlink the images")
    exp.add_argument("--val-fraction", type=float, default=0.2, help="VOC val split (0.2)")
    exp.add_argument("--seed", type=int, default=0, help="VOC split seed (0)")
    return parser


def _project_path(path: Path) -> Path:
    """A database file as given, or ``FOLDER/.salibox/project.db`` for a folder."""
    return Project.default_db_path(path) if path.is_dir() else path


def run_import(args: argparse.Namespace) -> int:
    if not args.images.is_dir():
        raise CliError(f"{args.images}: not a folder")
    if args.annotations is not None and not args.annotations.is_dir():
        raise CliError(f"{args.annotations}: not a folder")
    db = _project_path(args.project) if args.project else Project.default_db_path(args.images)
    root = None if db.exists() else args.images.resolve()
    project = Project.open(db, root=root)
    try:
        if args.coco is not None:
            report = import_coco_file(project, args.coco)
        else:
            with tqdm(desc="import", unit="img", disable=None, file=sys.stderr) as bar:
                report = import_folder(project, args.images, args.annotations, bar.update)
    finally:
        project.close()
    for line in report.problems:
        print(f"salibox: {line}", file=sys.stderr)
    print(
        f"{db}: {report.images_found} images found, {report.images_added} new; "
        f"{report.annotations_read} annotated, {report.boxes_added} boxes imported"
    )
    return 0


def run_score(args: argparse.Namespace) -> int:
    db = _project_path(args.project)
    if not db.is_file():
        raise CliError(f"{db}: no such project database")
    if args.pseudo_labels is not None and not 0 < args.pseudo_labels <= 1:
        raise CliError("--pseudo-labels takes a fraction in (0, 1]")
    backbone = load_backbone(args.backbone, args.weights, pick_device(args.device))
    with Project.open(db) as project:
        total = 2 * project.count_images()
        with tqdm(total=total, desc="score", unit="img", disable=None, file=sys.stderr) as bar:
            scores = score_project(project, backbone, args.batch_size, progress=bar.update)
        pseudo = 0
        if args.pseudo_labels is not None:
            proposer = make_proposer(backbone, "default")
            pseudo = add_pseudo_labels(project, proposer, scores, args.pseudo_labels)
    for line in scores.result.problems:
        print(f"salibox: skipped {line}", file=sys.stderr)
    result = scores.result
    queue = [
        {
            "path": scores.rows[i].path,
            "image_score": None if np.isnan(result.scores[i]) else round(result.scores[i], 4),
            "confidence": None
            if np.isnan(result.confidence[i])
            else round(result.confidence[i], 4),
            "reference": str(result.group[i]),
        }
        for i in order_rows(scores, args.order)
    ]
    figures = {
        "images": len(scores.rows),
        "scored": int(np.isfinite(result.scores).sum()),
        "labelled": sum(label is not None for label in scores.labels),
        "references": {str(k): r.count for k, r in result.references.items()},
        "share_with_an_empty_layer": round(empty_layer_share(scores), 4),
        "pseudo_labels_added": pseudo,
        "order": args.order,
        "queue": queue[: args.limit],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(
        f"{figures['scored']} of {figures['images']} images scored "
        f"({figures['labelled']} labelled, {len(figures['references'])} references, "
        f"{figures['share_with_an_empty_layer']:.1%} with an empty layer); "
        f"{pseudo} pseudo-labels added"
    )
    for item in figures["queue"]:
        score_text = "-" if item["image_score"] is None else f"{item['image_score']:.3f}"
        print(f"{score_text:>9}  {item['confidence'] or 0:.2f}  {item['path']}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    db = _project_path(args.project)
    if not db.is_file():
        raise CliError(f"{db}: no such project database")
    images = "copy" if args.copy_images else "link" if args.link_images else "none"
    problems: list[str] = []
    project = Project.open(db)
    try:
        report = export_project(
            project, args.format, args.out, images, args.val_fraction, args.seed, problems
        )
    finally:
        project.close()
    for line in problems:
        print(f"salibox: skipped {line}", file=sys.stderr)
    for line in report.warnings:
        print(f"salibox: {line}", file=sys.stderr)
    split = f", {report.train} train / {report.val} val" if args.format == "voc" else ""
    print(
        f"{args.format} export in {args.out}: {report.images} images, {report.objects} boxes, "
        f"{report.classes} classes{split}"
    )
    return 0


def _proposer(args: argparse.Namespace, method: str):
    if method not in RECIPES:
        raise CliError(f"unknown method {method!r}; choose one of {', '.join(RECIPES)}")
    if args.batch_size < 1:
        raise CliError("--batch-size must be at least 1")
    backbone = load_backbone(args.backbone, args.weights, pick_device(args.device))
    overrides = {"input_size": args.input_size} if args.input_size else {}
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
    files = _expand_paths(args.paths)
    proposer = _proposer(args, args.method)
    skipped = 0
    report = []
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
        proposer = _proposer(args, method)
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
        print(f"{'method':<22}{'images':>7}{'CorLoc':>8}{'mean IoU':>10}{'recall':>8}{'img/s':>8}")
        for method, f in figures.items():
            print(
                f"{method:<22}{f['images']:>7}{f['corloc']:>8.3f}{f['mean_iou']:>10.3f}"
                f"{f['recall']:>8.3f}{f['images_per_second']:>8.1f}"
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        print("\nThe desktop app is not built yet: use a subcommand.", file=sys.stderr)
        return 0
    keep_freed_memory()
    try:
        commands = {
            "propose": run_propose,
            "evaluate": run_evaluate,
            "import": run_import,
            "score": run_score,
            "export": run_export,
        }
        return commands[args.command](args)
    except (
        CliError,
        WeightsNotFoundError,
        ImageLoadError,
        AnnotationError,
        StoreError,
        ValueError,
        OSError,
    ) as exc:
        print(f"salibox: error: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"salibox: error: {exc.args[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("salibox: interrupted", file=sys.stderr)
        return 130
