"""The image score on a tiny network with hand-set weights, and on a real project."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from core.engine.backbones import Backbone, Normalization, _GapLinear
from core.scoring.image_score import EPSILON, ActivationReader, Reference, score_activations
from core.scoring.image_score_runner import GLOBAL, review_order, score_files

SIDE = 16


def tiny_backbone() -> Backbone:
    """Two conv + ReLU stages; channel 0 fires on red, channel 1 on green (stage 1), and
    stage 2 copies them: the score layers are the two ReLUs."""
    conv1 = nn.Conv2d(3, 2, 1)
    conv2 = nn.Conv2d(2, 2, 1)
    with torch.no_grad():
        conv1.weight.zero_()
        conv1.weight[0, 0] = 1.0  # red
        conv1.weight[1, 1] = 1.0  # green
        conv1.bias.fill_(-0.5)
        conv2.weight.zero_()
        conv2.weight[0, 0, 0, 0] = conv2.weight[1, 1, 0, 0] = 1.0
        conv2.bias.zero_()
    features = nn.Sequential(conv1, nn.ReLU(), conv2, nn.ReLU())
    fc = nn.Linear(2, 2)
    with torch.no_grad():
        fc.weight.copy_(torch.eye(2))
        fc.bias.zero_()
    backbone = Backbone(
        name="tiny",
        features=features,
        head=_GapLinear(fc),
        linear_head=fc,
        normalize=Normalization((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
        class_names=["red", "green"],
        input_size=SIDE,
        score_layers=["1", "3"],
    )
    return backbone.freeze().to(torch.device("cpu"))


def square(color: int, x: int, y: int, size: int = 6) -> np.ndarray:
    img = np.zeros((SIDE, SIDE, 3), dtype=np.uint8)
    img[y : y + size, x : x + size, color] = 255
    return img


def save_all(tmp_path: Path, images: list[np.ndarray]) -> list[Path]:
    paths = []
    for i, img in enumerate(images):
        path = tmp_path / f"img {i}.png"
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


def in_memory_scores(acts: list[dict[str, np.ndarray]], members: list[int]) -> list[float]:
    """The formula written out with every activation in memory (mean threshold)."""
    out = []
    for a in acts:
        total = 0.0
        for layer in a:
            mean = np.mean([acts[m][layer] for m in members], axis=0)
            t = mean.max() / 2
            class_mask = mean >= t
            shared = np.logical_and(a[layer] >= t, class_mask).sum()
            total += math.log(max(shared / class_mask.sum(), EPSILON))
        out.append(total)
    return out


def test_matching_image_scores_higher_than_an_outlier(tmp_path):
    reader = ActivationReader(tiny_backbone())
    reds = [square(0, 2, 2), square(0, 3, 2), square(0, 2, 3), square(0, 3, 3)]
    paths = save_all(tmp_path, [*reds, square(0, 9, 9), square(1, 2, 2)])
    labels = ["red"] * 4 + [None, None]
    result = score_files(reader, paths, labels, batch_size=2)
    assert result.references["red"].count == 4
    matching, shifted = result.scores[0], result.scores[4]
    assert matching > shifted  # same colour but elsewhere shares fewer units
    # Unlabelled images go to the user class their predicted class maps to, else global.
    assert result.group[4] == "red" and result.group[5] == GLOBAL
    assert result.problems == []


def test_streaming_equals_the_in_memory_formula(tmp_path):
    backbone = tiny_backbone()
    reader = ActivationReader(backbone)
    rng = np.random.default_rng(0)
    images = [square(int(rng.integers(0, 2)), *rng.integers(0, 10, 2)) for _ in range(7)]
    paths = save_all(tmp_path, images)
    streamed = score_files(reader, paths, ["c"] * 7, batch_size=3)
    acts = []
    for img in images:
        x = backbone.normalize(torch.from_numpy(img).permute(2, 0, 1)[None].float())
        acts.append({k: v[0].double().numpy() for k, v in reader(x).activations.items()})
    expected = in_memory_scores(acts, list(range(7)))
    np.testing.assert_allclose(streamed.scores, expected, rtol=1e-9)


def test_reference_is_additive():
    rng = np.random.default_rng(1)
    batches = [{"a": torch.from_numpy(rng.random((n, 2, 3, 3)))} for n in (2, 3)]
    one, two = Reference(), Reference()
    one.add({"a": torch.cat([b["a"] for b in batches])})
    for b in batches:
        two.add(b)
    assert one.count == two.count == 5
    torch.testing.assert_close(one.sums["a"], two.sums["a"])
    assert one.thresholds() == pytest.approx(two.thresholds())


def test_empty_layer_is_floored_and_counted():
    ref = Reference()
    ref.add({"a": torch.tensor([[[[1.0, 0.0]]]]), "b": torch.tensor([[[[0.0, 2.0]]]])})
    scores = score_activations(
        {"a": torch.zeros(1, 1, 1, 2), "b": torch.tensor([[[[0.0, 2.0]]]])}, ref
    )
    assert scores.empty_layers.tolist() == [1]
    assert scores.scores.item() == pytest.approx(math.log(EPSILON))


def test_literal_threshold_leaves_every_unit_inactive(tmp_path):
    """The paper's sum-based threshold, as documented: every score hits the floor."""
    reader = ActivationReader(tiny_backbone())
    paths = save_all(tmp_path, [square(0, 2, 2), square(0, 3, 3), square(0, 2, 3)])
    result = score_files(reader, paths, ["red"] * 3, literal=True)
    assert (result.empty_layers == 2).all()
    assert np.allclose(result.scores, 2 * math.log(EPSILON))


def test_one_image_and_unreadable_images_do_not_crash(tmp_path):
    reader = ActivationReader(tiny_backbone())
    (path,) = save_all(tmp_path, [square(1, 4, 4)])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    result = score_files(reader, [path, broken])
    assert result.scores[0] == pytest.approx(0.0)  # alone, it matches its own reference
    assert np.isnan(result.scores[1]) and len(result.problems) == 1
    assert result.group[0] == GLOBAL  # one image is below min_group: the global reference


def test_review_orders():
    scores = np.array([-1.0, np.nan, -3.0, -2.0])
    confidence = np.array([0.2, np.nan, 0.9, 0.5])
    assert review_order(scores, confidence, "score-desc").tolist() == [0, 3, 2, 1]
    assert review_order(scores, confidence, "score-asc").tolist() == [2, 3, 0, 1]
    assert review_order(scores, confidence, "softmax").tolist() == [2, 3, 0, 1]
    shuffled = review_order(scores, confidence, "random", seed=3)
    assert sorted(shuffled.tolist()) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="unknown order"):
        review_order(scores, confidence, "best")


def test_unknown_layer_is_refused():
    with pytest.raises(KeyError, match="no layer"):
        ActivationReader(tiny_backbone(), ["9"])


def test_score_command_stores_scores_and_unverified_pseudo_labels(tmp_path, capsys):
    """Pseudo-labels take the user class that the labelled images of their predicted class
    carry; an image whose group has no user class (coffee) gets none: a network's class
    never becomes the annotator's."""
    from skimage import data

    from core.formats.voc import read_voc
    from core.store.project import Project
    from desktop_app.cli.main import main

    folder = tmp_path / "photos"
    folder.mkdir()
    cat = data.chelsea()
    images = [("cat.png", cat), ("cat mirrored.png", cat[:, ::-1]), ("coffee.png", data.coffee())]
    for name, img in images:
        Image.fromarray(np.ascontiguousarray(img)).save(folder / name)
    assert main(["import", "--images", str(folder)]) == 0
    with Project.open(Project.default_db_path(folder)) as project:
        labelled = project.image_by_path("cat.png").id
        project.box_records.add_box(labelled, "kitty", (100, 20, 350, 290))
        project.set_status(labelled, "done")
    capsys.readouterr()
    argv = ["score", "--project", str(folder), "--json", "--pseudo-labels", "1.0"]
    assert main(argv) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["scored"] == 3 and figures["pseudo_labels_added"] == 1
    assert [q["path"] for q in figures["queue"]] != []
    with Project.open(Project.default_db_path(folder)) as project:
        rows = project.images()
        assert all(r.image_score is not None and r.confidence is not None for r in rows)
        mirrored = project.box_records.boxes(project.image_by_path("cat mirrored.png").id)
        assert [(b.class_name, b.origin, b.verified) for b in mirrored] == [
            ("kitty", "proposal", False)
        ]
        assert project.box_records.boxes(project.image_by_path("coffee.png").id) == []
        assert project.class_records.classes() == ["kitty"]
    out = tmp_path / "voc"
    argv = ["export", "--project", str(folder), "--format", "voc", "--out", str(out)]
    assert main([*argv, "--include-unreviewed"]) == 0  # pseudo-labels are not reviewed
    xml_files = sorted((out / "Annotations").glob("*.xml"))
    assert [x.name for x in xml_files] == ["cat.xml", "cat_mirrored.xml"]
    assert [read_voc(x).verified for x in xml_files] == [True, False]


def test_saved_bank_updates_only_relabelled_images_and_matches_a_fresh_run(tmp_path):
    from core.scoring.image_score_runner import ReferenceBank

    reader = ActivationReader(tiny_backbone())
    rng = np.random.default_rng(2)
    images = [square(int(rng.integers(0, 2)), *rng.integers(0, 10, 2)) for _ in range(12)]
    paths = save_all(tmp_path, images)
    labels: list[str | None] = [None] * 12
    bank = ReferenceBank(signature="tiny")
    first = score_files(reader, paths, labels, min_group=3, bank=bank)
    bank_file = tmp_path / "bank.pt"
    bank.save(bank_file)

    again = ReferenceBank.load(bank_file, "tiny")
    assert again.update(reader, paths, labels, 4, []) == 0  # nothing new: no image read
    labels[0] = labels[5] = "thing"
    assert again.update(reader, paths, labels, 4, []) == 2  # only the relabelled ones
    incremental = score_files(reader, paths, labels, min_group=3, bank=again)
    fresh = score_files(reader, paths, labels, min_group=3)
    np.testing.assert_allclose(incremental.scores, fresh.scores, rtol=1e-9)
    assert incremental.references["thing"].count == 2
    assert not np.allclose(first.scores, fresh.scores)  # the labels did change references

    assert ReferenceBank.load(bank_file, "other backbone").members == {}
    assert ReferenceBank.load(tmp_path / "missing.pt", "tiny").members == {}
