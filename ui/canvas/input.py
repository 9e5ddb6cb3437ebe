"""The canvas's mouse and keyboard: pan, draw, select, move, resize and nudge boxes.

:class:`CanvasInput` is held by ``ui.canvas.view.Canvas``, which hands it its mouse and key
events; it keeps the drag state and draw mode, reads and shows boxes through the canvas's
public :class:`~ui.canvas.box_layer.BoxLayer` and reports through the canvas's signals.
"""

from __future__ import annotations

from enum import Enum, auto
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent

from ui.canvas import box_geometry, graphics
from ui.canvas.graphics import Box

if TYPE_CHECKING:
    from ui.canvas.view import Canvas

HANDLE_GRAB = 6  # how far from a handle's centre a press still grabs it, view pixels
CLICK_AGAIN = 4  # a click this close to the last one (view pixels) cycles the boxes under it
BOX_GRAB = 3  # slack around a box's outline that still hits the box, view pixels
MIN_DRAWN = 2.0  # smallest side of a drawn box, image pixels
MIN_DRAWN_ON_SCREEN = 6.0  # and on screen, view pixels: a slip of the hand draws nothing
Z_RUBBER = 3
NUDGES: dict[Qt.Key, tuple[int, int]] = {
    Qt.Key.Key_Left: (-1, 0),
    Qt.Key.Key_Right: (1, 0),
    Qt.Key.Key_Up: (0, -1),
    Qt.Key.Key_Down: (0, 1),
}


class Drag(Enum):
    NONE = auto()
    PAN = auto()
    DRAW = auto()
    MOVE = auto()
    RESIZE = auto()


class CanvasInput:
    """Mouse and keyboard handling of one canvas. Each ``*_event`` method returns whether
    it used the event (the canvas passes the others to QGraphicsView)."""

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas
        self.drag = Drag.NONE
        self.drawing = False
        self._press = QPointF()  # image point where the current drag started
        self._last_view = QPointF()  # last view point of a pan
        self._start_box: Box = (0.0, 0.0, 0.0, 0.0)
        self._last_click = QPointF(-1e9, -1e9)  # view point of the last click on a box
        self._under: list[int] = []  # the boxes under the last press, nearest outline first
        self._again = False  # the last press was a second click in place
        self._handle = graphics.HANDLES[0]
        self._rubber = canvas.scene().addRect(
            QRectF(), graphics.cosmetic_pen(Qt.GlobalColor.white, 1, Qt.PenStyle.DashLine)
        )
        self._rubber.setZValue(Z_RUBBER)
        self._rubber.hide()

    # Draw mode

    def start_drawing(self) -> None:
        self.drawing = True
        self.canvas.viewport().setCursor(Qt.CursorShape.CrossCursor)

    def cancel_drawing(self) -> None:
        self.drawing = False
        if self.drag == Drag.DRAW:
            self.drag = Drag.NONE
        self._rubber.hide()
        self.canvas.viewport().unsetCursor()

    def boxes_replaced(self) -> None:
        """The canvas got new boxes: a move or resize in progress has nothing to move."""
        if self.drag in (Drag.MOVE, Drag.RESIZE):
            self.drag = Drag.NONE

    # Mouse

    def press_event(self, event: QMouseEvent) -> bool:
        """Start a pan (middle button, or left on empty space), a drawing, a move or a resize."""
        pos = event.position()
        self._press = self.canvas.view_to_image(pos)
        self._last_view = pos
        if event.button() == Qt.MouseButton.MiddleButton:
            self._start_pan()
        elif event.button() == Qt.MouseButton.LeftButton and self.canvas.image_size() is not None:
            self.canvas.setFocus()
            self._press_left(pos)
        else:
            return False
        event.accept()
        return True

    def _press_left(self, pos: QPointF) -> None:
        layer = self.canvas.layer
        if self.drawing:
            self.drag = Drag.DRAW
            self._rubber.setRect(QRectF(self._press, self._press))
            self._rubber.show()
            return
        grabbed = self._handle_at(pos)
        if grabbed is not None:  # a corner or edge handle of any box, the selected first
            handle_box, self._handle = grabbed
            self._select_by_click(handle_box)
            self.drag = Drag.RESIZE
            self._start_box = layer.views[handle_box].box
            return
        clicked = self._clicked_box(pos)
        self._select_by_click(clicked)
        if clicked is None:
            self._start_pan()
        else:
            self.drag = Drag.MOVE
            self._start_box = layer.views[clicked].box

    def _start_pan(self) -> None:
        self.drag = Drag.PAN
        self.canvas.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def _select_by_click(self, box_id: int | None) -> None:
        if box_id != self.canvas.layer.selected:
            self.canvas.select(box_id)
            self.canvas.box_selected.emit(-1 if box_id is None else box_id)

    def _clicked_box(self, pos: QPointF) -> int | None:
        """The box a left press at ``pos`` selects: the one whose outline is nearest among
        those under the pointer; on a press at the place of the last click, the selected
        box stays (a drag moves it, a click without moving takes the next box there: see
        :meth:`_click_again`)."""
        self._under = self._boxes_at(pos)
        selected = self.canvas.layer.selected
        near = (pos - self._last_click).manhattanLength() <= CLICK_AGAIN
        self._again = near and selected in self._under
        if self._again:
            return selected
        return self._under[0] if self._under else None

    def _click_again(self, pos: QPointF, moved: bool) -> None:
        """After a release: a second click in place selects the next box under it, so
        every box there can be reached."""
        under, selected = self._under, self.canvas.layer.selected
        if not moved and self._again and selected in under and len(under) > 1:
            self._select_by_click(under[(under.index(selected) + 1) % len(under)])
        self._last_click = QPointF(-1e9, -1e9) if moved else QPointF(pos)

    def move_event(self, event: QMouseEvent) -> None:
        """Continue the current drag, or show what a press would grab."""
        canvas, layer, size = self.canvas, self.canvas.layer, self.canvas.image_size()
        pos = event.position()
        point = canvas.view_to_image(pos)
        if self.drag == Drag.PAN:
            delta = pos - self._last_view
            self._last_view = pos
            bar_x, bar_y = canvas.horizontalScrollBar(), canvas.verticalScrollBar()
            bar_x.setValue(bar_x.value() - round(delta.x()))
            bar_y.setValue(bar_y.value() - round(delta.y()))
        elif self.drag == Drag.DRAW:
            self._rubber.setRect(QRectF(self._press, point).normalized())
        elif self.drag == Drag.MOVE and size is not None:
            moved = point - self._press
            layer.show_box(box_geometry.shifted(self._start_box, moved.x(), moved.y(), size))
        elif self.drag == Drag.RESIZE and size is not None:
            dx, dy = point.x() - self._press.x(), point.y() - self._press.y()
            layer.show_box(box_geometry.resized(self._start_box, self._handle, dx, dy, size))
        else:
            self._update_cursor(pos)

    def release_event(self, event: QMouseEvent) -> None:
        """Finish the current drag: emit the drawn or changed box."""
        drag, self.drag = self.drag, Drag.NONE
        layer = self.canvas.layer
        selected = layer.selected
        if drag == Drag.DRAW:
            self._finish_drawing()
        elif drag in (Drag.MOVE, Drag.RESIZE) and selected is not None:
            box = layer.views[selected].box
            moved = box != self._start_box
            if moved:
                self.canvas.box_changed.emit(selected, box)
            if drag == Drag.MOVE:
                self._click_again(event.position(), moved)
        elif drag == Drag.PAN:
            self._last_click = QPointF(-1e9, -1e9)
        self._update_cursor(event.position())

    def _finish_drawing(self) -> None:
        self._rubber.hide()
        size = self.canvas.image_size()
        if size is None:
            return
        rect = self._rubber.rect()
        edges = (rect.left(), rect.top(), rect.right(), rect.bottom())
        box = box_geometry.clipped(edges, size)
        shortest = min(box[2] - box[0], box[3] - box[1])
        if shortest >= max(MIN_DRAWN, MIN_DRAWN_ON_SCREEN / self.canvas.transform().m11()):
            self.cancel_drawing()
            self.canvas.box_drawn.emit(box)

    # Keys

    def key_event(self, event: QKeyEvent) -> bool:
        """Escape leaves draw mode, else clears the selection; arrows nudge the selected box
        (Shift: 10 px); Delete."""
        key, layer, size = Qt.Key(event.key()), self.canvas.layer, self.canvas.image_size()
        selected = layer.selected
        if key == Qt.Key.Key_Escape and self.drawing:
            self.cancel_drawing()
        elif key == Qt.Key.Key_Escape and selected is not None:
            self._select_by_click(None)  # as a click beside every box
        elif key in NUDGES and selected is not None and size is not None:
            if self.drag == Drag.NONE:
                step = 10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1
                start = layer.views[selected].box
                dx, dy = NUDGES[key][0] * step, NUDGES[key][1] * step
                box = box_geometry.shifted(start, dx, dy, size)
                if box != start:
                    layer.show_box(box)
                    self.canvas.box_changed.emit(selected, box)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and selected is not None:
            self.canvas.delete_requested.emit(selected)
        else:
            return False
        event.accept()
        return True

    # What is under the pointer

    def _update_cursor(self, pos: QPointF) -> None:
        if self.drawing:
            shape = Qt.CursorShape.CrossCursor
        elif (grabbed := self._handle_at(pos)) is not None:
            shape = graphics.HANDLE_CURSORS[grabbed[1]]
        elif self._box_at(pos) is not None:
            shape = Qt.CursorShape.SizeAllCursor
        else:
            shape = Qt.CursorShape.ArrowCursor
        self.canvas.viewport().setCursor(shape)

    def _handle_at(self, pos: QPointF) -> tuple[int, tuple[int, int]] | None:
        """The box and handle direction a press at ``pos`` grabs: a handle of the selected
        box, else one of another shown box (as in LabelImg, any box's corner resizes it)."""
        layer = self.canvas.layer
        order = sorted(layer.views, key=lambda box_id: box_id != layer.selected)
        to_view = self.canvas.viewportTransform()
        for box_id in order:
            box = layer.views[box_id].box
            for direction in graphics.HANDLES:
                offset = to_view.map(graphics.handle_point(box, direction)) - pos
                if abs(offset.x()) <= HANDLE_GRAB and abs(offset.y()) <= HANDLE_GRAB:
                    return box_id, direction
        return None

    def _boxes_at(self, pos: QPointF) -> list[int]:
        """The shown boxes under ``pos``, nearest outline first (the selected box first
        among equals), so the box whose edge the pointer is on wins."""
        point = self.canvas.view_to_image(pos)
        slack = BOX_GRAB / self.canvas.transform().m11()
        found: list[tuple[float, bool, int]] = []  # (edge distance, not selected, id)
        for view in self.canvas.layer.views.values():
            x1, y1, x2, y2 = view.box
            if x1 - slack <= point.x() <= x2 + slack and y1 - slack <= point.y() <= y2 + slack:
                edge = min(
                    abs(point.x() - x1),
                    abs(point.x() - x2),
                    abs(point.y() - y1),
                    abs(point.y() - y2),
                )
                found.append((edge, view.id != self.canvas.layer.selected, view.id))
        return [box_id for _edge, _other, box_id in sorted(found)]

    def _box_at(self, pos: QPointF) -> int | None:
        """The box a press at ``pos`` would grab (for the cursor)."""
        under = self._boxes_at(pos)
        return under[0] if under else None
