"""Reading a labelled folder for the simulator: evidence and ground truth per image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.formats.voc import AnnotationError, read_voc
from core.images import ImageLoadError, load_rgb
from core.learning.evidence import Evidence, EvidenceMaker
from core.simulation import Truth


def load_replay(
    pairs: list[tuple[Path, Path]],
    maker: EvidenceMaker,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
    problems: list[str] | None = None,
) -> tuple[list[Evidence], list[Truth], list[Path]]:
    """Evidence, ground truth and path of every ``(image, xml)`` pair that reads.

    Unreadable images or XML files and images without objects are skipped, one line each
    in ``problems``. ``progress(n)`` is called with the images done in each batch. Only
    network-size copies are kept, so a folder of large photos fits in memory.
    """
    evidence: list[Evidence] = []
    truth: list[Truth] = []
    paths: list[Path] = []
    for start in range(0, len(pairs), batch_size):
        images, sizes = [], []
        for image_path, xml_path in pairs[start : start + batch_size]:
            try:
                rgb = load_rgb(image_path).rgb
                ann = read_voc(xml_path)
            except (ImageLoadError, AnnotationError, OSError) as exc:
                if problems is not None:
                    problems.append(str(exc))
                continue
            if not ann.objects:
                if problems is not None:
                    problems.append(f"{xml_path}: no objects")
                continue
            boxes = np.array([o.box for o in ann.objects], dtype=np.float64).reshape(-1, 4)
            truth.append(Truth(boxes, tuple(o.name for o in ann.objects)))
            paths.append(image_path)
            sizes.append((rgb.shape[1], rgb.shape[0]))
            images.append(rgb)
        evidence += maker(images, sizes)
        if progress is not None:
            progress(len(pairs[start : start + batch_size]))
    return evidence, truth, paths
