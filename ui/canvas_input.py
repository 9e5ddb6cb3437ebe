"""The canvas's mouse and keyboard: pan, draw, select, move, resize and nudge boxes."""

from __future__ import annotations

from enum import Enum, auto

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent

from ui import box_geometry, graphics
from ui.graphics import Box

HANDLE_GRAB = 6  # how far from a handle's centre a press still grabs it, view pixels
BOX_GRAB = 3  # slack around a box's outline that still hits the box, view pixels
MIN_DRAWN = 2.0  # smallest side of a drawn box, image pixels
MIN_DRAWN_ON_SCREEN = 6.0  # and on screen, view pixels: a slip of the hand draws nothing
NUDGES = {
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
    """Mouse and keyboard handling, mixed into ``ui.canvas.Canvas`` ahead of QGraphicsView.

    It uses the canvas's ``_layer`` (a ``BoxLayer``), ``_size``, ``_drawing``, ``_rubber``,
    its signals, ``view_to_image``, ``select`` and ``cancel_drawing``; ``_init_input``
    sets up the drag state it keeps.
    """

    def _init_input(self) -> None:
        self._drag = Drag.NONE
        self._press = QPointF()  # image point where the current drag started
        self._last_view = QPointF()  # last view point of a pan
        self._start_box: Box = (0.0, 0.0, 0.0, 0.0)
        self._handle = graphics.HANDLES[0]

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Start a pan (middle button, or left on empty space), a drawing, a move or a resize."""
        pos = event.position()
        self._press = self.view_to_image(pos)
        self._last_view = pos
        if event.button() == Qt.MouseButton.MiddleButton:
            self._start_pan()
        elif event.button() == Qt.MouseButton.LeftButton and self._size is not None:
            self.setFocus()
            self._press_left(pos)
        else:
            super().mousePressEvent(event)
            return
        event.accept()

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """A fast second click acts as a press."""
        self.mousePressEvent(event)

    def _press_left(self, pos: QPointF) -> None:
        if self._drawing:
            self._drag = Drag.DRAW
            self._rubber.setRect(QRectF(self._press, self._press))
            self._rubber.show()
            return
        handle = self._handle_at(pos)
        if handle is not None:
            self._drag, self._handle = Drag.RESIZE, handle
            self._start_box = self._layer.views[self._layer.selected].box
            return
        box_id = self._box_at(pos)
        self._select_by_click(box_id)
        if box_id is None:
            self._start_pan()
        else:
            self._drag = Drag.MOVE
            self._start_box = self._layer.views[box_id].box

    def _start_pan(self) -> None:
        self._drag = Drag.PAN
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def _select_by_click(self, box_id: int | None) -> None:
        if box_id != self._layer.selected:
            self.select(box_id)
            self.box_selected.emit(-1 if box_id is None else box_id)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Continue the current drag, or show what a press would grab."""
        pos = event.position()
        point = self.view_to_image(pos)
        if self._drag == Drag.PAN:
            delta = pos - self._last_view
            self._last_view = pos
            bar_x, bar_y = self.horizontalScrollBar(), self.verticalScrollBar()
            bar_x.setValue(bar_x.value() - round(delta.x()))
            bar_y.setValue(bar_y.value() - round(delta.y()))
        elif self._drag == Drag.DRAW:
            self._rubber.setRect(QRectF(self._press, point).normalized())
        elif self._drag == Drag.MOVE:
            moved = point - self._press
            self._layer.show_box(
                box_geometry.shifted(self._start_box, moved.x(), moved.y(), self._size)
            )
        elif self._drag == Drag.RESIZE:
            dx, dy = point.x() - self._press.x(), point.y() - self._press.y()
            self._layer.show_box(
                box_geometry.resized(self._start_box, self._handle, dx, dy, self._size)
            )
        else:
            self._update_cursor(pos)
        super().mouseMoveEvent(event)  # keeps the zoom anchor's mouse position current

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """Finish the current drag: emit the drawn or changed box."""
        drag, self._drag = self._drag, Drag.NONE
        selected = self._layer.selected
        if drag == Drag.DRAW:
            self._finish_drawing()
        elif drag in (Drag.MOVE, Drag.RESIZE) and selected is not None:
            box = self._layer.views[selected].box
            if box != self._start_box:
                self.box_changed.emit(selected, box)
        self._update_cursor(event.position())
        super().mouseReleaseEvent(event)

    def _finish_drawing(self) -> None:
        self._rubber.hide()
        rect = self._rubber.rect()
        edges = (rect.left(), rect.top(), rect.right(), rect.bottom())
        box = box_geometry.clipped(edges, self._size)
        shortest = min(box[2] - box[0], box[3] - box[1])
        if shortest >= max(MIN_DRAWN, MIN_DRAWN_ON_SCREEN / self.transform().m11()):
            self.cancel_drawing()
            self.box_drawn.emit(box)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Escape leaves draw mode; arrows nudge the selected box (Shift: 10 px); Delete."""
        key = event.key()
        selected = self._layer.selected
        if key == Qt.Key.Key_Escape and self._drawing:
            self.cancel_drawing()
        elif key in NUDGES and self._can_edit_selected():
            step = 10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1
            start = self._layer.views[selected].box
            dx, dy = NUDGES[key][0] * step, NUDGES[key][1] * step
            box = box_geometry.shifted(start, dx, dy, self._size)
            if box != start:
                self._layer.show_box(box)
                self.box_changed.emit(selected, box)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and selected is not None:
            self.delete_requested.emit(selected)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def _can_edit_selected(self) -> bool:
        return (
            self._layer.selected is not None and self._size is not None and self._drag == Drag.NONE
        )

    def _update_cursor(self, pos: QPointF) -> None:
        if self._drawing:
            shape = Qt.CursorShape.CrossCursor
        elif (handle := self._handle_at(pos)) is not None:
            shape = graphics.HANDLE_CURSORS[handle]
        elif self._box_at(pos) is not None:
            shape = Qt.CursorShape.SizeAllCursor
        else:
            shape = Qt.CursorShape.ArrowCursor
        self.viewport().setCursor(shape)

    def _handle_at(self, pos: QPointF) -> tuple[int, int] | None:
        if self._layer.selected is None:
            return None
        box = self._layer.views[self._layer.selected].box
        for direction in graphics.HANDLES:
            offset = self.viewportTransform().map(graphics.handle_point(box, direction)) - pos
            if abs(offset.x()) <= HANDLE_GRAB and abs(offset.y()) <= HANDLE_GRAB:
                return direction
        return None

    def _box_at(self, pos: QPointF) -> int | None:
        """The smallest shown box under ``pos``, so nested boxes stay reachable."""
        point = self.view_to_image(pos)
        slack = BOX_GRAB / self.transform().m11()
        best: tuple[float, int] | None = None
        for view in self._layer.views.values():
            x1, y1, x2, y2 = view.box
            inside_x = x1 - slack <= point.x() <= x2 + slack
            if inside_x and y1 - slack <= point.y() <= y2 + slack:
                area = (x2 - x1) * (y2 - y1)
                if best is None or area < best[0]:
                    best = (area, view.id)
        return None if best is None else best[1]
