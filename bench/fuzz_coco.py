"""Fuzzing the COCO reader with hypothesis: random documents, and valid ones mutated.

Usage: ``python -m bench.fuzz_coco [--examples 5000]``. The property, also run with a small
budget by ``tests/unit/core/formats/test_coco_import.py``:
:func:`core.formats.coco_import.import_coco`
raises nothing but :class:`~core.formats.coco.CocoError`, and what it returns is sound:
plain relative paths, sizes in pixels (the file's own when read against a folder of
images), boxes inside their image, class names and poses that
:func:`core.store.rows.clean_class_name` keeps as they are, warnings of one short line.

The valid documents are generated, and (when ``../shared/datasets`` exists) made from its
VOC files: 25 images of each set, named relative to that folder, with their real sizes.
A mutation replaces a node with a hostile value (huge or non-finite numbers, text with
control characters, paths leaving the folder, 1 MB names...), deletes a key or repeats a
list entry; some documents are then cut short or get a byte changed.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bench.common import DATASETS
from core.engine.images import MAX_PIXELS, image_size
from core.formats.coco import CocoError
from core.formats.coco_import import import_coco
from core.formats.records import check_relative_path
from core.formats.voc import read_voc
from core.formats.voc_dataset import annotated_images
from core.store.rows import clean_class_name

#: Files of :func:`image_folder` and names that are not there, or not images.
FILES = ["a.png", "sub dir/b.jpg", "text.png", "sub dir", "missing.png"]
NAMES = ["cat", "dog", " ünï ", "traffic light"]
KEYS = ["id", "file_name", "width", "height", "depth", "name", "image_id", "category_id"]
KEYS += ["bbox", "iscrowd", "attributes", "pose", "difficult", "verified", "images"]
HOSTILE = [
    *FILES,
    "../x.png",
    "/etc/passwd",
    "C:\\x.png",
    "a\x00b.png",
    "two\nlines",
    "bell\x07",
    "",
    " ",
    "x" * 129,
    "y" * 1_000_000,
    10**19,
    10**400,
    -(10**30),
    1e300,
    -0.0,
    float("nan"),
    float("inf"),
]
#: JSON scalars, and the values above.
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(HOSTILE)
)
#: Any JSON value.
VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=6,
)


def image_folder(root: Path) -> Path:
    """``root`` with the files of :data:`FILES` that exist: two images and a text file."""
    (root / "sub dir").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30)).save(root / "a.png")
    Image.new("RGB", (17, 23)).save(root / "sub dir" / "b.jpg")
    (root / "text.png").write_text("not an image")
    return root


@st.composite
def valid_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A COCO document whose every entry is usable against :func:`image_folder`."""
    names = draw(st.lists(st.sampled_from(FILES[:2]), unique=True, max_size=2))
    images = [
        {"id": i, "file_name": name, "width": draw(st.integers(1, 64)), "height": 30}
        for i, name in enumerate(names)
    ]
    categories = [{"id": c, "name": name} for c, name in enumerate(NAMES)]
    coordinate = st.floats(-20, 80, allow_nan=False)
    annotations = [
        {
            "id": n,
            "image_id": draw(st.integers(0, 2)),
            "category_id": draw(st.integers(0, len(NAMES))),
            "bbox": [draw(coordinate) for _ in range(4)],
            "attributes": {"pose": draw(st.sampled_from(["Left", "x" * 200])), "difficult": 1},
        }
        for n in range(draw(st.integers(0, 6)))
    ]
    return {"images": images, "categories": categories, "annotations": annotations}


@cache
def shared_documents() -> tuple[dict[str, Any], ...]:
    """One COCO document per set of ``../shared/datasets`` (25 images each, paths relative
    to that folder); none when it does not exist."""
    folders = ["raccoon/images", "fruit/train", "aquarium/images", "bccd/images"]
    documents = []
    for folder in folders if DATASETS.is_dir() else []:
        images, annotations, names = [], [], {}
        for image, xml in annotated_images(DATASETS / folder)[:25]:
            width, height = image_size(image)
            images.append(
                {
                    "id": len(images),
                    "file_name": image.relative_to(DATASETS).as_posix(),
                    "width": width,
                    "height": height,
                }
            )
            for obj in read_voc(xml).objects:
                x1, y1, x2, y2 = obj.box
                annotations.append(
                    {
                        "id": len(annotations),
                        "image_id": images[-1]["id"],
                        "category_id": names.setdefault(obj.name, len(names)),
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                    }
                )
        categories = [{"id": i, "name": name} for name, i in names.items()]
        documents.append({"images": images, "categories": categories, "annotations": annotations})
    return tuple(documents)


def _slot(draw: st.DrawFn, node: dict | list) -> tuple[Any, Any] | None:
    """``(container, key)`` of a value inside ``node``, found by walking down from it; None
    when ``node`` is empty."""
    while node:
        if isinstance(node, dict):
            key = draw(st.sampled_from(list(node)))
        else:
            key = draw(st.integers(0, len(node) - 1))
        value = node[key]
        if not (isinstance(value, dict | list) and value) or draw(st.booleans()):
            return node, key
        node = value
    return None


@st.composite
def mutated(draw: st.DrawFn, seeds: st.SearchStrategy[dict[str, Any]]) -> bytes:
    """A document of ``seeds`` with up to 6 mutations, as JSON bytes (1 in 8 then cut short
    or with one byte changed)."""
    doc = copy.deepcopy(draw(seeds))
    for _ in range(draw(st.integers(0, 6))):
        if (slot := _slot(draw, doc)) is None:
            break
        container, key = slot
        action = draw(st.sampled_from(["replace", "replace", "delete", "repeat"]))
        if action == "replace":
            container[key] = draw(VALUES)
        elif isinstance(container, dict):
            del container[key]
        elif action == "delete":
            container.pop(key)
        else:
            container.append(copy.deepcopy(container[key]))
    data = json.dumps(doc).encode()
    if data and draw(st.integers(0, 7)) == 0:
        at = draw(st.integers(0, len(data) - 1))
        data = (
            data[:at]
            if draw(st.booleans())
            else data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
        )
    return data


def documents() -> st.SearchStrategy[bytes]:
    """Random documents, and generated valid ones mutated."""
    random = st.dictionaries(
        st.sampled_from(["images", "categories", "annotations"]),
        st.lists(
            st.dictionaries(
                st.sampled_from(KEYS), LEAVES | st.lists(LEAVES, max_size=5), max_size=6
            ),
            max_size=4,
        )
        | VALUES,
    ).map(lambda doc: json.dumps(doc).encode())
    return random | mutated(valid_documents())


def check(data: bytes, json_path: Path, images_root: Path | None) -> None:
    """Read ``data`` as a COCO file and assert the property of the module docstring."""
    json_path.write_bytes(data)
    try:
        records, warnings = import_coco(json_path, images_root)
    except CocoError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600 + len(str(json_path))
        return
    for record in records:
        check_relative_path(record.path)
        width, height = record.width, record.height
        assert type(width) is int and type(height) is int and 1 <= width * height <= MAX_PIXELS
        if images_root is not None:
            assert (width, height) == image_size(images_root / record.path)
        for box in record.boxes:
            x1, y1, x2, y2 = box.box
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height, (record, box)
            assert clean_class_name(box.class_name) == box.class_name
            assert clean_class_name(box.pose) == box.pose
    for line in warnings:
        assert "\n" not in line and len(line) < 600 + len(str(json_path)), line


def _fuzz(strategy: st.SearchStrategy[bytes], root: Path | None, json_path: Path, n: int) -> None:
    """Check ``n`` documents of ``strategy`` against ``root``."""

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=strategy)
    def run(data: bytes) -> None:
        check(data, json_path, root)

    run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=5000, help="documents per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = image_folder(Path(folder) / "images")
        runs = [("generated", documents(), root), ("generated, no folder", documents(), None)]
        if shared_documents():
            shared = mutated(st.sampled_from(shared_documents()))
            runs.append(("../shared/datasets", shared, DATASETS))
        for name, strategy, images_root in runs:
            start = time.perf_counter()
            _fuzz(strategy, images_root, Path(folder) / "c.json", args.examples)
            print(f"{name}: {args.examples} documents in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
