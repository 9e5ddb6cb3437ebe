"""``python main.py train``: one training run on a project, headless, with the same service
as the app (:func:`core.services.training.train_version`)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from desktop_app.cli.errors import CliError


def add_train_parser(
    sub: argparse._SubParsersAction, add_model_options: Callable[[argparse.ArgumentParser], None]
) -> argparse.ArgumentParser:
    train = sub.add_parser(
        "train",
        help="train a model version on a project's accepted boxes",
        description="Learn the project's classes from its accepted boxes (a class head and, "
        "per class, the localizer that cross-validates best), save the model version and "
        "make it active, as the app's Tools > Train now does. Ctrl+C stops between steps "
        "and leaves the active version as it was.",
    )
    train.add_argument(
        "--project",
        type=Path,
        required=True,
        help="project database or folder; with --db, your folder of the project's images",
    )
    train.add_argument(
        "--db",
        metavar="URL",
        help="the project's shared database (postgresql+psycopg://user@host/database); "
        "the model file goes to PROJECT/.salibox/models",
    )
    train.add_argument(
        "--include-unverified",
        action="store_true",
        help="also learn from accepted boxes no person checked (pseudo-labels)",
    )
    train.add_argument(
        "--align-saliency",
        action="store_true",
        help="also fine-tune the network's last block with the saliency-alignment loss",
    )
    add_model_options(train)
    return train


def run_train(args: argparse.Namespace) -> int:
    from core.engine.backbones import load_backbone
    from core.engine.device import pick_device
    from core.services.training import TrainingOptions, train_version
    from core.store.project import Project

    if args.db is not None:
        if not args.project.is_dir():
            raise CliError(f"{args.project}: with --db, give the folder of the images")
        opened = Project.open(args.db, args.project)
        db: str | Path = opened.where.name
    else:
        db = Project.default_db_path(args.project) if args.project.is_dir() else args.project
        if not db.is_file():
            raise CliError(f"{db}: no such project database")
        opened = Project.open(db)
    with opened as project:
        if project.learning_records.count_labelled_boxes(args.include_unverified) == 0:
            raise CliError(f"{db}: no accepted boxes to learn from")
        backbone = load_backbone(args.backbone, args.weights, pick_device(args.device))
        if args.input_size:
            backbone.input_size = args.input_size
        stop = threading.Event()
        previous = signal.signal(signal.SIGINT, lambda _signum, _frame: stop.set())
        bar = tqdm(desc="train", unit="step", disable=None, file=sys.stderr)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        def report(image_id: int, reason: str) -> None:
            print(f"salibox: image {image_id}: {reason}", file=sys.stderr)

        options = TrainingOptions(args.include_unverified, None, args.align_saliency)
        try:
            version = train_version(project, backbone, options, progress, stop.is_set, report)
        finally:
            signal.signal(signal.SIGINT, previous)
            bar.close()
        if version is None:
            print(
                "salibox: training stopped; the active model version is unchanged", file=sys.stderr
            )
            return 130
        row = project.learning_records.active_model_version()
        assert row is not None  # train_version made it active
        chosen = row.metrics.get("classes", {})
        choices = ", ".join(f"{name}: {figures.get('choice')}" for name, figures in chosen.items())
        print(
            f"{db}: model version {version} trained on {row.metrics.get('images')} images "
            f"and made active ({choices})"
        )
    return 0
