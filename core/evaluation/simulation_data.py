"""Reading a labelled folder for the simulator: evidence and ground truth per image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.engine import defaults
from core.evaluation.simulation import Truth
from core.formats.voc_dataset import read_labelled
from core.learning.evidence import Evidence, EvidenceMaker


def load_replay(
    pairs: list[tuple[Path, Path]],
    maker: EvidenceMaker,
    batch_size: int = defaults.BATCH_SIZE,
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
            item = read_labelled(image_path, xml_path, problems)
            if item is None:
                continue
            truth.append(Truth(item.boxes, item.labels))
            paths.append(image_path)
            sizes.append((item.rgb.shape[1], item.rgb.shape[0]))
            images.append(item.rgb)
        evidence += maker(images, sizes)
        if progress is not None:
            progress(len(pairs[start : start + batch_size]))
    return evidence, truth, paths
