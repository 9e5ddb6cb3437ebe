"""Running a proposer over an annotated image folder and scoring it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from core.engine import defaults
from core.engine.proposals import Proposer
from core.evaluation.measures import ImageOutcome, Summary, match_image, summarize
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
    """CorLoc, mean IoU and recall of ``proposer`` on ``(image, xml)`` pairs.

    Images or XML files that cannot be read, and images whose XML lists no object, are
    skipped (CorLoc is defined over images that hold an object); one line per skipped file
    is appended to ``problems``. ``progress`` is called with the number of images done in
    each batch. Speed counts reading, resizing, maps and boxes.
    """
    outcomes: list[ImageOutcome] = []
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
        if progress is not None:
            progress(len(batch))
    return summarize(outcomes, time.perf_counter() - start)
