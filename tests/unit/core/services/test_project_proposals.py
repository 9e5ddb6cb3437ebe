"""A project's proposals in process: what is pending, resuming, unreadable files, and
that they are the proposer's own (the Ray engine's equality is in tests/integration)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.engine.backbones import DEFAULT_BACKBONE, load_backbone
from core.engine.images import load_rgb
from core.engine.proposals import make_proposer
from core.services.project_proposals import ProposalSpec, pending_images, propose_project
from core.store import Project
from tests.helpers.training import write_blob

SPEC = ProposalSpec(backbone=DEFAULT_BACKBONE, device="cpu")


@pytest.fixture
def project(tmp_path: Path):
    for seed in range(5):
        write_blob(tmp_path / f"blob{seed}.png", seed)
    (tmp_path / "broken.png").write_bytes(b"no image")
    project = Project.open(tmp_path / "project.db", root=tmp_path)
    project.register_images([f"blob{s}.png" for s in range(5)] + ["broken.png"])
    yield project
    project.close()


def test_a_stopped_run_resumes_with_the_rest_and_stores_the_proposers_boxes(project):
    first = propose_project(project, SPEC, batch_size=2, after_batch=lambda _n: True)
    assert (first.pending, first.proposed, first.problems) == (6, 2, [])
    done = [project.image_by_path(f"blob{s}.png").id for s in (0, 1)]
    ids = [[b.id for b in project.box_records.boxes(i)] for i in done]
    pending = [p for _, p in pending_images(project, None)]
    assert pending == ["blob2.png", "blob3.png", "blob4.png", "broken.png"]
    rest = propose_project(project, SPEC, batch_size=2)
    assert (rest.pending, rest.proposed) == (4, 3)
    assert len(rest.problems) == 1 and "broken.png" in rest.problems[0]
    assert [[b.id for b in project.box_records.boxes(i)] for i in done] == ids  # not redone
    assert project.image_by_path("broken.png").status == "unreadable"
    assert [p for _, p in pending_images(project, None)] == ["broken.png"]
    # The stored boxes are the proposer's own, zero-shot (the network's class as a hint).
    proposer = make_proposer(load_backbone(DEFAULT_BACKBONE, None, "cpu"), "default")
    row = project.image_by_path("blob3.png")
    assert row is not None and row.status == "proposed"
    (expected,) = proposer.propose([load_rgb(project.root / row.path).rgb])
    stored = project.box_records.boxes(row.id)
    assert [b.hint for b in stored] == [p.class_name for p in expected.proposals]
    np.testing.assert_allclose(
        [b.box for b in stored], [p.box for p in expected.proposals], atol=1e-3
    )
    assert all(b.model_version_id is None and b.class_name is None for b in stored)
    # A model version makes every image pending again: none has its proposals yet.
    version = project.learning_records.add_model_version(
        project.data_folder / "m.pt", DEFAULT_BACKBONE, ["blob"]
    )
    assert len(pending_images(project, version)) == 6


def test_an_image_an_annotator_is_reviewing_is_left_for_the_next_run(project):
    held = project.image_by_path("blob1.png").id
    with Project.open(project.location, project.root, user="bob") as bob:
        bob.claim_records.claim(held)
        report = propose_project(project, SPEC, batch_size=3)
        assert (report.pending, report.proposed, report.held) == (6, 4, 1)
        assert project.box_records.boxes(held) == [] and project.image(held).status == "new"
        bob.claim_records.release(held)
    again = propose_project(project, SPEC, batch_size=3)
    assert (again.pending, again.proposed, again.held) == (2, 1, 0)  # and broken.png
    assert project.box_records.boxes(held)
