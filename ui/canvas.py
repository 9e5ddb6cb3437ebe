"""The image canvas: one image, its boxes and an optional saliency heatmap.

Scene coordinates are image pixels with continuous edges (the whole ``W × H`` image is
``(0, 0, W, H)``), so every coordinate exchanged with the outside is in image pixels.
Items only draw; the view handles the mouse and keyboard itself.
"""

from __future__ import annotations

from dataclasses import replace
from enum import Enum, auto

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QKeyEvent,
    QMouseEvent,
    QPixmap,
    QResizeEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)

from ui import graphics
from ui.box_view import BoxView
from ui.graphics import Box

HANDLE_SIZE = 8  # side of a drawn resize handle, view pixels
HANDLE_GRAB = 6  # how far from a handle's centre a press still grabs it, view pixels
BOX_GRAB = 3  # slack around a box's outline that still hits the box, view pixels
MIN_DRAWN = 2.0  # smallest side of a drawn box, image pixels
MIN_SIDE = 1.0  # smallest side a resize can leave, image pixels
ZOOM_STEP = 1.25  # zoom factor per wheel notch
ZOOM_LIMITS = (0.01, 64.0)
_NUDGES = {
    Qt.Key.Key_Left: (-1, 0),
    Qt.Key.Key_Right: (1, 0),
    Qt.Key.Key_Up: (0, -1),
    Qt.Key.Key_Down: (0, 1),
}
_Z_HEATMAP, _Z_RUBBER, _Z_HANDLES = 1, 3, 4


class _Drag(Enum):
    NONE = auto()
    PAN = auto()
    DRAW = auto()
    MOVE = auto()
    RESIZE = auto()


class Canvas(QGraphicsView):
    """Shows one image with its boxes; draws, selects, moves and resizes boxes.

    Signals carry image pixels: ``box_drawn((x1, y1, x2, y2))`` after a drawing,
    ``box_selected(id)`` when a click changes the selection (-1 when it clears it),
    ``box_changed(id, (x1, y1, x2, y2))`` after a move, resize or nudge, and
    ``delete_requested(id)`` on Delete or Backspace. Programmatic calls (``select``,
    ``set_boxes``) emit nothing. The canvas never changes its boxes for good: owners apply
    the change and call ``set_boxes`` again.
    """

    box_drawn = Signal(object)
    box_selected = Signal(int)
    box_changed = Signal(int, object)
    delete_requested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(QColor(48, 48, 48))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.image_item = self.scene().addPixmap(QPixmap())
        self.heatmap_item = self.scene().addPixmap(QPixmap())
        self.heatmap_item.setZValue(_Z_HEATMAP)
        self.heatmap_item.setOpacity(0.45)
        self.heatmap_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.heatmap_item.hide()
        self._rubber = self.scene().addRect(
            QRectF(), graphics.cosmetic_pen(Qt.GlobalColor.white, 1, Qt.PenStyle.DashLine)
        )
        self._rubber.setZValue(_Z_RUBBER)
        self._rubber.hide()
        self._handles = [self._new_handle() for _ in graphics.HANDLES]
        self._size: tuple[float, float] | None = None  # (W, H)
        self._boxes: dict[int, BoxView] = {}
        self._items: dict[int, graphics.BoxItem] = {}
        self._selected: int | None = None
        self._heat_visible = True
        self._drawing = False
        self._auto_fit = True
        self._drag = _Drag.NONE
        self._press = QPointF()  # image point where the current drag started
        self._last_view = QPointF()  # last view point of a pan
        self._start_box: Box = (0.0, 0.0, 0.0, 0.0)
        self._handle = graphics.HANDLES[0]

    def _new_handle(self) -> QGraphicsRectItem:
        half = HANDLE_SIZE / 2
        handle = self.scene().addRect(
            QRectF(-half, -half, HANDLE_SIZE, HANDLE_SIZE),
            graphics.cosmetic_pen(Qt.GlobalColor.black, 1),
            QColor(Qt.GlobalColor.white),
        )
        handle.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        handle.setZValue(_Z_HANDLES)
        handle.hide()
        return handle

    # Content

    def set_image(self, rgb: np.ndarray, size: tuple[int, int] | None = None) -> None:
        """Show an ``(h, w, 3)`` uint8 RGB image and fit it; boxes and heatmap stay as set.

        ``size``, the ``(W, H)`` of the full image when ``rgb`` is a smaller screen copy,
        sets the scene's pixels: the copy is stretched over ``(0, 0, W, H)``, so boxes stay
        in full-image pixels.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
        height, width = rgb.shape[:2]
        full_width, full_height = size if size is not None else (width, height)
        self.image_item.setPixmap(graphics.to_pixmap(np.ascontiguousarray(rgb)))
        self.image_item.setTransform(QTransform.fromScale(full_width / width, full_height / height))
        self._size = (float(full_width), float(full_height))
        self.scene().setSceneRect(0, 0, full_width, full_height)
        self._stretch_heatmap()
        self.fit()

    def set_boxes(self, boxes: list[BoxView]) -> None:
        """Replace the boxes; rejected ones are not shown. Keeps the selection if its id stays."""
        for item in self._items.values():
            self.scene().removeItem(item)
        self._boxes = {
            view.id: replace(view, box=tuple(float(v) for v in view.box))
            for view in boxes
            if view.state != "rejected"
        }
        self._items = {box_id: graphics.BoxItem(view) for box_id, view in self._boxes.items()}
        for item in self._items.values():
            self.scene().addItem(item)
        if self._selected not in self._boxes:
            self._selected = None
        if self._drag in (_Drag.MOVE, _Drag.RESIZE):
            self._drag = _Drag.NONE
        self._update_handles()

    def boxes(self) -> list[BoxView]:
        """The boxes shown, as last given to :meth:`set_boxes` (rejected ones left out)."""
        return list(self._boxes.values())

    def set_heatmap(self, heat: np.ndarray | None) -> None:
        """Show a ``(h, w)`` map of values in 0-1 stretched over the image, or none."""
        if heat is None:
            self.heatmap_item.setPixmap(QPixmap())
        else:
            if heat.ndim != 2 or heat.size == 0:
                raise ValueError(f"expected a non-empty (h, w) array, got shape {heat.shape}")
            self.heatmap_item.setPixmap(graphics.to_pixmap(graphics.colorize(heat)))
            self._stretch_heatmap()
        self._sync_heatmap()

    def set_heatmap_opacity(self, value: float) -> None:
        """Heatmap opacity, 0 (invisible) to 1 (opaque); 0.45 by default."""
        self.heatmap_item.setOpacity(min(max(value, 0.0), 1.0))

    def set_heatmap_visible(self, visible: bool) -> None:
        """Show or hide the heatmap (when one is set)."""
        self._heat_visible = visible
        self._sync_heatmap()

    def heatmap_visible(self) -> bool:
        """Whether the heatmap is switched on (it shows only when one is set)."""
        return self._heat_visible

    def _stretch_heatmap(self) -> None:
        pixmap = self.heatmap_item.pixmap()
        if self._size is not None and not pixmap.isNull():
            width, height = self._size
            scale = QTransform.fromScale(width / pixmap.width(), height / pixmap.height())
            self.heatmap_item.setTransform(scale)

    def _sync_heatmap(self) -> None:
        has_map = not self.heatmap_item.pixmap().isNull()
        self.heatmap_item.setVisible(self._heat_visible and has_map)

    # Selection

    def selected_id(self) -> int | None:
        """The id of the selected box, or None."""
        return self._selected

    def select(self, box_id: int | None) -> None:
        """Select a shown box (None or an unknown id clears the selection); emits nothing."""
        self._selected = box_id if box_id in self._boxes else None
        self._update_handles()

    def _select_by_click(self, box_id: int | None) -> None:
        if box_id != self._selected:
            self.select(box_id)
            self.box_selected.emit(-1 if box_id is None else box_id)

    def _update_handles(self) -> None:
        view = self._boxes.get(self._selected)
        for handle, direction in zip(self._handles, graphics.HANDLES, strict=True):
            handle.setVisible(view is not None)
            if view is not None:
                handle.setPos(graphics.handle_point(view.box, direction))

    # Drawing

    def start_drawing(self) -> None:
        """Enter draw mode: the next left-button drag draws a box."""
        self._drawing = True
        self.viewport().setCursor(Qt.CursorShape.CrossCursor)

    def cancel_drawing(self) -> None:
        """Leave draw mode without drawing (Escape does this)."""
        self._drawing = False
        if self._drag == _Drag.DRAW:
            self._drag = _Drag.NONE
        self._rubber.hide()
        self.viewport().unsetCursor()

    def is_drawing(self) -> bool:
        """Whether draw mode is on."""
        return self._drawing

    def _finish_drawing(self) -> None:
        self._rubber.hide()
        rect = self._rubber.rect()
        box = self._clipped((rect.left(), rect.top(), rect.right(), rect.bottom()))
        if box[2] - box[0] >= MIN_DRAWN and box[3] - box[1] >= MIN_DRAWN:
            self.cancel_drawing()
            self.box_drawn.emit(box)

    # View

    def fit(self) -> None:
        """Fit the whole image in the view; it stays fitted across resizes until a zoom."""
        self._auto_fit = True
        if self._size is not None:
            width, height = self._size
            self.fitInView(QRectF(0, 0, width, height), Qt.AspectRatioMode.KeepAspectRatio)

    def image_to_view(self, x: float, y: float) -> QPointF:
        """Viewport position of the image point ``(x, y)``."""
        return self.viewportTransform().map(QPointF(x, y))

    def view_to_image(self, pos: QPointF) -> QPointF:
        """Image point under the viewport position ``pos``."""
        return self.viewportTransform().inverted()[0].map(QPointF(pos))

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Keep the image fitted until the user zooms."""
        super().resizeEvent(event)
        if self._auto_fit:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Zoom around the cursor."""
        notches = event.angleDelta().y() / 120
        if notches == 0 or self._size is None:
            return
        scale = self.transform().m11()
        target = min(max(scale * ZOOM_STEP**notches, ZOOM_LIMITS[0]), ZOOM_LIMITS[1])
        self._auto_fit = False
        self.scale(target / scale, target / scale)
        event.accept()

    # Mouse and keyboard

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
            self._drag = _Drag.DRAW
            self._rubber.setRect(QRectF(self._press, self._press))
            self._rubber.show()
            return
        handle = self._handle_at(pos)
        if handle is not None:
            self._drag, self._handle = _Drag.RESIZE, handle
            self._start_box = self._boxes[self._selected].box
            return
        box_id = self._box_at(pos)
        self._select_by_click(box_id)
        if box_id is None:
            self._start_pan()
        else:
            self._drag = _Drag.MOVE
            self._start_box = self._boxes[box_id].box

    def _start_pan(self) -> None:
        self._drag = _Drag.PAN
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Continue the current drag, or show what a press would grab."""
        pos = event.position()
        point = self.view_to_image(pos)
        if self._drag == _Drag.PAN:
            delta = pos - self._last_view
            self._last_view = pos
            bar_x, bar_y = self.horizontalScrollBar(), self.verticalScrollBar()
            bar_x.setValue(bar_x.value() - round(delta.x()))
            bar_y.setValue(bar_y.value() - round(delta.y()))
        elif self._drag == _Drag.DRAW:
            self._rubber.setRect(QRectF(self._press, point).normalized())
        elif self._drag == _Drag.MOVE:
            moved = point - self._press
            self._show_box(self._shifted(self._start_box, moved.x(), moved.y()))
        elif self._drag == _Drag.RESIZE:
            self._show_box(self._resized(point))
        else:
            self._update_cursor(pos)
        super().mouseMoveEvent(event)  # keeps the zoom anchor's mouse position current

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """Finish the current drag: emit the drawn or changed box."""
        drag, self._drag = self._drag, _Drag.NONE
        if drag == _Drag.DRAW:
            self._finish_drawing()
        elif drag in (_Drag.MOVE, _Drag.RESIZE) and self._selected is not None:
            box = self._boxes[self._selected].box
            if box != self._start_box:
                self.box_changed.emit(self._selected, box)
        self._update_cursor(event.position())
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Escape leaves draw mode; arrows nudge the selected box (Shift: 10 px); Delete."""
        key = event.key()
        if key == Qt.Key.Key_Escape and self._drawing:
            self.cancel_drawing()
        elif key in _NUDGES and self._can_edit_selected():
            step = 10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1
            start = self._boxes[self._selected].box
            box = self._shifted(start, _NUDGES[key][0] * step, _NUDGES[key][1] * step)
            if box != start:
                self._show_box(box)
                self.box_changed.emit(self._selected, box)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self._selected is not None:
            self.delete_requested.emit(self._selected)
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def _can_edit_selected(self) -> bool:
        return self._selected is not None and self._size is not None and self._drag == _Drag.NONE

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

    # Geometry, image pixels

    def _handle_at(self, pos: QPointF) -> tuple[int, int] | None:
        if self._selected is None:
            return None
        box = self._boxes[self._selected].box
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
        for view in self._boxes.values():
            x1, y1, x2, y2 = view.box
            inside_x = x1 - slack <= point.x() <= x2 + slack
            if inside_x and y1 - slack <= point.y() <= y2 + slack:
                area = (x2 - x1) * (y2 - y1)
                if best is None or area < best[0]:
                    best = (area, view.id)
        return None if best is None else best[1]

    def _show_box(self, box: Box) -> None:
        """Show the selected box at ``box`` while it is being edited."""
        view = self._boxes[self._selected]
        self._boxes[view.id] = replace(view, box=box)
        self._items[view.id].set_box(box)
        self._update_handles()

    def _clipped(self, box: Box) -> Box:
        width, height = self._size
        x1, y1, x2, y2 = box
        return (
            min(max(x1, 0.0), width),
            min(max(y1, 0.0), height),
            min(max(x2, 0.0), width),
            min(max(y2, 0.0), height),
        )

    def _shifted(self, box: Box, dx: float, dy: float) -> Box:
        """``box`` moved by ``(dx, dy)``, stopping at the image border."""
        width, height = self._size
        x1, y1, x2, y2 = box
        dx = min(max(dx, -x1), width - x2)
        dy = min(max(dy, -y1), height - y2)
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)

    def _resized(self, point: QPointF) -> Box:
        """The start box with the grabbed handle's edges moved by the drag, inside the image."""
        width, height = self._size
        x1, y1, x2, y2 = self._start_box
        dx, dy = point.x() - self._press.x(), point.y() - self._press.y()
        sx, sy = self._handle
        if sx < 0:
            x1 = min(max(x1 + dx, 0.0), x2 - MIN_SIDE)
        elif sx > 0:
            x2 = max(min(x2 + dx, width), x1 + MIN_SIDE)
        if sy < 0:
            y1 = min(max(y1 + dy, 0.0), y2 - MIN_SIDE)
        elif sy > 0:
            y2 = max(min(y2 + dy, height), y1 + MIN_SIDE)
        return (x1, y1, x2, y2)
