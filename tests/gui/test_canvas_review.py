"""The canvas as keyboard-first review uses it: which box a click takes, the selected box
on top, visibility, Tab order, zoom limits and captions kept in view (real events on a
shown widget; the scene and helpers are the canvas tests')."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.gui.test_ui_canvas import (
    BIRD,
    CAT,
    DOG,
    TAIL,
    assert_box,
    box_items,
    click,
    drag,
    shown_canvas,
)
from ui.box_view import BoxView
from ui.canvas.view import Canvas


@pytest.fixture
def canvas(qtbot):
    return shown_canvas(qtbot)


CROSS = BoxView(5, (100, 60, 150, 115), "dog", "human", "accepted")  # overlaps DOG


def test_a_click_takes_the_nearest_outline_and_a_second_click_the_next_box(canvas, qtbot):
    canvas.set_boxes([CAT, DOG, BIRD, TAIL, CROSS])
    click(qtbot, canvas, 122, 80)  # 2 px from DOG's left edge, 22 px from CROSS's
    assert canvas.selected_id() == DOG.id
    click(qtbot, canvas, 126, 64)  # elsewhere: 4 px from CROSS's top, 6 px from DOG's left
    assert canvas.selected_id() == CROSS.id
    click(qtbot, canvas, 122, 80)
    assert canvas.selected_id() == DOG.id
    with qtbot.waitSignal(canvas.box_selected) as blocker:
        click(qtbot, canvas, 122, 80)  # again in place: the next box under the pointer
    assert blocker.args == [CROSS.id]
    click(qtbot, canvas, 122, 80)
    assert canvas.selected_id() == DOG.id  # and round again


def test_a_second_press_in_place_drags_the_selected_box(canvas, qtbot):
    canvas.set_boxes([CAT, DOG, BIRD, TAIL, CROSS])
    click(qtbot, canvas, 122, 80)
    with qtbot.waitSignal(canvas.box_changed) as blocker:
        drag(qtbot, canvas, (122, 80), (112, 70))
    assert blocker.args[0] == DOG.id
    assert_box(blocker.args[1], (110, 20, 170, 90))


def test_the_selected_box_is_drawn_above_the_others(canvas):
    canvas.select(CAT.id)
    items = box_items(canvas)
    assert items[CAT.id].zValue() > max(items[i].zValue() for i in items if i != CAT.id)
    canvas.select(TAIL.id)
    assert items[TAIL.id].zValue() > items[CAT.id].zValue()


def test_boxes_can_be_hidden_one_by_one_rejected_shown_and_all_hidden(canvas, qtbot):
    canvas.select(CAT.id)
    with qtbot.waitSignal(canvas.selection_changed) as blocker:
        canvas.set_box_visible(CAT.id, False)  # the selected box: the selection goes
    assert blocker.args == [-1]
    assert [b.id for b in canvas.boxes()] == [DOG.id, TAIL.id]
    canvas.set_boxes([CAT, DOG, BIRD, TAIL])  # redrawn: still hidden
    assert CAT.id not in [b.id for b in canvas.boxes()] and canvas.hidden_ids() == {CAT.id}
    canvas.set_rejected_visible(True)
    assert [b.id for b in canvas.boxes()] == [DOG.id, BIRD.id, TAIL.id]
    assert box_items(canvas)[BIRD.id].pen().style() == Qt.PenStyle.DotLine
    canvas.set_boxes_visible(False)
    assert canvas.boxes() == [] and box_items(canvas) == {}
    canvas.set_boxes_visible(True)
    canvas.clear_hidden()
    canvas.set_boxes([CAT, DOG, BIRD, TAIL])
    assert len(canvas.boxes()) == 4
    assert [b.id for b in canvas.all_boxes()] == [CAT.id, DOG.id, BIRD.id, TAIL.id]


def test_select_next_goes_round_the_shown_boxes_in_order(canvas, qtbot):
    seen = []
    canvas.selection_changed.connect(seen.append)
    for _ in range(4):
        canvas.select_next(1)
    canvas.select_next(-1)
    assert seen == [CAT.id, DOG.id, TAIL.id, CAT.id, TAIL.id]  # BIRD is rejected: not shown


def wheel(canvas: Canvas, notches: int) -> None:
    centre = QPointF(canvas.viewport().rect().center())
    event = QWheelEvent(
        centre,
        canvas.viewport().mapToGlobal(centre),
        QPoint(),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(canvas.viewport(), event)


def test_zoom_stays_between_a_quarter_and_sixteen_times_the_fitting_size(canvas):
    fit = canvas.fit_scale()
    assert canvas.zoom() == pytest.approx(fit, rel=0.02)
    for _ in range(30):
        wheel(canvas, 1)
    assert canvas.zoom() == pytest.approx(16 * fit)
    for _ in range(60):
        wheel(canvas, -1)
    assert canvas.zoom() == pytest.approx(fit / 4)
    canvas.actual_size()
    assert canvas.zoom() == pytest.approx(1.0)
    canvas.zoom_in()
    assert canvas.zoom() == pytest.approx(1.25)
    canvas.zoom_out()
    canvas.zoom_out()
    assert canvas.zoom() == pytest.approx(0.8)
    canvas.fit()
    assert canvas.zoom() == pytest.approx(fit, rel=0.02)


def test_captions_stay_inside_the_view_when_a_box_corner_is_off_screen(canvas):
    for _ in range(6):
        canvas.zoom_in()
    canvas.centerOn(75, 65)  # CAT's bottom-right corner in view, its top-left far off
    visible = canvas.visible_rect()
    assert not visible.contains(QPointF(20, 20))
    label = box_items(canvas)[CAT.id].label
    assert visible.contains(label.scenePos())
    canvas.fit()
    assert label.scenePos() == QPointF(20, 20)  # back in its corner


def test_a_corner_of_a_box_not_selected_resizes_it_and_escape_clears_the_selection(canvas, qtbot):
    canvas.select(CAT.id)
    with qtbot.waitSignal(canvas.box_changed) as blocker:
        drag(qtbot, canvas, (180, 100), (170, 90))  # DOG's bottom-right corner
    assert blocker.args[0] == DOG.id
    assert_box(blocker.args[1], (120, 30, 170, 90))
    assert canvas.selected_id() == DOG.id
    with qtbot.waitSignal(canvas.box_selected) as cleared:
        qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert cleared.args == [-1] and canvas.selected_id() is None
