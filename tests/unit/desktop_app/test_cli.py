"""The command line, run in-process on files the tests write."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from desktop_app.cli.main import main

VOC = """<annotation><filename>{name}</filename>
<size><width>{w}</width><height>{h}</height><depth>3</depth></size>
<object><name>cat</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax>
<ymax>{y2}</ymax></bndbox></object></annotation>"""


@pytest.fixture
def cat_folder(tmp_path: Path) -> Path:
    """A folder with scikit-image's chelsea, its VOC file, and a damaged JPEG."""
    folder = tmp_path / "my images ✓"
    folder.mkdir()
    Image.fromarray(data.chelsea()).save(folder / "chelsea.jpg")
    (folder / "chelsea.xml").write_text(
        VOC.format(name="chelsea.jpg", w=451, h=300, x1=41, y1=1, x2=400, y2=290)
    )
    return folder


def test_propose_prints_json_for_each_image(cat_folder, capsys):
    assert main(["propose", str(cat_folder), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [Path(r["image"]).name for r in report] == ["chelsea.jpg"]
    top = report[0]["proposals"][0]
    assert top["method"] == "default"
    assert "cat" in top["class"]
    x1, y1, x2, y2 = top["box"]
    assert 0 <= x1 < x2 <= 451 and 0 <= y1 < y2 <= 300


def test_propose_skips_a_damaged_image_with_one_line(cat_folder, capsys):
    good = (cat_folder / "chelsea.jpg").read_bytes()
    (cat_folder / "broken.jpg").write_bytes(good[: len(good) // 3])
    assert main(["propose", str(cat_folder), "--method", "cam"]) == 1
    captured = capsys.readouterr()
    assert "chelsea.jpg" in captured.out
    skipped = [line for line in captured.err.splitlines() if "broken.jpg" in line]
    assert len(skipped) == 1 and "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["propose", "does/not/exist.jpg"], "no such file"),
        (["propose", ".", "--method", "nonsense"], "unknown method"),
        (["evaluate", "--images", "does/not/exist"], "not a folder"),
        (["propose", ".", "--method", "gradcam", "--gradcam-layer", "nope"], "no layer 'nope'"),
        (["propose", ".", "--method", "cam", "--gradcam-layer", "net._blocks.3"], "needs the"),
        pytest.param(
            ["propose", ".", "--device", "cuda:7"],
            "CUDA is not available",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA"),
        ),
    ],
)
def test_bad_input_gives_one_clear_line_and_status_2(argv, needle, capsys, cat_folder, monkeypatch):
    monkeypatch.chdir(cat_folder)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_missing_torchvision_weights_name_the_file(cat_folder, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty torch home"))
    assert main(["propose", str(cat_folder), "--backbone", "resnet50"]) == 2
    err = capsys.readouterr().err
    assert "resnet50-" in err and ".pth" in err and "empty torch home" in err


def test_gradcam_on_an_inner_layer(cat_folder, capsys):
    argv = ["propose", str(cat_folder), "--json", "--method", "gradcam"]
    assert main([*argv, "--gradcam-layer", "net._blocks.10"]) == 0
    (report,) = json.loads(capsys.readouterr().out)
    assert report["proposals"][0]["method"] == "gradcam"


def test_evaluate_json_has_default_first(cat_folder, capsys):
    assert main(["evaluate", "--images", str(cat_folder), "--method", "cam", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert list(figures) == ["default", "cam"]
    for f in figures.values():
        assert f["images"] == 1
        assert 0.0 <= f["mean_iou"] <= 1.0 and f["corloc"] in (0.0, 1.0)
        assert f["images_per_second"] > 0
    # The cat fills this ground-truth box; CAM finds it.
    assert figures["cam"]["corloc"] == 1.0


def test_evaluate_finds_a_parallel_annotations_folder(tmp_path, capsys):
    images, annotations = tmp_path / "images", tmp_path / "annotations"
    images.mkdir()
    annotations.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(
            images / f"n{i}.png"
        )
        (annotations / f"n{i}.xml").write_text(
            VOC.format(name=f"n{i}.png", w=80, h=60, x1=1, y1=1, x2=80, y2=60)
        )
    assert main(["evaluate", "--images", str(images), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["default"]["images"] == 3
