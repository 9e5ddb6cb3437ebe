"""Integration checks on ../shared/datasets, skipped where that folder is absent."""

from __future__ import annotations

import numpy as np
import pytest

from core.engine.backbones import load_backbone
from core.engine.images import load_rgb
from core.engine.proposals import make_proposer
from core.evaluation.measures import match_image, summarize
from core.evaluation.runner import evaluate_proposer
from core.formats.voc import read_voc
from core.formats.voc_dataset import annotated_images
from tests.helpers.paths import DATASETS

pytestmark = pytest.mark.skipif(
    not DATASETS.is_dir(), reason="../shared/datasets is not beside this checkout"
)


def test_every_shared_voc_file_reads_with_boxes_inside_its_image():
    xml_files = sorted(DATASETS.rglob("*.xml"))
    assert len(xml_files) >= 500
    for xml in xml_files:
        ann = read_voc(xml)
        assert ann.objects, xml
        for obj in ann.objects:
            x1, y1, x2, y2 = obj.box
            assert 0 <= x1 < x2 and 0 <= y1 < y2, xml


def test_default_beats_the_whole_image_on_raccoon():
    """Raccoon is no ImageNet class: the default must still localise it."""
    pairs = annotated_images(DATASETS / "raccoon" / "images", DATASETS / "raccoon" / "annotations")
    summary = evaluate_proposer(make_proposer(load_backbone(), "default"), pairs)
    whole = []
    for image, xml in pairs:
        size = load_rgb(image)
        truth = np.array([o.box for o in read_voc(xml).objects])
        whole.append(match_image(np.array([[0, 0, size.width, size.height]]), truth))
    baseline = summarize(whole, seconds=1.0)
    assert summary.images == len(pairs) == 200
    assert summary.corloc >= 0.75  # measured 0.785 (README); the target is 0.78
    assert summary.corloc > baseline.corloc + 0.2
    assert summary.mean_iou > baseline.mean_iou
