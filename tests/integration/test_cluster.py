"""Proposals and image scores on a local Ray (``ray.init(num_cpus=2)``, one per module)
equal the in-process run (made once per module); an interrupted run resumes; an unreadable
file is reported. On a PostgreSQL project the workers store the results themselves: the
driver's project refuses every write, and the results still equal the in-process run."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'salibox[cluster]')")

from core.engine.backbones import DEFAULT_BACKBONE, load_backbone  # noqa: E402
from core.scoring.review_queue import ProjectScores, references_file, score_project  # noqa: E402
from core.services.cluster import Cluster, quiet_data  # noqa: E402
from core.services.cluster_proposals import propose_on_ray  # noqa: E402
from core.services.cluster_scores import score_on_ray  # noqa: E402
from core.services.project_proposals import (  # noqa: E402
    ProposalSpec,
    pending_images,
    propose_project,
)
from core.store import Project, StoreError  # noqa: E402
from tests.helpers.training import write_blob  # noqa: E402

IMAGES = 12
#: Images with an accepted box of a verified person: not proposed; the score's labels.
LABELLED = 3
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


def make_project(folder: Path, location: str | None = None, user: str | None = None) -> Project:
    """A dozen small generated images (the same bytes in every folder), one file that is
    not an image, and the first :data:`LABELLED` images' boxes accepted; in an SQLite file
    in the folder unless ``location`` names another database."""
    boxes = {}
    if not folder.exists():
        folder.mkdir()
        (folder / BAD).write_bytes(b"this is not a png")
    for seed in range(IMAGES):
        name = f"blob{seed:02d}.png"
        boxes[name] = write_blob(folder / name, seed)
    project = Project.open(location or folder / "project.db", root=folder, user=user)
    project.register_images([*boxes, BAD])
    for name, box in list(boxes.items())[:LABELLED]:
        image_id = project.image_by_path(name).id
        project.box_records.add_box(image_id, "blob", box, origin="human", state="accepted")
        project.set_status(image_id, "done")
    return project


def proposals_by_path(project: Project) -> dict[str, list[tuple]]:
    return {
        row.path: [
            (b.box, b.confidence, b.hint, b.id)
            for b in project.box_records.boxes(row.id)
            if b.origin == "proposal"
        ]
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


@dataclass
class Reference:
    """The in-process run on a project of :func:`make_project`: proposals, then scores."""

    folder: Path
    proposals: dict[str, list[tuple]]
    problems: list[str]
    scores: ProjectScores
    stored: dict[str, float | None]  # each image's stored image score
    bank: Path  # the references the score kept beside the database


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Reference:
    folder = tmp_path_factory.mktemp("reference") / "local"
    with make_project(folder) as local:
        report = propose_project(local, SPEC, BATCH)
        assert report.proposed == IMAGES - LABELLED
        scores = score_project(local, load_backbone(DEFAULT_BACKBONE, None, "cpu"), BATCH)
        return Reference(
            folder,
            proposals_by_path(local),
            report.problems,
            scores,
            {r.path: r.image_score for r in local.images()},
            references_file(local, DEFAULT_BACKBONE),
        )


def assert_same_scores(got: ProjectScores, project: Project, expected: Reference) -> None:
    want = expected.scores
    assert [r.path for r in got.rows] == [r.path for r in want.rows]
    np.testing.assert_allclose(got.result.scores, want.result.scores, atol=1e-6, rtol=0)
    np.testing.assert_allclose(got.result.confidence, want.result.confidence, atol=1e-5, rtol=0)
    assert got.result.group == want.result.group
    assert got.labels == want.labels
    assert len(got.result.problems) == 1 and BAD in got.result.problems[0]
    assert {k: r.count for k, r in got.result.references.items()} == {
        k: r.count for k, r in want.result.references.items()
    }
    stored = {r.path: r.image_score for r in project.images()}
    assert stored.keys() == expected.stored.keys()
    for path, score in expected.stored.items():
        if score is None:
            assert stored[path] is None, path
        else:
            assert stored[path] == pytest.approx(score, abs=1e-6), path


def test_proposals_resume_and_equal_the_in_process_run(tmp_path, reference):
    assert [BAD in line for line in reference.problems] == [True]
    on_ray = make_project(tmp_path / "ray")
    pending = IMAGES - LABELLED + 1
    first = propose_on_ray(on_ray, SPEC, CLUSTER, BATCH, after_batch=lambda _n: True)
    assert first.pending == pending
    kept = {p: boxes for p, boxes in proposals_by_path(on_ray).items() if boxes}
    assert 0 < len(kept) <= BATCH  # stopped after its first batch
    left = len(pending_images(on_ray, None))
    assert left == pending - first.proposed - len(first.problems)

    rest = propose_on_ray(on_ray, SPEC, CLUSTER, BATCH)
    assert rest.pending == left
    assert rest.proposed == IMAGES - LABELLED - first.proposed  # only the rest
    done = proposals_by_path(on_ray)
    for path, boxes in kept.items():  # the first batch's proposals were not redone
        assert [b[3] for b in done[path]] == [b[3] for b in boxes]
    problems = first.problems + rest.problems
    assert len(problems) == 1 and BAD in problems[0]
    assert on_ray.image_by_path(BAD).status == "unreadable"
    statuses = [on_ray.image_by_path(f"blob{s:02d}.png").status for s in range(IMAGES)]
    assert statuses == ["done"] * LABELLED + ["proposed"] * (IMAGES - LABELLED)
    assert_same_boxes(reference.proposals, done)
    # Nothing is pending now but the unreadable file (a run would try it again).
    assert [p for _, p in pending_images(on_ray, None)] == [BAD]
    on_ray.close()


def test_image_scores_equal_the_in_process_run(tmp_path, reference):
    on_ray = make_project(tmp_path / "ray")
    got = score_on_ray(on_ray, SPEC, CLUSTER, BATCH)
    assert_same_scores(got, on_ray, reference)
    # The references were saved beside the database, as the in-process run saves them.
    assert (tmp_path / "ray" / f"project.references-{DEFAULT_BACKBONE}.pt").is_file()
    on_ray.close()


def test_on_postgresql_the_workers_write_and_equal_the_in_process_run(
    postgres_server, reference, monkeypatch
):
    """The project is in PostgreSQL, its images are the reference's folder (the mount every
    node shares). The driver's project refuses every write, so what is stored the workers
    stored: the proposals, the unreadable file's status and the scores, as the annotator
    who ran the command. The score's first pass (sums only, nothing stored) is the SQLite
    test's: its references are the in-process run's, copied to the data folder, so this
    run has only the second pass, whose workers store the scores."""
    user = "ray annotator"
    on_ray = make_project(reference.folder, postgres_server.clean_database(), user=user)
    bank = references_file(on_ray, DEFAULT_BACKBONE)
    bank.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(reference.bank, bank)

    def driver_writes(*_args, **_kwargs):
        raise AssertionError("the driver wrote to a PostgreSQL project")

    for owner, name in [
        (on_ray.box_records, "replace_proposals"),
        (on_ray.box_records, "add_boxes"),
        (on_ray, "set_status"),
        (on_ray, "set_image_size"),
        (on_ray, "set_scores"),
    ]:
        monkeypatch.setattr(owner, name, driver_writes)
    seen = []
    report = propose_on_ray(on_ray, SPEC, CLUSTER, BATCH, after_batch=seen.append)
    assert sum(seen) == report.pending == IMAGES - LABELLED + 1
    assert report.proposed == IMAGES - LABELLED
    assert len(report.problems) == 1 and BAD in report.problems[0]
    done = proposals_by_path(on_ray)
    assert_same_boxes(reference.proposals, done)
    assert report.boxes == sum(len(b) for b in done.values())
    proposed = [b for row in on_ray.images() for b in on_ray.box_records.boxes(row.id)]
    assert {b.updated_by for b in proposed if b.origin == "proposal"} == {user}
    assert on_ray.image_by_path(BAD).status == "unreadable"
    assert on_ray.image_by_path("blob11.png").status == "proposed"
    assert on_ray.image_by_path("blob11.png").width == 160

    got = score_on_ray(on_ray, SPEC, CLUSTER, BATCH)
    assert_same_scores(got, on_ray, reference)
    on_ray.close()


def test_a_worker_that_cannot_reach_the_database_is_one_store_error(tmp_path, monkeypatch):
    """A node that cannot reach the PostgreSQL server (here: no server at the port the
    workers are given) stops the run with the store's line, not a dead Ray actor."""
    from core.services import cluster, cluster_proposals

    project = make_project(tmp_path / "ray")
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/salibox"
    monkeypatch.setattr(
        cluster_proposals,
        "worker_store",
        lambda p: cluster.WorkerStore(unreachable, str(p.root), p.user),
    )
    with pytest.raises(StoreError, match=r"a Ray worker could not store.*cannot be reached"):
        propose_on_ray(project, SPEC, CLUSTER, BATCH)
    assert len(pending_images(project, None)) == IMAGES - LABELLED + 1  # nothing stored
    project.close()
