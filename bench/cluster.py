"""Images per second of a project's proposals and image scores: in-process vs Ray.

Usage: ``python -m bench.cluster [--images 96] [--batch-size 16] [--backends sqlite,postgresql]
[--json]`` (needs ``salibox[cluster]``). Each run gets a fresh project over the same images
(photographs of ../shared/datasets when present, else generated ones) and stores its
results, as ``propose --project`` and ``score`` do. A Ray figure counts the whole run: its
workers start and load the backbone in it (a local Ray started once before, its start timed
apart). On SQLite the driver stores every batch; on PostgreSQL (a throw-away server from
``tests.helpers.postgres``, a new database per run) the workers store their own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import DATASETS
from core.engine.backbones import DEFAULT_BACKBONE, load_backbone
from core.engine.images import list_images
from core.scoring.review_queue import score_project
from core.services.cluster import Cluster, quiet_data
from core.services.cluster_proposals import propose_on_ray
from core.services.cluster_scores import score_on_ray
from core.services.project_proposals import ProposalSpec, propose_project
from core.store import Project


def _images(folder: Path, count: int) -> list[str]:
    """``count`` image files in ``folder``: copies of the shared photographs, else noise."""
    from PIL import Image

    files = list_images(DATASETS / "raccoon" / "images") if DATASETS.is_dir() else []
    names = []
    rng = np.random.default_rng(0)
    for i in range(count):
        name = f"img{i:05d}.jpg"
        if files:
            shutil.copy(files[i % len(files)], folder / name)
        else:
            pixels = rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name)
        names.append(name)
    return names


def _project(base: Path, names: list[str], location: str | Path) -> Project:
    project = Project.open(location, root=base)
    project.register_images(names)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--backends", default="sqlite", help="the Ray runs' databases: sqlite and/or postgresql"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    backends = args.backends.split(",")
    if not set(backends) <= {"sqlite", "postgresql"}:
        parser.error("--backends takes sqlite and/or postgresql")
    import ray

    spec = ProposalSpec(backbone=DEFAULT_BACKBONE, device="cpu")
    cores = os.cpu_count() or 1
    figures: dict = {"images": args.images, "batch_size": args.batch_size, "cores": cores}
    server = None
    if "postgresql" in backends:
        from tests.helpers import postgres

        reason = postgres.missing()
        if reason:
            parser.error(f"--backends postgresql: {reason}")
        server = postgres.start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp)
            names = _images(base, args.images)
            runs: dict[str, dict[str, float]] = {}

            project = _project(base, names, base / "local.db")
            started = time.perf_counter()
            propose_project(project, spec, args.batch_size)
            propose_s = time.perf_counter() - started
            backbone = load_backbone(DEFAULT_BACKBONE, None, "cpu")
            started = time.perf_counter()
            score_project(project, backbone, args.batch_size)
            runs["in-process"] = {"propose": propose_s, "score": time.perf_counter() - started}
            project.close()

            started = time.perf_counter()
            ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
            quiet_data()
            figures["ray_start_seconds"] = round(time.perf_counter() - started, 1)
            for backend in backends:
                for workers in (1, 2):
                    cluster = Cluster(workers, 0.0, max(1.0, float(cores // workers)))
                    if server is not None and backend == "postgresql":
                        location: str | Path = server.new_database()
                    else:
                        location = base / f"ray{workers}.db"
                    project = _project(base, names, location)
                    started = time.perf_counter()
                    propose_on_ray(project, spec, cluster, args.batch_size)
                    propose_s = time.perf_counter() - started
                    started = time.perf_counter()
                    score_on_ray(project, spec, cluster, args.batch_size)
                    name = f"ray {backend}, {workers} worker{'s' if workers > 1 else ''}"
                    runs[name] = {"propose": propose_s, "score": time.perf_counter() - started}
                    project.close()
            ray.shutdown()
    finally:
        if server is not None:
            server.stop()
    figures["runs"] = {
        name: {
            "propose_images_per_second": round(args.images / t["propose"], 2),
            "score_images_per_second": round(args.images / t["score"], 2),
            "propose_seconds": round(t["propose"], 1),
            "score_seconds": round(t["score"], 1),
        }
        for name, t in runs.items()
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"{args.images} images, batch {args.batch_size}, {cores} cores; "
        f"local Ray started in {figures['ray_start_seconds']} s"
    )
    print(f"{'engine':<28}{'propose img/s':>14}{'(s)':>7}{'score img/s':>13}{'(s)':>7}")
    for name, f in figures["runs"].items():
        print(
            f"{name:<28}{f['propose_images_per_second']:>14.2f}{f['propose_seconds']:>7.1f}"
            f"{f['score_images_per_second']:>13.2f}{f['score_seconds']:>7.1f}"
        )


if __name__ == "__main__":
    main()
