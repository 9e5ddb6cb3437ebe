"""Proposals and image scores on a local Ray (``ray.init(num_cpus=2)``, one per module)
equal the in-process run; an interrupted run resumes; an unreadable file is reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'salibox[cluster]')")

from core.engine.backbones import DEFAULT_BACKBONE, load_backbone  # noqa: E402
from core.scoring.review_queue import score_project  # noqa: E402
from core.services.cluster import (  # noqa: E402
    Cluster,
    propose_on_ray,
    quiet_data,
    score_on_ray,
)
from core.services.project_proposals import (  # noqa: E402
    ProposalSpec,
    pending_images,
    propose_project,
)
from core.store import Project  # noqa: E402
from tests.helpers.training import write_blob  # noqa: E402

IMAGES = 12
BATCH = 4
BAD = "zz_broken.png"
SPEC = ProposalSpec(backbone=DEFAULT_BACKBONE, device="cpu")
#: One worker: each pipeline starts its workers anew (torch and the backbone load in each),
#: which on this 2-core machine costs more than a second worker gains on a dozen images.
CLUSTER = Cluster(workers=1, gpus_per_worker=0.0, cpus_per_worker=1.0)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    quiet_data()
    yield
    ray.shutdown()


def make_project(folder: Path, labelled: int = 0) -> Project:
    """A dozen small generated images and one file that is not an image."""
    folder.mkdir()
    names = []
    for seed in range(IMAGES):
        name = f"blob{seed:02d}.png"
        box = write_blob(folder / name, seed)
        names.append((name, box))
    (folder / BAD).write_bytes(b"this is not a png")
    project = Project.open(folder / "project.db", root=folder)
    project.register_images([n for n, _ in names] + [BAD])
    for name, box in names[:labelled]:
        image_id = project.image_by_path(name).id
        project.box_records.add_box(image_id, "blob", box, origin="human", state="accepted")
        project.set_status(image_id, "done")
    return project


def proposals_by_path(project: Project) -> dict[str, list[tuple]]:
    return {
        row.path: [(b.box, b.confidence, b.hint, b.id) for b in project.box_records.boxes(row.id)]
        for row in project.images()
    }


def assert_same_boxes(a: dict[str, list[tuple]], b: dict[str, list[tuple]]) -> None:
    assert a.keys() == b.keys()
    for path in a:
        assert len(a[path]) == len(b[path]), path
        for (box_a, conf_a, hint_a, _), (box_b, conf_b, hint_b, _) in zip(
            a[path], b[path], strict=True
        ):
            np.testing.assert_allclose(box_a, box_b, atol=1e-4, rtol=0, err_msg=path)
            assert conf_a == pytest.approx(conf_b, abs=1e-5)
            assert hint_a == hint_b


def test_proposals_resume_and_equal_the_in_process_run(tmp_path):
    local = make_project(tmp_path / "local")
    on_ray = make_project(tmp_path / "ray")
    expected = propose_project(local, SPEC, BATCH)
    assert expected.proposed == IMAGES
    assert [BAD in line for line in expected.problems] == [True]

    first = propose_on_ray(on_ray, SPEC, CLUSTER, BATCH, after_batch=lambda _n: True)
    assert first.pending == IMAGES + 1
    kept = {p: boxes for p, boxes in proposals_by_path(on_ray).items() if boxes}
    assert 0 < len(kept) <= BATCH  # stopped after its first batch
    left = len(pending_images(on_ray, None))
    assert left == IMAGES + 1 - first.proposed - len(first.problems)

    rest = propose_on_ray(on_ray, SPEC, CLUSTER, BATCH)
    assert rest.pending == left
    assert rest.proposed == IMAGES - first.proposed  # only the rest
    done = proposals_by_path(on_ray)
    for path, boxes in kept.items():  # the first batch's proposals were not redone
        assert [b[3] for b in done[path]] == [b[3] for b in boxes]
    problems = first.problems + rest.problems
    assert len(problems) == 1 and BAD in problems[0]
    assert on_ray.image_by_path(BAD).status == "unreadable"
    assert all(on_ray.image_by_path(f"blob{s:02d}.png").status == "proposed" for s in range(12))
    assert_same_boxes(proposals_by_path(local), done)
    # Nothing is pending now but the unreadable file (a run would try it again).
    assert [p for _, p in pending_images(on_ray, None)] == [BAD]
    local.close()
    on_ray.close()


def test_image_scores_equal_the_in_process_run(tmp_path):
    local = make_project(tmp_path / "local", labelled=3)
    on_ray = make_project(tmp_path / "ray", labelled=3)
    backbone = load_backbone(DEFAULT_BACKBONE, None, "cpu")
    expected = score_project(local, backbone, BATCH)
    got = score_on_ray(on_ray, SPEC, CLUSTER, BATCH)
    assert [r.path for r in got.rows] == [r.path for r in expected.rows]
    np.testing.assert_allclose(got.result.scores, expected.result.scores, atol=1e-6, rtol=0)
    np.testing.assert_allclose(got.result.confidence, expected.result.confidence, atol=1e-5, rtol=0)
    assert got.result.group == expected.result.group
    assert got.labels == expected.labels
    assert len(got.result.problems) == 1 and BAD in got.result.problems[0]
    assert {k: r.count for k, r in got.result.references.items()} == {
        k: r.count for k, r in expected.result.references.items()
    }
    stored = {r.path: r.image_score for r in on_ray.images()}
    for row in local.images():
        if row.image_score is None:
            assert stored[row.path] is None
        else:
            assert stored[row.path] == pytest.approx(row.image_score, abs=1e-6)
    # The references were saved beside the database, as the in-process run saves them.
    assert (tmp_path / "ray" / f"project.references-{DEFAULT_BACKBONE}.pt").is_file()
    local.close()
    on_ray.close()
