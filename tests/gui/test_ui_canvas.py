"""The image canvas, driven with real mouse and key events on a shown widget."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QGraphicsItem, QGraphicsRectItem

from ui.box_view import BoxView
from ui.canvas.graphics import BoxItem, colorize
from ui.canvas.view import Canvas
from ui.class_colors import class_color

W, H = 200, 120
TOLERANCE = 1.5  # image pixels

CAT = BoxView(1, (20, 20, 80, 70), "cat", "human", "accepted")
DOG = BoxView(2, (120, 30, 180, 100), "dog", "proposal", "proposed", 0.8734)
BIRD = BoxView(3, (90, 5, 110, 15), "bird", "proposal", "rejected", 0.4)
TAIL = BoxView(4, (60, 50, 75, 65), "cat", "imported", "edited")  # inside CAT


def shown_canvas(qtbot) -> Canvas:
    """A 400 × 300 canvas showing a W × H noise image with CAT, DOG, BIRD and TAIL."""
    widget = Canvas()
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    rng = np.random.default_rng(0)
    widget.set_image(rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
    widget.set_boxes([CAT, DOG, BIRD, TAIL])
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def canvas(qtbot):
    return shown_canvas(qtbot)


def at(canvas: Canvas, x: float, y: float) -> QPoint:
    """Viewport position of the image point ``(x, y)``."""
    return canvas.mapFromScene(QPointF(x, y))


def drag(qtbot, canvas: Canvas, start, end, button=Qt.MouseButton.LeftButton) -> None:
    """Press at image point ``start``, move through the middle to ``end`` and release."""
    viewport = canvas.viewport()
    middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    qtbot.mousePress(viewport, button, pos=at(canvas, *start))
    qtbot.mouseMove(viewport, at(canvas, *middle))
    qtbot.mouseMove(viewport, at(canvas, *end))
    qtbot.mouseRelease(viewport, button, pos=at(canvas, *end))


def click(qtbot, canvas: Canvas, x: float, y: float) -> None:
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=at(canvas, x, y))


def assert_box(actual, expected) -> None:
    assert len(actual) == 4
    assert all(isinstance(value, float) for value in actual)
    assert np.allclose(actual, expected, atol=TOLERANCE), (actual, expected)


def box_items(canvas: Canvas) -> dict[int, BoxItem]:
    return {item.box_id: item for item in canvas.scene().items() if isinstance(item, BoxItem)}


def visible_handles(canvas: Canvas) -> list[QGraphicsRectItem]:
    ignores = QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations
    return [
        item
        for item in canvas.scene().items()
        if type(item) is QGraphicsRectItem and item.isVisible() and item.flags() & ignores
    ]


def test_boxes_are_styled_by_state_and_rejected_ones_hidden(canvas):
    items = box_items(canvas)
    assert set(items) == {1, 2, 4}
    assert items[1].pen().style() == Qt.PenStyle.SolidLine
    assert items[4].pen().style() == Qt.PenStyle.SolidLine
    assert items[2].pen().style() == Qt.PenStyle.DashLine
    assert all(item.pen().isCosmetic() and item.pen().width() == 2 for item in items.values())
    assert items[2].rect().getCoords() == (120, 30, 180, 100)
    assert items[1].label.text() == "cat"
    assert items[2].label.text() == "dog 0.87"
    assert items[2].label.pos() == QPointF(120, 30)
    assert items[1].pen().color() == items[4].pen().color() == class_color("cat")
    assert items[1].pen().color() != items[2].pen().color()


def test_set_boxes_replaces_items_and_keeps_a_surviving_selection(canvas):
    canvas.select(2)
    canvas.set_boxes([DOG])
    assert set(box_items(canvas)) == {2}
    assert canvas.selected_id() == 2
    canvas.set_boxes([CAT])
    assert set(box_items(canvas)) == {1}
    assert canvas.selected_id() is None
    assert visible_handles(canvas) == []


def test_many_boxes_on_a_large_image(qtbot):
    widget = Canvas()
    qtbot.addWidget(widget)
    widget.set_image(np.zeros((3000, 4000, 3), dtype=np.uint8))
    boxes = [
        BoxView(i, (i * 10, i * 5, i * 10 + 50, i * 5 + 40), "car", "human", "accepted")
        for i in range(200)
    ]
    widget.set_boxes(boxes)
    assert len(box_items(widget)) == 200
    assert widget.image_item.pixmap().size().toTuple() == (4000, 3000)


def test_draw_box_emits_image_coordinates_and_ends_draw_mode(canvas, qtbot):
    canvas.start_drawing()
    assert canvas.is_drawing()
    assert canvas.viewport().cursor().shape() == Qt.CursorShape.CrossCursor
    with qtbot.waitSignal(canvas.box_drawn) as blocker:
        drag(qtbot, canvas, (30, 40), (150, 100))
    assert_box(blocker.args[0], (30, 40, 150, 100))
    assert not canvas.is_drawing()
    with qtbot.assertNotEmitted(canvas.box_drawn):
        drag(qtbot, canvas, (5, 5), (15, 15))


def test_drawing_from_bottom_right_to_top_left_gives_an_ordered_box(canvas, qtbot):
    canvas.start_drawing()
    with qtbot.waitSignal(canvas.box_drawn) as blocker:
        drag(qtbot, canvas, (150, 100), (100, 80))
    assert_box(blocker.args[0], (100, 80, 150, 100))


def test_drawn_box_is_clipped_to_the_image(canvas, qtbot):
    canvas.scale(0.5, 0.5)  # leave grey space around the image to drag into
    canvas.start_drawing()
    with qtbot.waitSignal(canvas.box_drawn) as blocker:
        drag(qtbot, canvas, (150, 60), (260, 170))
    x1, y1, x2, y2 = blocker.args[0]
    assert (x2, y2) == (W, H)
    assert_box((x1, y1, x2, y2), (150, 60, W, H))


def test_tiny_drawing_is_ignored_and_keeps_draw_mode(canvas, qtbot):
    canvas.start_drawing()
    with qtbot.assertNotEmitted(canvas.box_drawn):
        drag(qtbot, canvas, (50, 50), (50.5, 50.5))
    assert canvas.is_drawing()


def test_a_slip_of_the_hand_draws_nothing_whatever_the_zoom(canvas, qtbot):
    """A drag of a few screen pixels (3 × 2 here) is no box, even where that is many image
    pixels (zoomed out), and a small box drawn zoomed in is one."""
    canvas.scale(0.25, 0.25)  # 1 screen pixel = 4 image pixels or so
    scale = canvas.transform().m11()
    canvas.start_drawing()
    with qtbot.assertNotEmitted(canvas.box_drawn):
        drag(qtbot, canvas, (40, 40), (40 + 3 / scale, 40 + 2 / scale))
    assert canvas.is_drawing()
    canvas.scale(16, 16)  # zoomed in: 8 image pixels are far more than 6 screen pixels
    canvas.centerOn(50, 50)
    with qtbot.waitSignal(canvas.box_drawn) as blocker:
        drag(qtbot, canvas, (46, 46), (54, 54))
    assert_box(blocker.args[0], (46, 46, 54, 54))


def test_escape_cancels_drawing(canvas, qtbot):
    canvas.start_drawing()
    viewport = canvas.viewport()
    with qtbot.assertNotEmitted(canvas.box_drawn):
        qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at(canvas, 30, 30))
        qtbot.mouseMove(viewport, at(canvas, 90, 90))
        qtbot.keyClick(canvas, Qt.Key.Key_Escape)
        qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at(canvas, 90, 90))
    assert not canvas.is_drawing()
    assert canvas.viewport().cursor().shape() != Qt.CursorShape.CrossCursor


def test_click_selects_the_smallest_box_and_empty_image_clears(canvas, qtbot):
    with qtbot.waitSignal(canvas.box_selected) as blocker:
        click(qtbot, canvas, 30, 30)
    assert blocker.args == [1]
    assert canvas.selected_id() == 1
    assert len(visible_handles(canvas)) == 8
    with qtbot.waitSignal(canvas.box_selected) as blocker:
        click(qtbot, canvas, 68, 58)  # inside TAIL, which lies inside CAT
    assert blocker.args == [4]
    with qtbot.waitSignal(canvas.box_selected) as blocker:
        click(qtbot, canvas, 100, 110)
    assert blocker.args == [-1]
    assert canvas.selected_id() is None
    assert visible_handles(canvas) == []


def test_programmatic_select_emits_nothing(canvas, qtbot):
    with qtbot.assertNotEmitted(canvas.box_selected):
        canvas.select(2)
    assert canvas.selected_id() == 2
    assert len(visible_handles(canvas)) == 8
    canvas.select(3)  # rejected, so not shown
    assert canvas.selected_id() is None


def test_dragging_a_selected_box_moves_it(canvas, qtbot):
    click(qtbot, canvas, 150, 60)
    with qtbot.waitSignal(canvas.box_changed) as blocker:
        drag(qtbot, canvas, (150, 60), (140, 70))
    box_id, box = blocker.args
    assert box_id == 2
    assert_box(box, (110, 40, 170, 110))
    assert box[2] - box[0] == pytest.approx(60) and box[3] - box[1] == pytest.approx(70)
    assert_box(box_items(canvas)[2].rect().getCoords(), box)


def test_moving_stops_at_the_image_border(canvas, qtbot):
    canvas.select(2)
    with qtbot.waitSignal(canvas.box_changed) as blocker:
        drag(qtbot, canvas, (150, 60), (199, 60))
    assert blocker.args[1] == pytest.approx((140, 30, W, 100), abs=TOLERANCE)
    assert blocker.args[1][2] == W


def test_click_without_moving_changes_nothing(canvas, qtbot):
    canvas.select(1)
    with qtbot.assertNotEmitted(canvas.box_changed):
        click(qtbot, canvas, 30, 30)


def test_dragging_a_handle_resizes(canvas, qtbot):
    canvas.select(2)
    with qtbot.waitSignal(canvas.box_changed) as blocker:
        drag(qtbot, canvas, (180, 100), (190, 110))  # bottom-right corner
    assert blocker.args[0] == 2
    assert_box(blocker.args[1], (120, 30, 190, 110))
    canvas.set_boxes([CAT])
    canvas.select(1)
    with qtbot.waitSignal(canvas.box_changed) as blocker:
        drag(qtbot, canvas, (50, 20), (50, 10))  # top edge
    assert_box(blocker.args[1], (20, 10, 80, 70))


def test_arrow_keys_nudge_the_selected_box(canvas, qtbot):
    canvas.select(1)
    with qtbot.waitSignal(canvas.box_changed) as blocker:
        qtbot.keyClick(canvas, Qt.Key.Key_Right)
    assert blocker.args == [1, (21.0, 20.0, 81.0, 70.0)]
    with qtbot.waitSignal(canvas.box_changed) as blocker:
        qtbot.keyClick(canvas, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)
    assert blocker.args == [1, (21.0, 10.0, 81.0, 60.0)]
    with qtbot.waitSignal(canvas.box_changed) as blocker:
        qtbot.keyClick(canvas, Qt.Key.Key_Up, Qt.KeyboardModifier.ShiftModifier)
    assert blocker.args == [1, (21.0, 0.0, 81.0, 50.0)]
    with qtbot.assertNotEmitted(canvas.box_changed):
        qtbot.keyClick(canvas, Qt.Key.Key_Up)  # already at the top edge
    assert box_items(canvas)[1].rect().top() == 0


def test_delete_requests_deletion_of_the_selected_box(canvas, qtbot):
    with qtbot.assertNotEmitted(canvas.delete_requested):
        qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    canvas.select(4)
    with qtbot.waitSignal(canvas.delete_requested) as blocker:
        qtbot.keyClick(canvas, Qt.Key.Key_Delete)
    assert blocker.args == [4]
    with qtbot.waitSignal(canvas.delete_requested) as blocker:
        qtbot.keyClick(canvas, Qt.Key.Key_Backspace)
    assert blocker.args == [4]


def test_heatmap_is_stretched_coloured_and_switchable(canvas):
    item = canvas.heatmap_item
    assert not item.isVisible()
    heat = np.tile(np.linspace(0.0, 1.0, 40), (30, 1))  # 4:3, unlike the 5:3 image
    canvas.set_heatmap(heat)
    assert item.isVisible() and canvas.heatmap_visible()
    assert item.opacity() == pytest.approx(0.45)
    assert item.pixmap().size().toTuple() == (40, 30)
    assert item.sceneBoundingRect().getCoords() == (0, 0, W, H)
    assert canvas.image_item.zValue() < item.zValue() < box_items(canvas)[1].zValue()
    image = item.pixmap().toImage()
    cold, hot = image.pixelColor(0, 0), image.pixelColor(39, 0)
    assert cold.blue() > 100 and cold.red() == 0
    assert hot.red() > 100 and hot.blue() == 0
    canvas.set_heatmap_opacity(0.2)
    assert item.opacity() == pytest.approx(0.2)
    canvas.set_heatmap_visible(False)
    assert not item.isVisible() and not canvas.heatmap_visible()
    canvas.set_heatmap_visible(True)
    assert item.isVisible()
    canvas.set_heatmap(None)
    assert not item.isVisible()


def test_colorize_uses_a_jet_like_lut():
    rgb = colorize(np.array([[0.0, 0.5, 1.0], [np.nan, -3.0, 7.0]]))
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].argmax() == 2 and rgb[0, 2].argmax() == 0  # blue to red
    assert rgb[0, 1, 1] == 255  # green in the middle
    assert (rgb[1, 0] == rgb[0, 0]).all() and (rgb[1, 1] == rgb[0, 0]).all()
    assert (rgb[1, 2] == rgb[0, 2]).all()


def test_wheel_zooms_and_fit_restores(canvas):
    fitted = canvas.transform().m11()
    centre = QPointF(canvas.viewport().rect().center())
    event = QWheelEvent(
        centre,
        canvas.viewport().mapToGlobal(centre),
        QPoint(),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.transform().m11() == pytest.approx(fitted * 1.25)
    canvas.fit()
    assert canvas.transform().m11() == pytest.approx(fitted)


def test_middle_button_drag_pans(canvas, qtbot):
    canvas.scale(4, 4)
    bar = canvas.horizontalScrollBar()
    bar.setValue((bar.minimum() + bar.maximum()) // 2)
    before = bar.value()
    viewport = canvas.viewport()
    start = QPoint(200, 150)
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=start)
    qtbot.mouseMove(viewport, start + QPoint(30, 0))
    qtbot.mouseMove(viewport, start + QPoint(60, 0))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=start + QPoint(60, 0))
    assert bar.value() == before - 60
