"""Project subcommands: ``import``, ``score``, ``export`` and ``propose --project``.

Each opens the project named by ``--project`` (a database file, or a folder holding
``.salibox/project.db``) or, with ``--db URL``, the shared database at URL with
``--project`` as this user's folder of its images (as ``train --db`` and the app's
``--db``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from core.engine.backbones import load_backbone
from core.engine.device import pick_device
from core.engine.proposals import make_proposer
from core.formats.records import ImageMode
from core.scoring.review_queue import (
    add_pseudo_labels,
    empty_layer_share,
    order_rows,
    score_project,
)
from core.services.exporter import export_project
from core.services.importer import import_coco_file, import_folder
from core.services.project_proposals import ProposalSpec
from core.store.project import Project
from desktop_app.cli.errors import CliError

if TYPE_CHECKING:
    from core.services.cluster import Cluster


def _project_path(path: Path) -> Path:
    """A database file as given, or ``FOLDER/.salibox/project.db`` for a folder."""
    return Project.default_db_path(path) if path.is_dir() else path


def _open_shared(url: str, folder: Path) -> tuple[Project, str]:
    """The project in the database at ``url`` with ``folder`` as this user's mount of its
    images; and its name for messages (the URL without its password)."""
    if not folder.is_dir():
        raise CliError(f"{folder}: with --db, give the folder of the images")
    project = Project.open(url, folder)
    return project, project.where.name


def open_project(args: argparse.Namespace) -> tuple[Project, str]:
    """The existing project a command names (``--project``, with ``--db``); and its name
    for messages (the file as given, or the URL without its password)."""
    if args.db is not None:
        return _open_shared(args.db, args.project)
    db = _project_path(args.project)
    if not db.is_file():
        raise CliError(f"{db}: no such project database")
    return Project.open(db), str(db)


def run_import(args: argparse.Namespace) -> int:
    if not args.images.is_dir():
        raise CliError(f"{args.images}: not a folder")
    if args.annotations is not None and not args.annotations.is_dir():
        raise CliError(f"{args.annotations}: not a folder")
    if args.db is not None:  # the shared database, created there when first opened
        project, db = _open_shared(args.db, args.project or args.images)
    else:
        path = _project_path(args.project or args.images)
        project = Project.open(path, root=None if path.exists() else args.images.resolve())
        db = str(path)
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


def _spec(args: argparse.Namespace, method: str = "default") -> ProposalSpec:
    return ProposalSpec(
        backbone=args.backbone,
        weights=str(args.weights) if args.weights else None,
        device=args.device,
        method=method,
        input_size=args.input_size,
    )


def _cluster(args: argparse.Namespace) -> Cluster:
    """Join or start Ray for ``--engine ray``."""
    from core.services.cluster import ClusterError, connect

    if args.workers is not None and args.workers < 1:
        raise CliError("--workers must be at least 1")
    try:
        return connect(args.address, args.workers)
    except ClusterError as exc:
        raise CliError(str(exc)) from exc


def run_propose_project(args: argparse.Namespace) -> int:
    """``propose --project P [--engine ray]``: store proposals for the pending images."""
    from core.engine.proposals import RECIPES
    from core.services.project_proposals import propose_project, spec_for_project

    if args.method not in RECIPES:
        raise CliError(f"unknown method {args.method!r}; choose one of {', '.join(RECIPES)}")
    if args.batch_size < 1:
        raise CliError("--batch-size must be at least 1")
    if args.engine == "local" and (args.address or args.workers):
        raise CliError("--address and --workers are for --engine ray")
    base = _spec(args, args.method)
    opened, db = open_project(args)
    with opened as project:
        spec = spec_for_project(project, **base.__dict__)
        started = time.perf_counter()
        with tqdm(desc="propose", unit="img", disable=None, file=sys.stderr) as bar:

            def done(count: int) -> None:
                bar.update(count)

            if args.engine == "ray":
                from core.services.cluster_proposals import propose_on_ray

                report = propose_on_ray(project, spec, _cluster(args), args.batch_size, done)
            else:
                report = propose_project(project, spec, args.batch_size, done)
        seconds = time.perf_counter() - started
    for line in report.problems:
        print(f"salibox: skipped {line}", file=sys.stderr)
    version = spec.model_version_id
    figures = {
        "pending": report.pending,
        "proposed": report.proposed,
        "boxes": report.boxes,
        "unreadable": len(report.problems),
        "held": report.held,
        "model_version": version,
        "engine": args.engine,
        "seconds": round(seconds, 2),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        model = f"model version {version}" if version is not None else "zero-shot"
        print(
            f"{db}: {report.proposed} of {report.pending} pending images proposed "
            f"({report.boxes} boxes, {model}, {args.engine}); "
            f"{len(report.problems)} unreadable"
            + (
                f"; {report.held} held by annotators reviewing them (next run)"
                if report.held
                else ""
            )
        )
    return 1 if report.problems else 0


def run_score(args: argparse.Namespace) -> int:
    if args.pseudo_labels is not None and not 0 < args.pseudo_labels <= 1:
        raise CliError("--pseudo-labels takes a fraction in (0, 1]")
    if args.engine == "local" and (args.address or args.workers):
        raise CliError("--address and --workers are for --engine ray")
    opened, _db = open_project(args)
    with opened as project:
        backbone = load_backbone(args.backbone, args.weights, pick_device(args.device))
        if args.input_size:
            backbone.input_size = args.input_size
        if args.engine == "ray":
            from core.services.cluster_scores import score_on_ray

            scores = score_on_ray(project, _spec(args), _cluster(args), args.batch_size)
        else:
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
    beside = args.format == "voc" and args.voc_layout == "beside"
    if beside and args.out is not None:
        raise CliError("--voc-layout beside writes next to the images; leave out --out")
    if not beside and args.out is None:
        raise CliError(f"a {args.format} export needs --out")
    images: ImageMode = "copy" if args.copy_images else "link" if args.link_images else "none"
    opened, _db = open_project(args)
    with opened as project:
        summary = export_project(
            project,
            args.format,
            args.out,
            images,
            args.val_fraction,
            args.seed,
            voc_layout=args.voc_layout,
            include_unreviewed=args.include_unreviewed,
        )
        where = f"beside the images in {project.root}" if beside else f"in {args.out}"
    for line in summary.problems:
        print(f"salibox: skipped {line}", file=sys.stderr)
    for line in summary.warnings:
        print(f"salibox: {line}", file=sys.stderr)
    boxes = ", ".join(f"{name} {n}" for name, n in summary.boxes.items())
    split = f"; {summary.split[0]} train / {summary.split[1]} val" if summary.split else ""
    skipped = "; skipped " + ", ".join(summary.skipped_lines()) if summary.skipped else ""
    print(
        f"{args.format} export {where}: {summary.images} images, "
        f"{sum(summary.boxes.values())} boxes ({boxes or 'none'}){split}{skipped}"
    )
    return 0
