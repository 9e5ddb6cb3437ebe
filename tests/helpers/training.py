"""Helpers of the fine-tuning tests: small images with one obvious object, accepted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CLASS = "blob"


def write_blob(path: Path, seed: int, size: tuple[int, int] = (160, 120)) -> tuple[int, ...]:
    """A bright ellipse on a dark noisy background; returns its box ``(x1, y1, x2, y2)``."""
    w, h = size
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 40, (h, w, 3), dtype=np.uint8)
    img = Image.fromarray(pixels)
    bw, bh = int(w * rng.uniform(0.3, 0.5)), int(h * rng.uniform(0.3, 0.5))
    x1, y1 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
    colour = (255, int(rng.integers(150, 256)), int(rng.integers(0, 80)))
    ImageDraw.Draw(img).ellipse((x1, y1, x1 + bw, y1 + bh), fill=colour)
    img.save(path)
    return x1, y1, x1 + bw, y1 + bh


def labelled_blobs(project, folder: Path, count: int, start: int = 0) -> list[int]:
    """``count`` blob images registered with their box accepted as :data:`CLASS`."""
    ids = []
    for seed in range(start, start + count):
        name = f"blob{seed}.png"
        box = write_blob(folder / name, seed)
        project.register_images([name])
        image_id = project.image_by_path(name).id
        project.box_records.add_box(image_id, CLASS, box, origin="human", state="accepted")
        project.set_status(image_id, "done")
        ids.append(image_id)
    return ids
