"""Shared helpers of the benchmark scripts: where the shared data sets live."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.engine.images import list_images, load_rgb

DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

#: The annotated sets of ../shared/datasets: (name, images folder, annotations folder or
#: None for XML beside each image).
SETS = [
    ("raccoon", DATASETS / "raccoon" / "images", DATASETS / "raccoon" / "annotations"),
    ("fruit-train", DATASETS / "fruit" / "train", None),
    ("fruit-test", DATASETS / "fruit" / "test", None),
]


def sample_images(count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` RGB images: photographs from ../shared/datasets when present, else noise."""
    files = list_images(DATASETS) if DATASETS.is_dir() else []
    if files:
        return [load_rgb(files[i % len(files)]).rgb for i in range(count)]
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (375, 500, 3), dtype=np.uint8) for _ in range(count)]
