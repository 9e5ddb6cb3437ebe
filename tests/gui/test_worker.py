"""The proposal worker (desktop_app.background.worker) and its job queue
(desktop_app.background.jobs).

The worker tests run the real default backbone on a real SQLite project with small images.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QCoreApplication

from core.store import Project
from desktop_app.background.jobs import JobQueue, ProposeJob
from desktop_app.background.worker import LABEL, NO_IMAGE, ProposalWorker
from desktop_app.background.worker_thread import stop_worker
from tests.helpers.worker import LONG, SIZES, job_list

# --- JobQueue, without Qt -------------------------------------------------------------------


def jobs(*ids: int, force: bool = False) -> list[ProposeJob]:
    return [ProposeJob(i, Path(f"{i}.png"), force) for i in ids]


def ids(taken: list[ProposeJob]) -> list[int]:
    return [j.image_id for j in taken]


def test_queue_keeps_submission_order():
    queue = JobQueue()
    queue.put_many(jobs(5, 1, 9))
    queue.put_many(jobs(3))
    assert len(queue) == 4
    assert ids(queue.take(2, timeout=0)) == [5, 1]
    assert ids(queue.take(10, timeout=0)) == [9, 3]
    assert len(queue) == 0


def test_prioritize_moves_images_to_the_front_in_the_given_order():
    queue = JobQueue()
    queue.put_many(jobs(1, 2, 3, 4, 5, 6))
    queue.prioritize([5, 99, 3])  # 99 is not queued: ignored
    assert len(queue) == 6
    queue.prioritize([6, 5])  # the latest call comes first
    assert ids(queue.take(10, timeout=0)) == [6, 5, 3, 1, 2, 4]


def test_queue_holds_an_image_once_and_keeps_force():
    queue = JobQueue()
    assert queue.put_many(jobs(1, 2)) == 2
    assert queue.put_many([*jobs(2, force=True), *jobs(3)]) == 1
    taken = queue.take(10, timeout=0)
    assert ids(taken) == [1, 2, 3]
    assert [j.force for j in taken] == [False, True, False]


def test_take_returns_nothing_on_timeout_and_clear_drops_everything():
    queue = JobQueue()
    assert queue.take(4, timeout=0.05) == []
    queue.put_many(jobs(1, 2, 3))
    assert queue.clear() == 3
    assert len(queue) == 0
    assert queue.take(4, timeout=0.05) == []


def test_close_wakes_a_waiting_taker_and_refuses_new_jobs():
    queue = JobQueue()
    result: list[list[ProposeJob]] = []
    taker = threading.Thread(target=lambda: result.append(queue.take(4, timeout=60)))
    taker.start()
    queue.close()
    taker.join(timeout=30)
    assert not taker.is_alive()
    assert result == [[]]
    assert queue.put_many(jobs(1)) == 0
    assert queue.take(4, timeout=0) == []
    assert not queue.wait(0)


def test_take_wakes_when_jobs_arrive():
    queue = JobQueue()
    result: list[list[ProposeJob]] = []
    taker = threading.Thread(target=lambda: result.append(queue.take(4, timeout=60)))
    taker.start()
    queue.put_many(jobs(7))
    taker.join(timeout=30)
    assert ids(result[0]) == [7]


# --- the worker ------------------------------------------------------------------------------


def finished(label: str, done: int, total: int) -> bool:
    return done >= total


def run_to_end(qtbot, worker: ProposalWorker, jobs: list[ProposeJob], force: bool = False):
    """Submit and wait until the worker reports the submission done."""
    with qtbot.waitSignal(worker.progress, timeout=LONG, check_params_cb=finished):
        worker.submit(jobs, force=force)


def test_every_image_gets_proposals_a_status_and_a_map(qtbot, start, project, image_ids):
    _thread, worker = start(batch_size=4)
    ready: list[int] = []
    in_gui_thread: list[bool] = []
    progress: list[tuple[str, int, int]] = []
    worker.proposals_ready.connect(ready.append)
    # a lambda has no thread of its own: it must still run in the GUI thread
    worker.proposals_ready.connect(
        lambda _id: in_gui_thread.append(threading.current_thread() is threading.main_thread())
    )
    worker.progress.connect(lambda *args: progress.append(args))

    run_to_end(qtbot, worker, job_list(project, image_ids))
    qtbot.waitUntil(lambda: len(ready) == len(image_ids), timeout=LONG)

    assert sorted(ready) == image_ids
    assert in_gui_thread and all(in_gui_thread)
    assert progress[-1] == (LABEL, 6, 6)
    assert all(total == 6 and 0 <= done <= 6 for _, done, total in progress)
    for image_id, size in zip(image_ids, SIZES, strict=True):
        row = project.image(image_id)
        assert row.status == "proposed"
        assert (row.width, row.height) == size
        boxes = project.box_records.boxes(image_id)
        assert boxes
        for b in boxes:
            assert (b.origin, b.state, b.method) == ("proposal", "proposed", "default")
            assert 0 <= b.box[0] < b.box[2] <= size[0] and 0 <= b.box[1] < b.box[3] <= size[1]
            assert 0 < b.confidence <= 1
        on_disk = np.load(project.db_path.parent / "maps" / f"{image_id}.npy")
        assert on_disk.dtype == np.float16 and on_disk.shape == (224, 224)
        shown = worker.saliency(image_id)
        assert shown.dtype == np.float32 and shown.shape == (224, 224)
        assert not shown.flags.writeable
        assert np.isfinite(shown).all() and shown.min() >= 0 and shown.max() <= 1
        np.testing.assert_allclose(shown, on_disk.astype(np.float32), atol=1e-3)
    assert worker.saliency(10_000) is None
    assert list((project.db_path.parent / "maps").glob(".*tmp")) == []

    # A worker for the reopened project shows the stored maps without proposing again.
    reopened = ProposalWorker(project.db_path)
    for image_id in image_ids:
        np.testing.assert_allclose(
            reopened.saliency(image_id), worker.saliency(image_id), atol=1e-3
        )


def test_prioritized_image_comes_first(qtbot, start, project, image_ids):
    _thread, worker = start(batch_size=1)
    ready: list[int] = []
    worker.proposals_ready.connect(ready.append)
    worker.submit(job_list(project, image_ids))
    worker.prioritize([image_ids[-1]])
    qtbot.waitUntil(lambda: len(ready) == len(image_ids), timeout=LONG)
    # The first image may already be in hand when prioritize() is called, the last never.
    assert image_ids[-1] in ready[:2]
    assert sorted(ready) == image_ids


def test_cancel_empties_the_queue_and_stops_proposals(qtbot, start, project, image_ids):
    _thread, worker = start(batch_size=1)
    ready: list[int] = []
    events: list[object] = []
    worker.proposals_ready.connect(ready.append)
    worker.proposals_ready.connect(events.append)
    worker.cancelled.connect(lambda: events.append("cancelled"))
    progress: list[tuple[str, int, int]] = []
    worker.progress.connect(lambda *args: progress.append(args))

    first, rest, last = image_ids[0], image_ids[1:-1], image_ids[-1]
    run_to_end(qtbot, worker, job_list(project, [first]))  # the model is loaded now
    # Hold the worker inside its next forward pass, so a batch is in hand at the cancel.
    proposer = worker._proposer
    entered, release = threading.Event(), threading.Event()

    def held(images, sizes=None):
        entered.set()
        release.wait(60)
        return type(proposer).propose(proposer, images, sizes)

    proposer.propose = held
    try:
        worker.submit(job_list(project, rest))
        qtbot.waitUntil(entered.is_set, timeout=LONG)
        with qtbot.waitSignal(worker.cancelled, timeout=LONG):
            worker.cancel()
            assert worker.pending() == 0
            release.set()
    finally:
        release.set()
    del proposer.propose
    assert progress[-1][1] == progress[-1][2]  # the status bar is told it is over
    assert all(
        project.box_records.boxes(i) == [] for i in rest
    )  # in hand: abandoned; queued: dropped

    # A job submitted after the cancel is processed; nothing cancelled arrives before it.
    with qtbot.waitSignal(worker.proposals_ready, timeout=LONG):
        worker.submit(job_list(project, [last]))
    assert events[events.index("cancelled") + 1 :] == [last]
    assert ready == [first, last]
    assert all(project.box_records.boxes(i) == [] for i in rest)


def test_unreadable_images_are_reported_and_others_proposed(
    qtbot, start, folder, project, image_ids
):
    (folder / "broken.jpg").write_bytes(b"this is not a JPEG")
    project.register_images(["broken.jpg", "gone.png"])
    broken = project.image_by_path("broken.jpg").id
    gone = project.image_by_path("gone.png").id
    _thread, worker = start(project, batch_size=3)  # the Project object itself, shared
    failures: dict[int, str] = {}
    worker.failed.connect(lambda image_id, reason: failures.__setitem__(image_id, reason))
    ready: list[int] = []
    worker.proposals_ready.connect(ready.append)

    todo = [*image_ids[:2], broken, gone, *image_ids[2:]]
    run_to_end(qtbot, worker, job_list(project, todo))
    qtbot.waitUntil(lambda: len(ready) == len(image_ids) + 2, timeout=LONG)

    assert set(failures) == {broken, gone}
    assert "broken.jpg" in failures[broken] and "not an image" in failures[broken]
    assert "gone.png" in failures[gone] and "no such file" in failures[gone]
    assert sorted(ready) == sorted([*image_ids, broken, gone])  # the list shows the mark
    for image_id in (broken, gone):
        assert project.image(image_id).status == "unreadable"
        assert project.box_records.boxes(image_id) == []
        assert worker.saliency(image_id) is None
    for image_id in image_ids:
        assert project.image(image_id).status == "proposed"
        boxes = project.box_records.boxes(image_id)
        # zero-shot: no class of the annotator's, the network's guess kept as a hint only
        assert boxes and all(b.class_name is None and b.hint for b in boxes)
    assert project.class_records.classes() == []


def test_resubmitting_skips_done_images_and_force_replaces_proposals(
    qtbot, start, project, image_ids
):
    a, b, human = image_ids[0], image_ids[1], image_ids[2]
    drawn = project.box_records.add_box(human, "cat", (1, 1, 20, 20))
    others = [i for i in image_ids if i != human]
    _thread, worker = start(batch_size=4)
    ready: list[int] = []
    worker.proposals_ready.connect(ready.append)

    run_to_end(qtbot, worker, job_list(project, image_ids))
    qtbot.waitUntil(lambda: len(ready) == len(others), timeout=LONG)
    assert sorted(ready) == others
    assert [x.id for x in project.box_records.boxes(human)] == [drawn]  # a human box: skipped
    assert project.image(human).status == "new"
    before = {i: project.box_records.boxes(i) for i in image_ids}

    ready.clear()
    run_to_end(qtbot, worker, job_list(project, image_ids))  # nothing to do
    assert ready == []
    assert {i: project.box_records.boxes(i) for i in image_ids} == before

    kept = before[a][0]
    project.box_records.accept_box(kept.id, class_name="cat")
    run_to_end(qtbot, worker, job_list(project, [a, b]), force=True)
    qtbot.waitUntil(lambda: sorted(ready) == [a, b], timeout=LONG)
    for image_id in (a, b):
        now = project.box_records.boxes(image_id)
        proposed = [x for x in now if x.state == "proposed"]
        old_ids = {x.id for x in before[image_id]}
        assert len(proposed) == len(before[image_id])  # replaced, not added to
        assert not old_ids & {x.id for x in proposed}
        assert sorted(x.box for x in proposed) == sorted(x.box for x in before[image_id])
        assert project.image(image_id).status == "proposed"
    accepted = [x for x in project.box_records.boxes(a) if x.state == "accepted"]
    assert [x.id for x in accepted] == [kept.id]


def test_images_another_annotator_holds_are_not_proposed(qtbot, start, project, image_ids):
    """Bob is reviewing one image: Alice's worker neither proposes it nor, once it has
    proposals, proposes it again; once he lets go, it does."""
    held, free = image_ids[0], image_ids[1]
    with Project.open(project.location, project.root, user="bob") as bob:
        bob.claim_records.claim(held)
        _thread, worker = start(batch_size=4)
        run_to_end(qtbot, worker, job_list(project, [held, free]))
        assert project.box_records.boxes(held) == [] and project.image(held).status == "new"
        assert project.box_records.boxes(free) and project.image(free).status == "proposed"
        bob.claim_records.release(held)
    run_to_end(qtbot, worker, job_list(project, [held]))
    assert project.box_records.boxes(held) and project.image(held).status == "proposed"


def test_an_active_version_that_cannot_be_read_replaces_no_ones_proposals(
    qtbot, start, project, image_ids
):
    """Found by a newcomer: another annotator's model file not yet on this mount made the
    worker replace that annotator's proposals with zero-shot ones."""
    proposed, new = image_ids[0], image_ids[1]
    _thread, worker = start(batch_size=4)
    run_to_end(qtbot, worker, job_list(project, [proposed]))
    before = [b.id for b in project.box_records.boxes(proposed)]
    version = project.learning_records.add_model_version(
        project.data_folder / "models" / "not-here-yet.pt", "efficientnet_lite0", ["cat"]
    )
    project.learning_records.set_active_model_version(version)
    failures: list[str] = []
    worker.failed.connect(lambda _image_id, reason: failures.append(reason))
    run_to_end(qtbot, worker, job_list(project, [proposed]), force=True)  # a re-proposal
    run_to_end(qtbot, worker, job_list(project, [new]))
    assert [b.id for b in project.box_records.boxes(proposed)] == before  # kept
    assert project.box_records.boxes(new) and project.image(new).status == "proposed"
    assert len(failures) == 1 and f"could not load model version {version}" in failures[0]
    assert "images without proposals only" in failures[0]


def test_a_reproposal_of_the_image_on_screen_waits_until_it_is_left(
    qtbot, start, project, image_ids
):
    """Found by a newcomer: arriving on an image that a re-proposal pass had in hand, its
    proposal was swapped under the mouse."""
    shown, other = image_ids[0], image_ids[1]
    _thread, worker = start(batch_size=4)
    run_to_end(qtbot, worker, job_list(project, [shown, other]))
    before = {i: [b.id for b in project.box_records.boxes(i)] for i in (shown, other)}
    worker.hold(shown)
    run_to_end(qtbot, worker, job_list(project, [shown, other]), force=True)
    assert [b.id for b in project.box_records.boxes(shown)] == before[shown]  # untouched
    assert [b.id for b in project.box_records.boxes(other)] != before[other]  # proposed again
    assert worker.take_deferred(shown) and not worker.take_deferred(shown)
    assert not worker.take_deferred(other)


def test_map_cache_is_bounded(qtbot, start, project, image_ids):
    _thread, worker = start(batch_size=2, cache_size=2)
    ready: list[int] = []
    worker.proposals_ready.connect(ready.append)
    run_to_end(qtbot, worker, job_list(project, image_ids))
    qtbot.waitUntil(lambda: len(ready) == len(image_ids), timeout=LONG)
    for path in (project.db_path.parent / "maps").glob("*.npy"):
        path.unlink()
    in_memory = [i for i in image_ids if worker.saliency(i) is not None]
    assert in_memory == ready[-2:]


def test_model_that_cannot_load_is_reported_and_the_worker_keeps_running(
    qtbot, start, tmp_path, project, image_ids
):
    missing = tmp_path / "missing-weights.pth"
    thread, worker = start(backbone_name="resnet18", weights_path=missing)
    failures: list[tuple[int, str]] = []
    worker.failed.connect(lambda image_id, reason: failures.append((image_id, reason)))

    for attempt in (1, 2):  # the next submission tries again
        with qtbot.waitSignal(worker.failed, timeout=LONG):
            worker.submit(job_list(project, image_ids))
        assert len(failures) == attempt
        image_id, reason = failures[-1]
        assert image_id == NO_IMAGE
        assert "resnet18" in reason and "missing-weights.pth" in reason
        qtbot.waitUntil(lambda: worker.pending() == 0, timeout=LONG)
        assert thread.isRunning()
    assert all(project.box_records.boxes(i) == [] for i in image_ids)


def test_stop_ends_the_thread_cleanly(qtbot, qtlog, start, project, image_ids):
    thread, worker = start(batch_size=1)
    with qtbot.waitSignal(worker.proposals_ready, timeout=LONG):
        worker.submit(job_list(project, image_ids))
    assert stop_worker(thread, worker)
    assert thread.isFinished()
    assert worker.thread() is QCoreApplication.instance().thread()  # handed back
    worker.submit(job_list(project, image_ids))  # ignored once stopped
    assert worker.pending() == 0
    idle_thread, idle_worker = start()  # never given a job: no model loaded
    assert stop_worker(idle_thread, idle_worker)
    assert idle_thread.isFinished()
    assert not [r for r in qtlog.records if "QThread" in r.message]


def test_boxes_of_a_large_image_are_in_its_own_pixels(qtbot, start, tmp_path, project):
    """The worker shrinks images before batching; boxes still come back in full pixels."""
    big = project.root / "big photo.png"
    Image.fromarray(np.full((1200, 1600, 3), 30, dtype=np.uint8)).save(big)
    project.register_images(["big photo.png"])
    image_id = project.image_by_path("big photo.png").id
    _thread, worker = start(batch_size=2)
    with qtbot.waitSignal(worker.proposals_ready, timeout=LONG):
        worker.submit([ProposeJob(image_id, big)])
    boxes = project.box_records.boxes(image_id)
    assert boxes and all(0 <= b.box[0] < b.box[2] <= 1600 for b in boxes)
    assert all(0 <= b.box[1] < b.box[3] <= 1200 for b in boxes)
    assert max(b.box[2] for b in boxes) > 224  # not in network-input pixels
