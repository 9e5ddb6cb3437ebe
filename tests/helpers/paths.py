"""Where the tests find the checkout, their own data and ``../shared/datasets``."""

from __future__ import annotations

from pathlib import Path

#: The checkout (the folder holding ``pyproject.toml``).
ROOT = Path(__file__).resolve().parents[2]
#: Files the tests ship: ``tests/data``.
DATA = ROOT / "tests" / "data"
#: The shared real images with Pascal VOC boxes, beside the checkout (absent on a fresh clone).
DATASETS = ROOT.parent / "shared" / "datasets"
