"""Running a proposer over an annotated image folder and scoring it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from core.engine import defaults
from core.engine.proposals import Proposer
from core.evaluation.measures import (
    ImageOutcome,
    Summary,
    detection_measures,
    match_image,
    summarize,
)
from core.formats.voc_dataset import read_labelled

Progress = Callable[[int], None]


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def evaluate_proposer(
    proposer: Proposer,
    pairs: list[tuple[Path, Path]],
    batch_size: int = defaults.BATCH_SIZE,
    progress: Progress | None = None,
    problems: list[str] | None = None,
) -> Summary:
    """CorLoc, mean IoU, recall and the COCO measures (AP50, AP, recall at 1 / #objects /
    10, class-agnostic, scored by each proposal's confidence) of ``proposer`` on
    ``(image, xml)`` pairs.

    Images or XML files that cannot be read, and images whose XML lists no object, are
    skipped (CorLoc is defined over images that hold an object); one line per skipped file
    is appended to ``problems``. ``progress`` is called with the number of images done in
    each batch. Speed counts reading, resizing, maps and boxes.
    """
    outcomes: list[ImageOutcome] = []
    detections: list[tuple[np.ndarray, np.ndarray]] = []
    all_truths: list[np.ndarray] = []
    start = time.perf_counter()
    for batch in _batches(pairs, batch_size):
        images, truths = [], []
        for image_path, xml_path in batch:
            item = read_labelled(image_path, xml_path, problems)
            if item is not None:
                images.append(item.rgb)
                truths.append(item.boxes)
        for result, truth in zip(proposer.propose(images), truths, strict=True):
            boxes = np.array([p.box for p in result.proposals]).reshape(-1, 4)
            outcomes.append(match_image(boxes, truth))
            detections.append((boxes, np.array([p.confidence for p in result.proposals])))
            all_truths.append(truth)
        if progress is not None:
            progress(len(batch))
    seconds = time.perf_counter() - start
    return summarize(outcomes, seconds, detection_measures(detections, all_truths))
