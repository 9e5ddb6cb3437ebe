"""The review loop through real widgets: after each step the database holds what the
screen shows."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QRectF, QSettings, Qt

from core.formats.voc import read_voc
from core.services.exporter import export_project
from core.store import Project
from desktop_app.controller import Controller
from tests.helpers.gui import main_window
from ui.canvas.view import Canvas


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path):
    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "photos ✓"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)).save(folder / name)
    with Project.open(Project.default_db_path(folder), folder) as opened:
        opened.register_images(["a.png", "b.png", "c.png"])
        first = opened.image_by_path("a.png").id
        opened.box_records.add_box(  # a zero-shot proposal: no class, the network's guess as a hint
            first,
            None,
            (20, 20, 80, 70),
            origin="proposal",
            state="proposed",
            confidence=0.9,
            method="default",
            hint="tabby",
        )
        opened.class_records.ensure_class("dog")
        yield opened


@pytest.fixture
def app(qtbot, project):
    window, canvas = main_window(qtbot, (1000, 700), active=True)
    window.auto_advance_action.setChecked(
        False
    )  # these tests stay on one image; see the session test
    heat = np.zeros((224, 224), np.float32)
    heat[40:120, 40:140] = 1.0
    controller = Controller(project, window, canvas, saliency=lambda _id: heat)
    return window, canvas, controller


def stored(project: Project, image_id: int) -> list[tuple]:
    """What the database holds for an image: (class, rounded box, state), by id."""
    return [
        (b.class_name, tuple(round(v) for v in b.box), b.state)
        for b in sorted(project.box_records.boxes(image_id), key=lambda b: b.id)
    ]


def shown(canvas: Canvas) -> list[tuple]:
    """What the canvas shows: the same tuples for its visible boxes."""
    return [
        (b.class_name, tuple(round(v) for v in b.box), b.state)
        for b in sorted(canvas.boxes(), key=lambda b: b.id)
        if b.state != "rejected"
    ]


def view_point(canvas: Canvas, x: float, y: float) -> QPoint:
    return canvas.mapFromScene(x, y)


def drag(qtbot, canvas: Canvas, start: tuple[float, float], end: tuple[float, float]) -> None:
    viewport = canvas.viewport()
    a, b = view_point(canvas, *start), view_point(canvas, *end)
    qtbot.mousePress(viewport, Qt.LeftButton, pos=a)
    qtbot.mouseMove(viewport, pos=QPoint((a.x() + b.x()) // 2, (a.y() + b.y()) // 2))
    qtbot.mouseMove(viewport, pos=b)
    qtbot.mouseRelease(viewport, Qt.LeftButton, pos=b)


def test_review_loop_keeps_screen_and_database_equal(qtbot, app, project):
    window, canvas, controller = app
    first = controller.current_id()
    # The proposal has no class yet: it shows the one it will take, the current class.
    assert stored(project, first) == [(None, (20, 20, 80, 70), "proposed")]
    assert shown(canvas) == [("dog", (20, 20, 80, 70), "proposed")]
    assert canvas.boxes()[0].tentative and canvas.boxes()[0].hint == "tabby"

    # Draw a box with W and the mouse: a human box of the current class is saved.
    qtbot.keyClick(window, Qt.Key_W)
    drag(qtbot, canvas, (100, 30), (180, 100))
    boxes = stored(project, first)
    assert len(boxes) == 2 and shown(canvas)[1] == boxes[1]
    drawn = max(project.box_records.boxes(first), key=lambda b: b.id)
    assert (drawn.origin, drawn.state, drawn.class_name) == ("human", "accepted", "dog")
    assert all(abs(v - e) <= 2 for v, e in zip(drawn.box, (100, 30, 180, 100), strict=True))

    # Type a new class and press Return: it becomes a class and the selected box's.
    canvas.select(drawn.id)
    qtbot.mouseClick(window.class_combo.lineEdit(), Qt.LeftButton)
    qtbot.wait(10)  # the click selects the name shown, so typing replaces it
    qtbot.keyClicks(window.class_combo.lineEdit(), "cat")
    qtbot.keyClick(window.class_combo.lineEdit(), Qt.Key_Return)
    assert project.class_records.classes() == ["dog", "cat"]
    assert project.box_records.boxes(first)[-1].class_name == "cat"
    assert window.current_class() == "cat"
    # Key 1 picks the first class for the selected box.
    qtbot.keyClick(window, Qt.Key_1)
    assert project.box_records.boxes(first)[-1].class_name == "dog"
    assert shown(canvas)[1] == stored(project, first)[1]

    # Accept the proposal with Space: saved with the class shown on it.
    proposal = project.box_records.boxes(first)[0]
    canvas.select(proposal.id)
    qtbot.keyClick(window, Qt.Key_Space)
    accepted = project.box_records.boxes(first)[0]
    assert (accepted.class_name, accepted.state) == ("dog", "accepted")
    assert shown(canvas) == stored(project, first)
    assert project.image(first).status == "done"

    # Undo and redo, every step back to the drawing and forward again.
    after_all = stored(project, first)
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier)
    assert project.box_records.boxes(first)[0].state == "proposed"
    assert project.box_records.boxes(first)[0].class_name is None
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier)  # class change by key 1
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier)  # class change by typing
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier)  # drawing
    assert stored(project, first) == [(None, (20, 20, 80, 70), "proposed")]
    for _ in range(4):
        qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert stored(project, first) == after_all == shown(canvas)
    assert (
        max(b.id for b in project.box_records.boxes(first)) == drawn.id
    )  # redo restores the same id

    # Next image with D.
    qtbot.keyClick(window, Qt.Key_D)
    second = controller.current_id()
    assert second != first and project.image(second).path == "b.png"
    assert shown(canvas) == stored(project, second) == []


def test_reject_and_delete_are_saved_and_undoable(qtbot, app, project):
    window, canvas, controller = app
    image = controller.current_id()
    proposal = project.box_records.boxes(image)[0]
    canvas.select(proposal.id)
    qtbot.keyClick(window, Qt.Key_X)
    assert project.box_records.boxes(image)[0].state == "rejected"
    assert shown(canvas) == []
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier)
    assert project.box_records.boxes(image)[0].state == "proposed"
    canvas.select(proposal.id)
    qtbot.keyClick(canvas, Qt.Key_Delete)
    assert project.box_records.boxes(image) == []
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier)
    assert [b.id for b in project.box_records.boxes(image)] == [proposal.id]


def test_sort_and_next_unreviewed(qtbot, app, project):
    window, _canvas, controller = app
    ids = [r.id for r in project.images(order_by="path")]
    project.set_scores([(ids[0], -3.0, 0.5), (ids[1], -1.0, 0.2), (ids[2], -2.0, 0.9)])
    controller.sort("image_score", True)
    assert [r.path for r in controller.rows] == ["b.png", "c.png", "a.png"]
    project.set_status(ids[1], "done")
    controller.show_image_id(ids[1])
    qtbot.keyClick(window, Qt.Key_D, Qt.ControlModifier | Qt.ShiftModifier)
    assert project.image(controller.current_id()).status in ("new", "proposed", "in_review")
    assert controller.current_id() != ids[1]


def test_heatmap_toggle_reaches_the_canvas(qtbot, app):
    window, canvas, _ = app
    before = canvas.heatmap_visible()
    qtbot.keyClick(window, Qt.Key_H)
    assert canvas.heatmap_visible() != before


def test_class_filter_lists_only_images_with_that_class(qtbot, app, project):
    window, _canvas, controller = app
    second = project.image_by_path("b.png").id
    project.box_records.add_box(second, "dog", (1, 1, 50, 50))
    controller.reload_list()
    controller.refresh_classes()
    combo = window.image_list.class_combo
    assert [combo.itemText(i) for i in range(combo.count())] == ["all classes", "dog"]
    combo.setCurrentIndex(1)
    assert [r.path for r in controller.rows] == ["b.png"]
    assert controller.current_id() == second
    combo.setCurrentIndex(0)
    assert len(controller.rows) == 3


def test_a_24_megapixel_jpeg_is_shown_from_a_small_copy_with_boxes_in_full_pixels(
    qtbot, app, project
):
    """The canvas gets a screen copy of at most 2048 px; the scene, the image item and the
    boxes stay in the photo's own pixels, and the red block drawn in the photo appears
    exactly under the box that surrounds it."""
    _window, canvas, controller = app
    pixels = np.full((4000, 6000, 3), 128, dtype=np.uint8)
    pixels[1000:2500, 3000:4500] = (255, 0, 0)
    Image.fromarray(pixels).save(project.root / "d big.jpg", quality=90)
    project.register_images(["d big.jpg"])
    big = project.image_by_path("d big.jpg").id
    project.box_records.add_box(
        big, "cat", (3000, 1000, 4500, 2500), origin="human", state="accepted"
    )
    controller.reload_list()
    controller.show_image_id(big)
    canvas.set_heatmap_visible(False)

    assert max(canvas.image_item.pixmap().width(), canvas.image_item.pixmap().height()) == 2048
    assert canvas.sceneRect() == QRectF(0, 0, 6000, 4000)
    assert canvas.image_item.sceneBoundingRect() == QRectF(0, 0, 6000, 4000)
    assert shown(canvas) == [("cat", (3000, 1000, 4500, 2500), "accepted")]

    frame = canvas.viewport().grab().toImage()

    def colour(x: float, y: float) -> tuple[int, int, int]:
        point = view_point(canvas, x, y)
        pixel = frame.pixelColor(point.x(), point.y())
        return pixel.red(), pixel.green(), pixel.blue()

    def is_red(c: tuple[int, int, int]) -> bool:
        return c[0] > 200 and c[1] < 60 and c[2] < 60

    assert is_red(colour(3750, 1750))  # the middle of the box
    # 150 px (about 15 screen pixels) inside and outside each side, clear of the outline
    for x, y in ((3150, 1750), (4350, 1750), (3750, 1150), (3750, 2350)):
        assert is_red(colour(x, y))
    for x, y in ((2850, 1750), (4650, 1750), (3750, 850), (3750, 2650)):
        assert not is_red(colour(x, y))


def test_status_bar_shows_the_latest_running_job_and_cancel_targets_it(app):
    window, _canvas, controller = app
    controller.job_progress("Proposing boxes", 1, 10)
    controller.job_progress("Scoring images", 2, 12)
    assert window.job_label.text().startswith("Scoring images 2/12")
    assert controller.shown_job() == "Scoring images"
    controller.job_progress("Scoring images", 12, 12)  # finished: the proposals show again
    assert window.job_label.text().startswith("Proposing boxes 1/10")
    assert controller.shown_job() == "Proposing boxes"
    controller.job_progress("Proposing boxes", 0, 0)
    assert controller.shown_job() is None
    assert not window.job_label.isVisibleTo(window)


def test_an_unreadable_image_refuses_edits_until_the_file_is_mended(qtbot, app, project):
    window, canvas, controller = app
    broken = project.root / "d broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    project.register_images(["d broken.png"])
    image = project.image_by_path("d broken.png").id
    controller.reload_list()
    mended: list[int] = []
    controller.image_mended.connect(mended.append)

    controller.show_image_id(image)
    assert "d broken.png" in canvas.placeholder_text()
    assert canvas.image_item.pixmap().isNull()  # not the previous image
    assert project.image(image).status == "unreadable"
    assert "d broken.png" in window.error_log.toPlainText()
    qtbot.keyClick(window, Qt.Key_W)
    assert not canvas.is_drawing()
    assert "Nothing can be saved" in window.statusBar().currentMessage()
    controller.edits.add_drawn_box((1, 1, 20, 20))  # even a drawing that reached the controller
    assert project.box_records.boxes(image) == []

    Image.fromarray(np.zeros((50, 80, 3), np.uint8)).save(broken)  # fixed on disk
    qtbot.keyClick(window, Qt.Key_A)
    qtbot.keyClick(window, Qt.Key_D)
    assert controller.current_id() == image and canvas.placeholder_text() is None
    assert project.image(image).status == "new" and mended == [image]
    qtbot.keyClick(window, Qt.Key_W)
    assert canvas.is_drawing()


def test_rejecting_every_proposal_is_not_a_review_until_space_says_so(qtbot, app, project):
    """An image whose proposals were all rejected may still hold objects: it stays in
    review (never exported as empty) until Space, with nothing left, marks it reviewed."""
    window, canvas, controller = app
    image = controller.current_id()
    assert canvas.selected_id() == project.box_records.boxes(image)[0].id  # the proposal, selected
    qtbot.keyClick(window, Qt.Key_X)
    assert project.image(image).status == "in_review"
    assert canvas.selected_id() is None
    qtbot.keyClick(window, Qt.Key_X)  # nothing selected: a message, nothing else
    assert "Select a box" in window.statusBar().currentMessage()
    qtbot.keyClick(window, Qt.Key_Space)
    assert project.image(image).status == "done"
    assert "a.png reviewed with 0 boxes" in window.statusBar().currentMessage()


def test_undo_of_a_change_on_another_image_shows_that_image(qtbot, app, project):
    window, canvas, controller = app
    first = controller.current_id()
    qtbot.keyClick(window, Qt.Key_Space)  # accept the proposal as "dog"
    assert project.box_records.boxes(first)[0].state == "accepted"
    qtbot.keyClick(window, Qt.Key_D)
    assert controller.current_id() != first
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier)
    assert controller.current_id() == first
    assert project.box_records.boxes(first)[0].state == "proposed"
    assert [b.state for b in canvas.boxes()] == ["proposed"]
    assert "a.png" in window.statusBar().currentMessage()


def test_ctrl_d_copies_the_previous_images_boxes_in_one_undo_step(qtbot, app, project):
    window, canvas, controller = app
    first = controller.current_id()
    project.box_records.add_box(first, "dog", (150, 90, 230, 130), difficult=True)  # past b's edge
    controller.refresh(first)
    qtbot.keyClick(window, Qt.Key_D)
    second = controller.current_id()
    qtbot.keyClick(window, Qt.Key_D, Qt.ControlModifier)
    copied = project.box_records.boxes(second)
    assert [(b.class_name, b.box, b.origin, b.state, b.difficult) for b in copied] == [
        ("dog", (150, 90, 200, 120), "human", "accepted", True)  # clipped to b's 200 x 120
    ]  # the proposal still to review was not copied
    assert shown(canvas) == stored(project, second)
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier)
    assert project.box_records.boxes(second) == []
    qtbot.keyClick(window, Qt.Key_A)
    qtbot.keyClick(window, Qt.Key_D, Qt.ControlModifier)  # the first image has no previous
    assert "no previous image" in window.statusBar().currentMessage()


def test_difficult_and_truncated_are_toggled_on_the_selected_box_and_exported(
    qtbot, app, project, tmp_path
):
    window, canvas, controller = app
    first = controller.current_id()
    qtbot.keyClick(window, Qt.Key_Space)  # accept the proposal as "dog"
    box_id = project.box_records.boxes(first)[0].id
    canvas.select(box_id)
    qtbot.keyClick(window, Qt.Key_I, Qt.ControlModifier)
    qtbot.keyClick(window, Qt.Key_T, Qt.ControlModifier)
    row = project.box_records.boxes(first)[0]
    assert (row.difficult, row.truncated, row.state) == (True, True, "accepted")
    assert "[difficult, truncated]" in box_items_text(canvas)
    assert window.box_list.table.item(0, 2).text() == "accepted, difficult, truncated"
    qtbot.keyClick(window, Qt.Key_T, Qt.ControlModifier)
    assert not project.box_records.boxes(first)[0].truncated
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier)  # undo gives it back
    assert project.box_records.boxes(first)[0].truncated
    project.set_status(first, "done")
    export_project(project, "voc", tmp_path / "voc")
    (obj,) = read_voc(tmp_path / "voc" / "Annotations" / "a.xml").objects
    assert (obj.difficult, obj.truncated) == (True, True)


def box_items_text(canvas: Canvas) -> str:
    return " ".join(item.label.text() for item in canvas.scene().items() if hasattr(item, "label"))


def test_sort_and_filters_are_remembered_per_project(qtbot, app, project):
    window, canvas, controller = app
    project.set_status(controller.current_id(), "proposed")
    window.image_list.set_sort_order("path", True)
    window.image_list.filter_combo.setCurrentIndex(window.image_list.filter_combo.findData("new"))
    assert [r.path for r in controller.rows] == ["c.png", "b.png"]
    controller.disconnect_all()
    again = Controller(project, window, canvas)  # the project opened again
    assert again.order == ("path", True) and again.status_filter == "new"
    assert [r.path for r in again.rows] == ["c.png", "b.png"]
    assert window.image_list.sort_order() == ("path", True)
    assert window.image_list.status_filter() == "new"


def test_without_auto_advance_space_stays_and_with_it_goes_on(qtbot, app, project):
    window, _canvas, controller = app
    first = controller.current_id()
    qtbot.keyClick(window, Qt.Key_Space)  # auto-advance is off in this fixture
    assert controller.current_id() == first and project.image(first).status == "done"
    window.auto_advance_action.setChecked(True)
    qtbot.keyClick(window, Qt.Key_Space)  # nothing left: on to the next image to review
    second = controller.current_id()
    assert project.image(second).path == "b.png"
    # b.png has no proposals yet: Space says so and marks nothing, however often.
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key_Space)
    assert project.image(second).status == "new" and controller.current_id() == second
    assert "No proposals yet" in window.statusBar().currentMessage()
    project.set_status(second, "proposed")  # the worker found nothing on it
    qtbot.keyClick(window, Qt.Key_Space)
    assert project.image(second).status == "done"
    third = controller.current_id()
    assert project.image(third).path == "c.png"
    project.set_status(third, "proposed")
    qtbot.keyClick(window, Qt.Key_Space)  # the last one: nowhere to go, and it says so
    assert controller.current_id() == third
    assert "every image is reviewed" in window.statusBar().currentMessage()


def test_the_current_image_stays_in_view_after_a_sort_or_a_filter(qtbot, app, project):
    window, _canvas, controller = app
    (project.root / "many").mkdir()
    for i in range(150):
        Image.new("RGB", (8, 8)).save(project.root / "many" / f"{i:03d}.png")
    project.register_images([f"many/{i:03d}.png" for i in range(150)])
    controller.reload_list()
    table = window.image_list.table
    target = project.image_by_path("many/120.png").id
    controller.show_image_id(target)

    def in_view() -> bool:
        row = window.image_model.row_of(target)
        rect = table.visualRect(window.image_model.index(row, 0))
        return table.viewport().rect().contains(rect.center())

    qtbot.waitUntil(in_view)
    window.image_list.set_sort_order("path", True)  # the row moves near the top
    assert window.image_model.row_of(target) < 40
    qtbot.waitUntil(in_view)
    window.image_list.filter_combo.setCurrentIndex(window.image_list.filter_combo.findData("new"))
    assert controller.current_id() == target
    qtbot.waitUntil(in_view)
