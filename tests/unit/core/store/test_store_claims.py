"""Two annotators on one project: claims on images under review and optimistic locking of
boxes, on both backends (SQLite and PostgreSQL, see conftest.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from core.store import Project, StaleBoxError, TrainingBusyError
from core.store.rows import BoxSpec, ImageProposalRows
from tests.helpers.store import image_id


@pytest.fixture
def bob(project, folder):
    """A second annotator's app on the same project."""
    with Project.open(project.location, folder, user="bob") as other:
        yield other


@pytest.fixture
def images(project):
    project.register_images([f"img{i}.jpg" for i in range(4)])
    return [row.id for row in project.images()]


def test_a_claim_keeps_others_out_until_released(project, bob, images):
    project.set_user("ann")
    first = images[0]
    held = project.claim_records.claim(first)
    assert held.user_name == "ann"
    assert held.expires_at > datetime.now(UTC) + timedelta(seconds=60)
    assert bob.claim_records.claim(first).user_name == "ann"  # refused: ann holds it
    assert set(bob.claim_records.held_by_others()) == {first}
    assert project.claim_records.held_by_others() == {}  # her own claim is not another's
    project.claim_records.release(first)
    assert bob.claim_records.claim(first).user_name == "bob"
    assert project.claim_records.held_by_others([first])[first].user_name == "bob"


def test_a_renewed_claim_lasts_and_an_expired_one_is_nobody_s(project, bob, images):
    project.set_user("ann")
    short = project.claim_records.claim(images[0], lease=1.0)
    renewed = project.claim_records.claim(images[0], lease=1.5)
    assert renewed.expires_at > short.expires_at
    time.sleep(1.6)  # ann's app was killed: nothing renews her claim
    assert bob.claim_records.held_by_others() == {}
    assert bob.claim_records.claim(images[0]).user_name == "bob"
    assert project.claim_records.claim(images[0]).user_name == "bob"


def test_claim_first_skips_images_others_hold(project, bob, images):
    project.set_user("ann")
    assert project.claim_records.claim_first(images) == images[0]
    assert bob.claim_records.claim_first(images) == images[1]
    assert project.claim_records.claim_first(images) == images[0]  # her own: renewed
    bob.claim_records.claim(images[2])
    assert project.claim_records.claim_first(images[1:3]) is None
    bob.claim_records.release_all()
    assert project.claim_records.claim_first(images[1:3]) == images[1]


def test_claims_of_a_missing_image_raise(project):
    with pytest.raises(KeyError):
        project.claim_records.claim(999)


def test_every_change_moves_the_version_on(project):
    image = image_id(project)
    box = project.box_records.add_box(
        image, None, (2, 2, 6, 6), origin="proposal", state="proposed", hint="tabby"
    )

    def version() -> int:
        return next(b.version for b in project.box_records.boxes(image) if b.id == box)

    seen = [version()]
    project.box_records.accept_box(box, class_name="cat", seen=seen[-1])
    seen.append(version())
    project.box_records.edit_box(box, (1, 1, 5, 5), seen=seen[-1])
    seen.append(version())
    project.box_records.set_flags(box, difficult=True, seen=seen[-1])
    seen.append(version())
    assert seen == [1, 2, 3, 4]


def test_a_change_of_a_box_someone_changed_since_is_refused(project, bob):
    image = image_id(project)
    box = project.box_records.add_box(
        image, None, (2, 2, 6, 6), origin="proposal", state="proposed", hint="tabby"
    )
    (shown,) = project.box_records.boxes(image)  # what ann's app shows
    (bob_sees,) = bob.box_records.boxes(image)
    bob.box_records.edit_box(box, (3, 3, 7, 7), class_name="dog", seen=bob_sees.version)
    refusals = [
        lambda: project.box_records.accept_box(box, class_name="cat", seen=shown.version),
        lambda: project.box_records.reject_box(box, seen=shown.version),
        lambda: project.box_records.edit_box(box, (1, 1, 5, 5), seen=shown.version),
        lambda: project.box_records.set_flags(box, truncated=True, seen=shown.version),
        lambda: project.box_records.delete_box(box, seen=shown.version),
        lambda: project.box_records.restore_box(shown, seen=shown.version),
    ]
    for refused in refusals:
        with pytest.raises(StaleBoxError, match="changed by bob") as caught:
            refused()
        assert (caught.value.box_id, caught.value.by, caught.value.deleted) == (box, "bob", False)
    (now,) = project.box_records.boxes(image)
    assert (now.box, now.class_name, now.state, now.updated_by) == (
        (3, 3, 7, 7),
        "dog",
        "edited",
        "bob",
    )
    assert [e["action"] for e in project.box_records.events()] == ["edit", "add"]
    project.box_records.accept_box(box, seen=now.version)  # on what is shown now: saved
    assert project.box_records.boxes(image)[0].state == "edited"


def test_a_change_of_a_box_deleted_since_is_refused(project, bob):
    image = image_id(project)
    box = project.box_records.add_box(image, "cat", (2, 2, 6, 6))
    (shown,) = project.box_records.boxes(image)
    bob.box_records.delete_box(box, seen=shown.version)
    with pytest.raises(StaleBoxError, match="deleted") as caught:
        project.box_records.edit_box(box, (1, 1, 5, 5), seen=shown.version)
    assert caught.value.deleted
    with pytest.raises(KeyError):  # without a shown version: an unknown box, as before
        project.box_records.edit_box(box, (1, 1, 5, 5))


def test_undo_of_a_delete_continues_the_version(project):
    image = image_id(project)
    box = project.box_records.add_box(image, "cat", (2, 2, 6, 6))
    project.box_records.edit_box(box, (1, 1, 5, 5))
    (before,) = project.box_records.boxes(image)
    project.box_records.delete_box(box, seen=before.version)
    restored = project.box_records.restore_box(before, seen=0)
    assert restored == before and restored.version == before.version + 1
    with pytest.raises(StaleBoxError):  # what was shown before the delete is stale now
        project.box_records.edit_box(box, (0, 0, 4, 4), seen=before.version)


def test_claim_first_hands_out_no_image_finished_meanwhile(project, bob, images):
    project.set_user("ann")
    waiting = list(images)  # what ann's app read a moment ago
    assert bob.claim_records.claim_first(waiting, statuses=("new",)) == images[0]
    bob.set_status(images[0], "done")
    bob.claim_records.release(images[0])
    assert project.claim_records.claim_first(waiting, statuses=("new",)) == images[1]


def test_one_training_at_a_time_across_annotators(project, bob):
    project.set_user("ann")
    run = project.learning_records.start_training_run({"backbone": "x"}, lease=1.0)
    with pytest.raises(TrainingBusyError, match="ann is training a model version"):
        bob.learning_records.start_training_run({"backbone": "x"})
    project.learning_records.renew_training_run(run, lease=1.5)
    time.sleep(1.1)  # past the first lease: renewed, still alive
    with pytest.raises(TrainingBusyError):
        bob.learning_records.start_training_run({"backbone": "x"})
    project.learning_records.finish_training_run(run, "done")
    bob_run = bob.learning_records.start_training_run({"backbone": "x"}, lease=0.5)
    (newest, _ann) = project.learning_records.training_runs()
    assert (newest.id, newest.user_name, newest.status) == (bob_run, "bob", "running")
    time.sleep(0.6)  # bob's app was killed mid-training: its lease runs out
    project.learning_records.start_training_run({"backbone": "x"})


def test_a_batch_of_proposals_is_one_call_and_leaves_the_images_others_hold(project, bob, images):
    project.set_user("ann")
    reviewed, held, broken, fresh = images
    kept = project.box_records.add_box(reviewed, "cat", (1, 1, 9, 9))
    project.box_records.add_box(
        reviewed, None, (2, 2, 8, 8), origin="proposal", state="proposed", hint="old"
    )
    bob.claim_records.claim(held)

    def proposal(hint: str) -> BoxSpec:
        return BoxSpec(None, (3, 3, 7, 7), origin="proposal", state="proposed", hint=hint)

    left = project.box_records.store_proposal_batch(
        [
            ImageProposalRows(reviewed, [proposal("new")], (40, 30)),
            ImageProposalRows(held, [proposal("new")], (40, 30)),
            ImageProposalRows(broken, None),
            ImageProposalRows(fresh, [], (50, 20)),
        ]
    )
    assert left == {held: "bob"}
    assert [(b.id == kept, b.hint) for b in project.box_records.boxes(reviewed)] == [
        (True, None),
        (False, "new"),
    ]
    assert project.box_records.boxes(held) == [] and project.image(held).status == "new"
    assert project.image(broken).status == "unreadable"
    row = project.image(fresh)
    assert (row.status, row.width, row.height) == ("proposed", 50, 20)
    assert (project.image(reviewed).width, project.image(reviewed).height) == (40, 30)


def test_images_changed_since_an_event_are_what_another_app_redraws(project, bob, images):
    newest, changed = project.box_records.images_changed_since(0)
    assert (newest, changed) == (0, [])
    box = bob.box_records.add_box(images[2], "cat", (1, 1, 9, 9))
    bob.box_records.add_box(images[0], "cat", (1, 1, 9, 9))
    newest, changed = project.box_records.images_changed_since(newest)
    assert changed == [images[0], images[2]]
    bob.box_records.delete_box(box)
    assert project.box_records.images_changed_since(newest)[1] == [images[2]]


def test_moving_on_claims_the_next_image_and_lets_go_of_the_last_at_once(project, bob, images):
    project.set_user("ann")
    project.claim_records.claim(images[0])
    project.claim_records.claim(images[1], release=images[0])
    assert set(bob.claim_records.held_by_others()) == {images[1]}
    bob.claim_records.claim(images[2], release=images[1])  # not his: ann keeps it
    assert set(project.claim_records.held_by_others()) == {images[2]}
    assert images[1] in bob.claim_records.held_by_others()
