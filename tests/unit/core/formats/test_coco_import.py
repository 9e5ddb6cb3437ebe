"""COCO import of other tools' files: sizes from the image files, entries for files missing
on disk, bad categories and entries skipped one line each, and fuzzing of the reader."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bench import fuzz_coco
from core.formats.coco import CocoError
from core.formats.coco_import import import_coco
from core.formats.records import BoxRecord, ImageRecord
from core.services.importer import import_coco_file
from core.store import Project
from desktop_app.cli.main import main

# --- COCO import of other files -----------------------------------------------------------------


def write_json(tmp_path: Path, doc, name: str = "in put.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return path


def coco(annotations=None, images=None, categories=None) -> dict:
    return {
        "images": images
        if images is not None
        else [{"id": 7, "file_name": "a.jpg", "width": 100, "height": 50}],
        "categories": categories if categories is not None else [{"id": 3, "name": "cat"}],
        "annotations": annotations or [],
    }


def ann(bbox, image_id=7, category_id=3, **extra) -> dict:
    return {"id": 1, "image_id": image_id, "category_id": category_id, "bbox": bbox, **extra}


def test_import_of_another_tools_file(tmp_path):
    doc = coco(
        [
            ann([10, 5, 20, 10], segmentation=[[10, 5, 30, 5, 30, 15]], area=200),
            ann([0, 0, 5, 5], attributes={"occluded": True, "difficult": 1, "verified": "no"}),
        ],
        images=[
            {"id": 7, "file_name": "a.jpg", "width": 100, "height": 50, "license": 1},
            {"id": 8, "file_name": "dir/b.jpg", "width": 10.0, "height": 10},
        ],
    )
    doc["info"] = {"year": 2017}
    records, warnings = import_coco(write_json(tmp_path, doc))
    assert warnings == []
    assert records == [
        ImageRecord(
            "a.jpg",
            100,
            50,
            boxes=(
                BoxRecord("cat", (10.0, 5.0, 30.0, 15.0)),
                BoxRecord("cat", (0.0, 0.0, 5.0, 5.0), occluded=True, difficult=True),
            ),
        ),
        ImageRecord("dir/b.jpg", 10, 10),
    ]


def test_import_without_annotations_key(tmp_path):
    doc = coco()
    del doc["annotations"]
    records, warnings = import_coco(write_json(tmp_path, doc))
    assert records == [ImageRecord("a.jpg", 100, 50)] and warnings == []


def test_import_skips_and_warns(tmp_path):
    doc = coco(
        [
            ann([10, 10, 20, 20]),  # kept
            ann([1, 1, 2, 2], image_id=99),  # unknown image
            ann([1, 1, 2, 2], category_id=42),  # unknown category
            ann([90, 40, 30, 30]),  # outside on the right and bottom: clipped
            ann([100, 0, 5, 5]),  # entirely outside: skipped
            ann([1, 1, 0, 5]),  # zero width
            ann([1, 1, -3, 5]),  # negative width
            ann([1, 1, 5, float("inf")]),  # infinite height
            ann([1, 1, 5, float("nan")]),  # NaN
            ann([1, 1, 5]),  # three numbers
            ann([1, "1", 5, 5]),  # a string
            ann([1, 1, 5, 5], iscrowd=1),  # crowd region
            ann([1, 1, 5, 5], image_id=9),  # image skipped (size 0): no extra warning
        ],
        images=[
            {"id": 7, "file_name": "a.jpg", "width": 100, "height": 50},
            {"id": 8, "file_name": "../escape.jpg", "width": 10, "height": 10},
            {"id": 9, "file_name": "zero.jpg", "width": 0, "height": 10},
            {"id": 10, "file_name": "a.jpg", "width": 100, "height": 50},
            {"id": 11, "file_name": "half.jpg", "width": 10.5, "height": 10},
        ],
    )
    path = write_json(tmp_path, doc)
    records, warnings = import_coco(path)
    assert [r.path for r in records] == ["a.jpg"]
    assert [b.box for b in records[0].boxes] == [(10, 10, 30, 30), (90, 40, 100, 50)]
    assert all(w.startswith(f"{path}: ") for w in warnings)
    expected = [
        "'../escape.jpg'",
        "size 0 × 10",
        "'a.jpg' appears twice",
        "size 10.5 × 10",
        "unknown image id 99",
        "unknown category id 42",
        "clipped",
        "[100, 0, 5, 5]",
        "[1, 1, 0, 5]",
        "[1, 1, -3, 5]",
        "inf",
        "nan",
        "[1, 1, 5]",
        "[1, '1', 5, 5]",
        "crowd",
    ]
    assert len(warnings) == len(expected)
    for warning, fragment in zip(warnings, expected, strict=True):
        assert fragment in warning


@pytest.mark.parametrize(
    ("doc", "match"),
    [
        ("", "malformed JSON"),
        ('{"images": [', "malformed JSON"),
        ("not json", "malformed JSON"),
        ("[" * 100_000 + "]" * 100_000, "malformed JSON"),
        ('{"images": [], "categories": [], "n": 1' + "0" * 5000 + "}", "malformed JSON"),
        ([1, 2], "top level is a list"),
        ({"categories": []}, '"images" is missing'),
        ({"images": []}, '"categories" is missing'),
        ({"images": {}, "categories": []}, '"images" is missing or not a list'),
        ({"images": [], "categories": [], "annotations": 3}, '"annotations" is missing'),
    ],
)
def test_import_refuses_malformed_files(tmp_path, doc, match):
    path = write_json(tmp_path, doc)
    with pytest.raises(CocoError, match=match) as info:
        import_coco(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_import_refuses_unreadable_files(tmp_path):
    with pytest.raises(CocoError, match="cannot read"):
        import_coco(tmp_path / "absent.json")
    (tmp_path / "latin.json").write_bytes(
        b'{"images": [], "categories": [{"id": 1, "name": "\xe9"}]}'
    )
    with pytest.raises(CocoError, match="malformed"):
        import_coco(tmp_path / "latin.json")


def test_import_accepts_a_byte_order_mark(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(coco()).encode())
    assert import_coco(path)[0] == [ImageRecord("a.jpg", 100, 50)]


BAD_NAMES = ["two\nlines", "bell\x07", "x" * 129, "y" * 1_000_000]


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ({"annotations": [{"image_id": 7, "category_id": 3}]}, 'has no "bbox"'),
        ({"annotations": [{"category_id": 3, "bbox": [1, 1, 2, 2]}]}, '"image_id" missing'),
        ({"annotations": [ann([1, 1, 2, 2], image_id=None)]}, '"image_id" None, not a valid id'),
        ({"annotations": [ann([1, 1, 2, 10**400])]}, "not a finite positive size"),
        ({"annotations": ["box"]}, "\"annotations\" entry 1 is 'box', not an object"),
        ({"images": [{"id": 1, "file_name": "b.jpg", "width": 5}]}, "size 5 × None is not"),
        ({"images": [{"id": 1, "width": 5, "height": 5}]}, '"file_name" missing'),
        ({"images": [{"file_name": "b.jpg", "width": 5, "height": 5}]}, '"id" missing'),
        ({"images": [{"id": True, "file_name": "b", "width": 5, "height": 5}]}, '"id" True'),
        ({"images": [1]}, "entry 1 is 1, not an object"),
        *[
            ({"images": [{"id": 1, "file_name": "b.jpg", "width": w, "height": 5}]}, text)
            for w, text in [
                (1e19, "size 1e+19 × 5 is not a size in pixels"),
                (1e300, "size 1e+300 × 5"),
                (10**30, "size 1000000000000000000000000000000 × 5"),
                (60_000_000, "size 60000000 × 5"),  # more pixels than any image SaliBox reads
                (-5, "size -5 × 5"),
                (math.nan, "size nan × 5"),
                ("5", "size '5' × 5"),
                (10.5, "size 10.5 × 5"),
            ]
        ],
        (
            {
                "images": [
                    {"id": n, "file_name": f"{n}.jpg", "width": 5, "height": 5} for n in (1, 1)
                ]
            },
            "image 1 appears twice",
        ),
        ({"categories": [{"id": 1}]}, '"name" missing'),
        ({"categories": [{"id": 1, "name": " "}]}, "cannot be empty"),
        ({"categories": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]}, "has two names"),
        *[
            ({"categories": [{"id": 1, "name": name}]}, "skipped with its annotations: class name")
            for name in BAD_NAMES
        ],
    ],
)
def test_import_skips_a_bad_entry_with_one_short_warning_and_reads_the_rest(tmp_path, extra, match):
    doc = coco([ann([10, 10, 20, 20])])
    doc["images"].extend(extra.get("images", []))
    doc["categories"].extend(extra.get("categories", []))
    doc["annotations"].extend(extra.get("annotations", []))
    doc["annotations"].append(ann([1, 1, 2, 2], image_id=1, category_id=1))
    path = write_json(tmp_path, doc)
    records, warnings = import_coco(path)
    assert records[0] == ImageRecord("a.jpg", 100, 50, boxes=(BoxRecord("cat", (10, 10, 30, 30)),))
    relevant = [w for w in warnings if "unknown" not in w]  # the extra annotations' ids
    assert len(relevant) == 1 and match in relevant[0], warnings
    assert relevant[0].startswith(f"{path}: ") and len(relevant[0]) < 300 + len(str(path))


def save_images(root: Path, names, size=(40, 30)) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (200, 90, 10)).save(root / name)


@pytest.fixture
def root(tmp_path) -> Path:
    path = tmp_path / "images"
    path.mkdir()
    return path


def import_into(root: Path, doc) -> tuple[Project, list[str]]:
    """A project on ``root`` with ``doc`` imported; returns the project and the report."""
    project = Project.open(root / "p.db", root)
    return project, import_coco_file(project, write_json(root.parent, doc))


def test_import_into_a_project_takes_each_size_from_the_image_file(root):
    claims = {
        "big.png": (1e19, 30),
        "huge.png": (1e300, 1e300),
        "negative.png": (-40, 30),
        "nan.png": (math.nan, 30),
        "text.png": ("wide", "high"),
        "other.png": (100, 50),
        "right.png": (40, 30),
    }
    save_images(root, claims)
    images = [
        {"id": n, "file_name": name, "width": w, "height": h}
        for n, (name, (w, h)) in enumerate(claims.items())
    ]
    doc = coco([ann([30, 20, 20, 20], image_id=n) for n in range(7)], images=images)
    project, report = import_into(root, doc)
    with project:
        assert (report.images_added, report.boxes_added) == (7, 7)
        for row in project.images():
            assert (row.width, row.height, row.status) == (40, 30, "done")
            assert [b.box for b in project.box_records.boxes(row.id)] == [(30.0, 20.0, 40.0, 30.0)]
    own = [w for w in report.problems if "the image's own size 40 × 30 is used" in w]
    assert len(own) == 5 and "image 0 (big.png): size 1e+19 × 30 is not a size" in own[0]
    assert sum("says 100 × 50 but the image is 40 × 30" in w for w in report.problems) == 1
    assert sum("clipped" in w for w in report.problems) == 7 == len(report.problems) - 6


def test_import_into_a_project_leaves_out_files_missing_on_disk(root):
    save_images(root, ["here.png"])
    names = ["here.png", "gone.png", "sub dir/gone too.png", "x" * 5000 + ".png"]
    images = [
        {"id": n, "file_name": name, "width": 40, "height": 30} for n, name in enumerate(names)
    ]
    project, report = import_into(
        root, coco([ann([1, 1, 5, 5], image_id=n) for n in range(4)], images)
    )
    with project:
        assert [r.path for r in project.images()] == ["here.png"]
        assert report.images_found == 1 and report.boxes_added == 1
    assert report.problems[:2] == [
        "gone.png: listed in the COCO file but not on disk",
        "sub dir/gone too.png: listed in the COCO file but not on disk",
    ]
    assert report.problems[2].endswith("...: listed in the COCO file but not on disk")
    assert len(report.problems) == 3


def test_import_into_a_project_skips_categories_no_class_name_can_be(root):
    save_images(root, ["a.png"])
    names = ["  cat ", *BAD_NAMES]
    categories = [{"id": n, "name": name} for n, name in enumerate(names)]
    annotations = [ann([1, 1, 5, 5], image_id=7, category_id=n) for n in range(len(names))]
    images = [{"id": 7, "file_name": "a.png", "width": 40, "height": 30}]
    project, report = import_into(root, coco(annotations, images, categories))
    with project:
        assert project.class_records.classes() == ["cat"] and report.boxes_added == 1
    assert len(report.problems) == 4
    assert all("skipped with its annotations: class name" in w for w in report.problems)
    assert all(len(w) < 300 + len(str(root)) for w in report.problems)


def test_cli_coco_import_names_the_missing_files(root, capsys):
    save_images(root, ["here.png"])
    images = [
        {"id": n, "file_name": f, "width": 1e19, "height": 3}
        for n, f in enumerate(["here.png", "gone.png"])
    ]
    path = write_json(root.parent, coco(images=images))
    assert main(["import", "--images", str(root), "--coco", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "1 images found, 1 new; 1 annotated, 0 boxes imported" in out
    assert "salibox: gone.png: listed in the COCO file but not on disk" in err.splitlines()


# --- fuzzing the reader (a longer run: python -m bench.fuzz_coco --examples 5000) -------------


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory) -> Path:
    return fuzz_coco.image_folder(tmp_path_factory.mktemp("fuzz") / "images")


@settings(max_examples=150, deadline=None)
@given(data=fuzz_coco.documents(), with_root=st.booleans())
def test_coco_reader_survives_random_and_mutated_documents(fuzz_root, data, with_root):
    fuzz_coco.check(data, fuzz_root.parent / "c.json", fuzz_root if with_root else None)


@pytest.mark.skipif(
    not fuzz_coco.DATASETS.is_dir(), reason="../shared/datasets is not beside this checkout"
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=fuzz_coco.mutated(st.deferred(lambda: st.sampled_from(fuzz_coco.shared_documents()))))
def test_coco_reader_survives_mutated_files_of_the_shared_datasets(fuzz_root, data):
    fuzz_coco.check(data, fuzz_root.parent / "shared.json", fuzz_coco.DATASETS)
