"""Helpers shared by the worker tests (test_worker*.py); their fixtures are in conftest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from desktop_app.background.jobs import ProposeJob

SIZES = [(64, 48), (120, 90), (160, 120), (200, 150), (240, 180), (300, 200)]
LONG = 120_000  # ms; generous: the first batch also loads the model


def write_image(path: Path, size: tuple[int, int], seed: int) -> None:
    """A coloured ellipse on a gradient background."""
    w, h = size
    rng = np.random.default_rng(seed)
    ramp = np.linspace(40, 200, w, dtype=np.float32)[None, :, None]
    background = np.broadcast_to(ramp, (h, w, 3)).astype(np.uint8)
    img = Image.fromarray(np.ascontiguousarray(background))
    draw = ImageDraw.Draw(img)
    x1, y1 = int(w * rng.uniform(0.1, 0.3)), int(h * rng.uniform(0.1, 0.3))
    x2, y2 = int(w * rng.uniform(0.6, 0.9)), int(h * rng.uniform(0.6, 0.9))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    draw.ellipse((x1, y1, x2, y2), fill=colour)
    img.save(path)


def job_list(project, image_ids: list[int]) -> list[ProposeJob]:
    return [ProposeJob(i, project.root / project.image(i).path) for i in image_ids]
