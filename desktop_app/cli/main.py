"""The ``python main.py SUBCOMMAND`` command line: headless runs of the engine."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from desktop_app.logs import (
    log,
    log_to_file,
    log_to_project,
    shared_log_file,
    start_console,
    unexpected,
)

# The engine (torch), the store (SQLAlchemy) and the commands are imported by the
# subcommands only: ``python main.py FOLDER`` shows its window before any of them loads.

PROG = "python main.py"
PROJECT_HELP = "project database or folder; with --db, your folder of the project's images"


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    from core.engine import defaults
    from core.engine.backbones import BACKBONES, DEFAULT_BACKBONE

    group = parser.add_argument_group("model")
    group.add_argument(
        "--backbone",
        default=DEFAULT_BACKBONE,
        choices=list(BACKBONES),
        help=f"pretrained classifier (default {DEFAULT_BACKBONE}, whose weights ship with "
        "SaliBox; torchvision networks need their weights file in the torch hub cache)",
    )
    group.add_argument("--weights", type=Path, help="weights file to load instead")
    group.add_argument("--device", default=defaults.DEVICE, help="auto (default), cpu, cuda, mps")
    group.add_argument(
        "--batch-size",
        type=int,
        default=defaults.BATCH_SIZE,
        help=f"images per batch ({defaults.BATCH_SIZE})",
    )
    group.add_argument("--input-size", type=int, help="side of the square network input in pixels")


def _add_gradcam_layer(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gradcam-layer",
        metavar="NAME",
        help="module of the backbone's features that gradcam explains (default: the last "
        "conv output), e.g. net._blocks.10 for efficientnet_lite0",
    )


def _add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help="the project's shared database: postgresql+psycopg://user@host/database (keep "
        "the password in ~/.pgpass, not in the URL)",
    )


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("engine (with --project)")
    group.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local: in this process (default); ray: a Ray Data pipeline on a Ray "
        "cluster (pip install 'salibox[cluster]')",
    )
    group.add_argument(
        "--address",
        help="the Ray cluster to join (auto, HOST:6379 or ray://HOST:10001); default: "
        "start a local Ray with this machine's cores",
    )
    group.add_argument(
        "--workers",
        type=int,
        help="Ray workers, each loading the backbone once (default: one per GPU of the "
        "cluster, else one per core)",
    )


def build_parser() -> argparse.ArgumentParser:
    from core.engine.proposals import RECIPES
    from core.formats.writers import FORMATS, VOC_LAYOUTS
    from core.scoring.image_score_runner import ORDERS
    from desktop_app.cli.simulate import add_simulate_parser
    from desktop_app.cli.train import add_train_parser

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="SaliBox proposes bounding boxes from what a pretrained classifier "
        "looks at. Without a subcommand (or with a folder or project file) it starts the "
        "desktop app; each subcommand runs headless: see COMMAND --help.",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="log everything to stderr (anywhere on the line); the project's "
        ".salibox/salibox.log always gets everything",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    methods = ", ".join(RECIPES)

    propose = sub.add_parser(
        "propose",
        help="propose boxes for images",
        description="Print box proposals (best first) for each image.",
    )
    propose.add_argument("paths", nargs="*", type=Path, help="image files or folders")
    propose.add_argument(
        "--project",
        type=Path,
        help="instead of paths: propose for the project's images (database or folder; with "
        "--db, your folder of its images) and store the proposals; a run started again "
        "proposes only the images still without proposals of the active model version",
    )
    _add_db_option(propose)
    propose.add_argument("--method", default="default", help=f"one of: {methods}")
    propose.add_argument("--json", action="store_true", help="print one JSON document")
    _add_model_options(propose)
    _add_gradcam_layer(propose)
    _add_engine_options(propose)

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
    _add_gradcam_layer(evaluate)
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
        "(default: IMAGES/.salibox/project.db); with --db, your folder of the project's "
        "images (default: IMAGES)",
    )
    _add_db_option(imp)

    score = sub.add_parser(
        "score",
        help="rank a project's images for review by image score",
        description="Score every image of the project by how typical its chain of strong "
        "activations is of its class (image score), store the scores and softmax "
        "confidences, and print the review queue in the chosen order.",
    )
    score.add_argument("--project", type=Path, required=True, help=PROJECT_HELP)
    _add_db_option(score)
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
    _add_engine_options(score)

    exp = sub.add_parser(
        "export",
        help="write a project's reviewed boxes as Pascal VOC, YOLO or COCO",
        description="VOC: VOCdevkit layout (Annotations/, ImageSets/Main/, JPEGImages/ "
        "with --copy-images or --link-images), or with --voc-layout beside one XML beside "
        "each image as LabelImg writes it. YOLO: labels/ and classes.txt. COCO: "
        "annotations.json. Only reviewed (done) images are exported, those without boxes "
        "as images with no objects; unreadable images never.",
    )
    exp.add_argument("--project", type=Path, required=True, help=PROJECT_HELP)
    _add_db_option(exp)
    exp.add_argument("--format", choices=FORMATS, required=True)
    exp.add_argument("--out", type=Path, help="output folder (not for --voc-layout beside)")
    exp.add_argument(
        "--voc-layout",
        choices=VOC_LAYOUTS,
        default="devkit",
        help="devkit: a VOCdevkit folder in --out (default); beside: <stem>.xml next to each image",
    )
    exp.add_argument(
        "--include-unreviewed",
        action="store_true",
        help="also export images not yet reviewed that have accepted boxes (those boxes "
        "only); an image is never exported as empty unless it was reviewed",
    )
    mode = exp.add_mutually_exclusive_group()
    mode.add_argument("--copy-images", action="store_true", help="copy the images too")
    mode.add_argument("--link-images", action="store_true", help="symlink the images")
    exp.add_argument("--val-fraction", type=float, default=0.2, help="VOC val split (0.2)")
    exp.add_argument("--seed", type=int, default=0, help="VOC split seed (0)")
    add_simulate_parser(sub)
    add_train_parser(sub, _add_model_options)
    return parser


def build_app_parser() -> argparse.ArgumentParser:
    """The arguments of the desktop app:
    ``python main.py [FOLDER] [--db URL] [--classes FILE]``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Start the SaliBox desktop app (subcommands: see --help)."
    )
    parser.add_argument(
        "target",
        nargs="?",
        help="a folder of images or a project file; with --db, your folder of the "
        "project's images (your mount of the shared folder)",
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="the project's database, shared with other annotators: "
        "postgresql+psycopg://user@host/database (the database must exist; it gets "
        "SaliBox's tables and FOLDER's images when first opened; keep the password in "
        "~/.pgpass, not in the URL)",
    )
    parser.add_argument(
        "--classes",
        type=Path,
        metavar="FILE",
        help="a classes file, one name a line (LabelImg's predefined_classes.txt, labelme's "
        "--labels), whose classes the project gets",
    )
    return parser


COMMANDS = ("propose", "evaluate", "import", "score", "export", "simulate", "train")


def main(argv: Sequence[str] | None = None) -> int:
    """Start the desktop app (no arguments, or a folder or project file), or run a
    subcommand; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv
    argv = [a for a in argv if a != "--verbose"]
    start_console(verbose)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        app_args = build_app_parser().parse_args(argv)
        if app_args.classes is not None and not app_args.classes.is_file():
            print(f"salibox: {app_args.classes}: no such classes file", file=sys.stderr)
            return 2
        from desktop_app.launch import run  # Qt is loaded only for the app

        if app_args.db is not None and app_args.target and not Path(app_args.target).is_dir():
            print(
                f"salibox: {app_args.target}: with --db, give a folder of images", file=sys.stderr
            )
            return 2
        # the worker keeps freed memory
        return run(app_args.target, app_args.classes, app_args.db)
    from core.engine.device import keep_freed_memory
    from desktop_app.cli.engine_commands import run_evaluate, run_propose
    from desktop_app.cli.project_commands import run_export, run_import, run_score
    from desktop_app.cli.simulate import run_simulate
    from desktop_app.cli.train import run_train

    keep_freed_memory()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    _log_to_the_project(args)
    log.info("%s %s", PROG, " ".join(argv))
    try:
        if args.command == "propose" and args.db is not None and args.project is None:
            from desktop_app.cli.errors import CliError

            raise CliError("--db needs --project, your folder of the project's images")
        commands = {
            "propose": run_propose,
            "evaluate": run_evaluate,
            "import": run_import,
            "score": run_score,
            "export": run_export,
            "simulate": run_simulate,
            "train": run_train,
        }
        return commands[args.command](args)
    except user_errors() as exc:
        log.debug("%s failed on the user's input", args.command, exc_info=True)
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"salibox: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("salibox: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        print(f"salibox: {unexpected(exc, args.command)}", file=sys.stderr)
        return 1


def user_errors() -> tuple[type[BaseException], ...]:
    """What a user's input can cause: one line on stderr and exit status 2. Anything else
    is a bug: one line that names the log file, where the traceback goes (exit status 1)."""
    from core.engine.backbones import WeightsNotFoundError
    from core.engine.errors import InputError
    from core.engine.images import ImageLoadError
    from core.formats.coco import CocoError
    from core.formats.voc import AnnotationError
    from core.store.project import StoreError

    return (
        InputError,  # CliError, UnknownNameError and the engine's checks of options
        WeightsNotFoundError,
        ImageLoadError,
        AnnotationError,
        CocoError,
        StoreError,  # InvalidBoxError and InvalidClassNameError too
        FileNotFoundError,
        PermissionError,
        IsADirectoryError,
        NotADirectoryError,
        FileExistsError,
    )


def _log_to_the_project(args: argparse.Namespace) -> None:
    """Log to the project's file when the command names an existing project."""
    target = getattr(args, "project", None) or getattr(args, "images", None)
    if target is None:
        return
    if getattr(args, "db", None) is not None:  # a shared database: FOLDER/.salibox
        if Path(target).is_dir():
            log_to_file(shared_log_file(Path(target).expanduser().resolve() / ".salibox"))
        return
    from core.store.project import Project

    db = Project.default_db_path(target) if Path(target).is_dir() else Path(target)
    if db.is_file():
        log_to_project(db)
