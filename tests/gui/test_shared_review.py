"""Two annotators reviewing one project at once, each in a real window driven by keys: the
image shown is claimed, "next image that needs review" skips the other's, the list shows
who holds which, and a change of a box the other changed since is refused with a message
and the image shown again as it is. On both backends (an SQLite file two apps open, and a
PostgreSQL database; that one skips without the server binaries)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from core.store import Project
from desktop_app.controller import Controller
from tests.helpers.gui import main_window

pytestmark = pytest.mark.usefixtures("isolated_settings")


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    """Where the shared project lives: a file, or a PostgreSQL database."""
    folder = tmp_path / "shared"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        pixels = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img{i}.png")
    if request.param == "sqlite":
        where = str(Project.default_db_path(folder))
    else:
        where = request.getfixturevalue("postgres_server").clean_database()
    with Project.open(where, folder, user="setup") as project:
        project.register_images([f"img{i}.png" for i in range(4)])
        project.class_records.ensure_class("cat")
        for row in project.images():
            project.set_status(row.id, "proposed")
            project.box_records.add_box(
                row.id, None, (10, 10, 60, 50), origin="proposal", state="proposed", hint="x"
            )
    return where, folder


@pytest.fixture
def annotators(qtbot, location):
    """Alice's and Bob's apps: a window, its project (their own user name) and controller;
    Alice opens hers first, so she holds the first image."""
    where, folder = location
    opened = []
    for name in ("alice", "bob"):
        window, canvas = main_window(qtbot)
        project = Project.open(where, folder, user=name)
        controller = Controller(project, window, canvas)
        controller.edits.set_class("cat")
        opened.append((window, project, controller))
    yield opened
    for _window, project, controller in opened:
        controller.disconnect_all()
        project.close()


def press(qtbot, window, key, modifiers=Qt.NoModifier) -> None:
    """A key pressed in ``window``, made the active one first (as a click on it does)."""
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    qtbot.keyClick(window, key, modifiers)


def status_cell(window, image_id: int) -> str:
    model = window.image_model
    return model.data(model.index(model.row_of(image_id), 1))


def test_each_annotator_reviews_other_images_and_sees_who_holds_which(qtbot, annotators):
    (alice_window, alice, alice_c), (bob_window, _bob, bob_c) = annotators
    ids = [row.id for row in alice.images()]
    assert alice_c.current_id() == bob_c.current_id() == ids[0]
    # Bob's app opened on the image Alice holds: it says so.
    assert bob_window.claim_label.isVisibleTo(bob_window)
    assert bob_window.claim_label.text().startswith("alice is reviewing this image (until ")
    assert status_cell(bob_window, ids[0]) == "by alice"  # in his list from the start
    # Ctrl+Shift+D: Bob goes on to the next image nobody holds, and his list names Alice.
    press(qtbot, bob_window, Qt.Key_D, Qt.ControlModifier | Qt.ShiftModifier)
    assert bob_c.current_id() == ids[1]
    assert not bob_window.claim_label.isVisibleTo(bob_window)  # his own image now
    assert status_cell(bob_window, ids[1]) == "proposed"  # his own claim: his status
    alice_c.team.renew()  # what her timer does every 10 s
    assert status_cell(alice_window, ids[1]) == "by bob"
    # Alice accepts her image's only proposal with Space: reviewed, and on past Bob's.
    press(qtbot, alice_window, Qt.Key_Space)
    assert alice.image(ids[0]).status == "done"
    assert alice_c.current_id() == ids[2]
    press(qtbot, bob_window, Qt.Key_Space)
    assert bob_c.current_id() == ids[3]  # ids[2] is Alice's now
    reviewers = {
        e["image_id"]: e["user_name"] for e in alice.box_records.events() if e["action"] == "accept"
    }
    assert reviewers == {ids[0]: "alice", ids[1]: "bob"}
    # Closing lets go of every claim: Alice sees nobody holding anything.
    bob_c.disconnect_all()
    assert alice_c.team.held_by_others() == {}
    assert status_cell(alice_window, ids[3]) == "proposed"


def test_a_change_of_a_box_the_other_changed_is_refused_and_the_image_reloads(qtbot, annotators):
    (alice_window, alice, alice_c), (bob_window, bob, bob_c) = annotators
    image = alice_c.current_id()
    (box,) = alice.box_records.boxes(image)
    assert alice_c.canvas.selected_id() == box.id  # the best proposal, selected
    # Bob, on the same image knowingly, accepts the proposal first.
    press(qtbot, bob_window, Qt.Key_Space)
    assert bob.box_records.boxes(image)[0].state == "accepted"
    # Alice still sees it proposed and rejects it: refused, said, and shown as Bob left it.
    assert alice_c.canvas.boxes()[0].state == "proposed"
    press(qtbot, alice_window, Qt.Key_X)
    message = alice_window.statusBar().currentMessage()
    assert f"Box {box.id} was changed by bob" in message and "not saved" in message
    assert message in alice_window.error_log.toPlainText()
    assert [b.state for b in alice_c.canvas.boxes()] == ["accepted"]
    assert [b.state for b in alice.box_records.boxes(image)] == ["accepted"]
    assert [e["action"] for e in alice.box_records.events() if e["user_name"] == "alice"] == []
    # Space on the image, now that she saw the change: a refusal never marks it reviewed.
    press(qtbot, bob_window, Qt.Key_Z, Qt.ControlModifier)  # Bob undoes: proposed again
    assert alice.box_records.boxes(image)[0].state == "proposed"
    alice_c.canvas.select(box.id)
    press(qtbot, alice_window, Qt.Key_Space)
    assert "changed by bob" in alice_window.statusBar().currentMessage()
    assert alice_c.current_id() == image and alice.image(image).status != "done"
    press(qtbot, bob_window, Qt.Key_Y, Qt.ControlModifier)  # Bob redoes his accept
    alice_c.canvas.select(box.id)
    press(qtbot, alice_window, Qt.Key_I, Qt.ControlModifier)  # refused once more
    assert not alice.box_records.boxes(image)[0].difficult
    assert alice_window.error_log.toPlainText().count("changed by bob") == 3
    # On what she sees now, her change is saved: she makes it difficult (Ctrl+I).
    alice_c.canvas.select(box.id)
    press(qtbot, alice_window, Qt.Key_I, Qt.ControlModifier)
    assert alice.box_records.boxes(image)[0].difficult
    # Bob undoes his accept (Ctrl+Z) on a box Alice changed since: refused too.
    bob_c.show_image_id(image)
    press(qtbot, bob_window, Qt.Key_Z, Qt.ControlModifier)
    assert "changed by alice" in bob_window.statusBar().currentMessage()
    (now,) = bob.box_records.boxes(image)
    assert (now.state, now.difficult) == ("accepted", True)


def test_a_model_version_made_active_elsewhere_reaches_the_other_app(qtbot, annotators):
    (_aw, _alice, alice_c), (_bw, bob, _bob_c) = annotators
    version = bob.learning_records.add_model_version("model-1.pt", "efficientnet_lite0", ["cat"])
    bob.learning_records.set_active_model_version(version)
    with qtbot.waitSignal(alice_c.model_changed, timeout=1000):
        alice_c.team.renew()
    with qtbot.assertNotEmitted(alice_c.model_changed):
        alice_c.team.renew()  # announced once


def test_what_the_other_changes_reaches_the_list_the_note_and_the_classes(qtbot, annotators):
    """Found by a newcomer: a note of the other's claim outlived it, a row fell back to the
    status it had before the other finished it, the other's classes were missing, and a
    claim taken before File > User name stayed under the old name."""
    (alice_window, alice, alice_c), (bob_window, _bob, bob_c) = annotators
    ids = [row.id for row in alice.images()]
    assert bob_window.claim_label.isVisibleTo(bob_window)  # Alice holds ids[0]
    press(qtbot, alice_window, Qt.Key_Space)  # she accepts its proposal: done, next
    assert alice_c.current_id() == ids[1]
    bob_c.team.renew()  # his 10 s look: she let go of ids[0], which is done now
    assert not bob_window.claim_label.isVisibleTo(bob_window)
    assert status_cell(bob_window, ids[0]) == "done"
    assert status_cell(bob_window, ids[1]) == "by alice"
    # Alice renames herself: her claim moves with her.
    alice_c.team.rename("alice.k")
    bob_c.team.renew()
    assert status_cell(bob_window, ids[1]) == "by alice.k"
    alice_c.team.renew()
    assert status_cell(alice_window, ids[1]) == "proposed"  # her own, not "by alice"
    # Bob adds a class; Alice's panel and class field get it on her next look.
    bob_c.edits.set_class("pear")
    alice_c.team.renew()
    assert "pear" in [alice_window.class_combo.itemText(i) for i in range(3)]


def test_the_image_on_screen_shows_what_the_other_changed_unless_a_drag_is_on(qtbot, annotators):
    (alice_window, alice, alice_c), (bob_window, _bob, _bob_c) = annotators
    image = alice_c.current_id()
    (box,) = alice.box_records.boxes(image)
    alice_c.canvas.start_drawing()  # Alice is about to draw: nothing moves under her
    press(qtbot, bob_window, Qt.Key_X)  # Bob, on the same image, rejects the proposal
    alice_c.team.renew()
    assert [b.state for b in alice_c.canvas.all_boxes()] == ["proposed"]
    alice_c.canvas.cancel_drawing()
    alice_c.team.renew()  # her next 10 s look
    assert [b.state for b in alice_c.canvas.all_boxes()] == ["rejected"]
    assert alice_window.statusBar().currentMessage() == (
        "bob changed this image's boxes: shown as they are now"
    )
    assert alice_c.shown_boxes[box.id].updated_by == "bob"


def test_an_image_the_other_finished_between_two_looks_shows_done(qtbot, annotators):
    """Found by a newcomer: an image Bob held for 2 s, between two of Alice's looks,
    stayed "proposed" in her list (and her class counts stale) after he finished it."""
    (alice_window, alice, alice_c), (bob_window, _bob, bob_c) = annotators
    ids = [row.id for row in alice.images()]
    alice_c.team.renew()
    bob_c.show_image_id(ids[2])
    press(qtbot, bob_window, Qt.Key_Space)  # accepted, done, on to the next
    bob_c.show_image_id(ids[3])
    assert status_cell(alice_window, ids[2]) == "proposed"  # before her next look
    alice_c.team.renew()
    assert status_cell(alice_window, ids[2]) == "done"
    counts = alice.class_records.class_counts()
    assert counts["cat"] == 1
    assert "cat (1)" in alice_window.classes_panel.list.item(0).text()
