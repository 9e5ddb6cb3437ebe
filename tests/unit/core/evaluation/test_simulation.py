"""The simulated annotator: how it matches proposals, that its counts add up, its CLI."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from core.engine.backbones import load_backbone
from core.engine.proposals import Proposal
from core.evaluation.plots import CORLOC_COLOUR
from core.evaluation.replay_project import ReplayProject
from core.evaluation.simulation import Costs, Counts, Truth, review_image, simulate
from core.evaluation.simulation_data import load_replay
from core.formats.voc_dataset import annotated_images
from core.learning.evidence import EvidenceMaker
from desktop_app.cli.main import main
from tests.unit.core.learning.test_learning import scene


def proposal(box, name="cat") -> Proposal:
    return Proposal(tuple(float(v) for v in box), 0, name, 0.9, "test", 0.5)


def test_review_accepts_edits_draws_and_rejects():
    truth = Truth(
        np.array([[0, 0, 100, 100], [200, 200, 300, 300], [400, 0, 500, 100]]), ("cat",) * 3
    )
    proposals = [
        proposal((0, 0, 100, 90)),  # IoU 0.90 with the first: accepted as is
        proposal((200, 200, 300, 360)),  # IoU 0.625 with the second: edited
        proposal((600, 600, 700, 700)),  # overlaps nothing: rejected; the third is drawn
    ]
    counts = review_image(proposals, truth, class_aware=True)
    assert (counts.accepted, counts.edited, counts.drawn, counts.rejected) == (1, 1, 1, 1)
    assert counts.seconds(Costs()) == pytest.approx(2 + 8 + 25.5 + 2)


def test_review_needs_the_right_class_once_classes_are_learned():
    truth = Truth(np.array([[0, 0, 100, 100]]), ("cat",))
    wrong = [proposal((0, 0, 100, 100), "dog")]
    assert review_image(wrong, truth, class_aware=True).drawn == 1
    assert review_image(wrong, truth, class_aware=False).accepted == 1


def test_one_proposal_serves_one_box_only():
    truth = Truth(np.array([[0, 0, 100, 100], [0, 0, 100, 100]]), ("cat", "cat"))
    counts = review_image([proposal((0, 0, 100, 100))], truth, class_aware=True)
    assert (counts.accepted, counts.drawn, counts.rejected) == (1, 1, 0)


VOC = """<annotation><filename>{name}</filename><size><width>224</width><height>224</height>
<depth>3</depth></size>{objects}</annotation>"""
OBJECT = """<object><name>widget</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>
<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"""


@pytest.fixture(scope="module")
def scene_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scènes avec espaces")
    rng = np.random.default_rng(3)
    boxes = 0
    for i in range(14):
        image, box = scene(rng)
        Image.fromarray(image).save(folder / f"s{i:02d}.png")
        x1, y1, x2, y2 = (int(v) for v in box[0])
        objects = OBJECT.format(x1=x1 + 1, y1=y1 + 1, x2=x2, y2=y2)
        if i % 5 == 0:  # a second, small object in some images
            objects += OBJECT.format(x1=1, y1=1, x2=20, y2=20)
            boxes += 1
        (folder / f"s{i:02d}.xml").write_text(VOC.format(name=f"s{i:02d}.png", objects=objects))
        boxes += 1
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (folder / "broken.xml").write_text(VOC.format(name="broken.png", objects=""))
    return folder, boxes


def test_simulate_cli_counts_add_up_and_writes_csv_and_plot(scene_folder, tmp_path, capsys):
    folder, boxes = scene_folder
    csv_path, png_path = tmp_path / "steps.csv", tmp_path / "curve.png"
    argv = [
        "simulate",
        "--images",
        str(folder),
        "--order",
        "random",
        "--every",
        "5",
        "--train-every",
        "4",
        "--json",
        "--csv",
        str(csv_path),
        "--plot",
        str(png_path),
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert "broken" in captured.err
    counts = Counts(**out["counts"])
    assert counts.accepted + counts.edited + counts.drawn == boxes
    final = out["final"]
    assert final["reviewed"] == 14 and final["boxes"] == boxes
    assert final["trainings"] >= 3
    assert final["seconds_drawing_all"] == pytest.approx(boxes * 25.5)
    assert final["seconds_assisted"] == pytest.approx(counts.seconds(Costs()))
    assert [s["reviewed"] for s in out["steps"]] == [5, 10, 14]
    assert all(0 <= s["corloc_remaining"] <= 1 for s in out["steps"][:-1])
    with open(csv_path, encoding="utf-8") as f:
        assert [int(r["reviewed"]) for r in csv.DictReader(f)] == [5, 10, 14]
    plot = cv2.imread(str(png_path))
    assert plot is not None and plot.shape == (400, 640, 3)  # drawn by core.evaluation.plots
    blue = np.array([int(CORLOC_COLOUR[i : i + 2], 16) for i in (5, 3, 1)])  # BGR
    assert (np.abs(plot.astype(int) - blue).sum(axis=2) < 30).sum() > 50  # CorLoc is drawn
    assert (plot < 100).all(axis=2).sum() > 500  # black axes, ticks and labels


def test_simulate_budget_stops_early_and_reports_corloc_on_the_rest(scene_folder, capsys):
    folder, _ = scene_folder
    argv = [
        "simulate",
        "--images",
        str(folder),
        "--order",
        "softmax",
        "--budget",
        "6",
        "--every",
        "3",
        "--json",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["reviewed"] for s in out["steps"]] == [3, 6]
    assert out["final"]["corloc_remaining"] is not None


def test_simulate_rejects_a_folder_without_labels(tmp_path, capsys):
    assert main(["simulate", "--images", str(tmp_path)]) == 2
    assert "no image with a VOC XML file" in capsys.readouterr().err


def test_the_simulator_trains_through_the_apps_training_service(scene_folder, tmp_path):
    """Every training of a replay is a model version of a real project, made by
    core.services.training, from the boxes the simulated annotator stored there."""
    folder, _ = scene_folder
    backbone = load_backbone()
    evidence, truth, paths = load_replay(annotated_images(folder), EvidenceMaker(backbone))
    with ReplayProject(tmp_path / "replay", paths, evidence, backbone) as replay:
        sim = simulate(evidence, truth, range(8), backbone.class_names, replay, train_every=4)
        project = replay.project
        versions = project.learning_records.model_versions()
        assert len(versions) == len(sim.trainings) >= 2
        assert [r.status for r in project.learning_records.training_runs()] == ["done"] * len(
            versions
        )
        stored = project.learning_records.labelled_boxes()
        assert sum(len(r.boxes) for r in stored) == sum(len(truth[i].labels) for i in range(8))
        assert project.count_images("done") == 8
        assert project.learning_records.active_model_version().id == versions[0].id
        assert sim.model.classes == ["widget"]
