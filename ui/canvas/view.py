"""The image canvas: one image, its boxes and an optional saliency heatmap.

Scene coordinates are image pixels with continuous edges (the whole ``W × H`` image is
``(0, 0, W, H)``), so every coordinate exchanged with the outside is in image pixels.
Items only draw; the mouse and keyboard go to the :class:`~ui.canvas.input.CanvasInput`
the canvas holds.
The boxes and their handles live in ``ui.canvas.box_layer``, the heatmap in
``ui.canvas.heatmap_layer``.
"""

from __future__ import annotations

import textwrap

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
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView, QWidget

from ui.canvas import graphics
from ui.canvas.box_layer import BoxLayer
from ui.canvas.box_view import BoxView
from ui.canvas.heatmap_layer import HeatmapLayer
from ui.canvas.input import CanvasInput

PLACEHOLDER_WIDTH = 60  # characters a line of placeholder text holds
ZOOM_STEP = 1.25  # zoom factor per wheel notch
ZOOM_LIMITS = (0.01, 64.0)


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
        self._heatmap = HeatmapLayer(self.scene())
        self.heatmap_item = self._heatmap.item
        self.layer = BoxLayer(self.scene())
        self._placeholder = self.scene().addSimpleText("")
        self._placeholder.setBrush(QColor(235, 235, 235))
        self._placeholder.hide()
        self._size: tuple[float, float] | None = None  # (W, H); None: nothing to draw on
        self._auto_fit = True
        self.input = CanvasInput(self)

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
        self._placeholder.hide()
        self.image_item.setPixmap(graphics.to_pixmap(np.ascontiguousarray(rgb)))
        self.image_item.setTransform(QTransform.fromScale(full_width / width, full_height / height))
        self._size = (float(full_width), float(full_height))
        self.scene().setSceneRect(0, 0, full_width, full_height)
        self._heatmap.set_image_size(self._size)
        self.fit()

    def show_placeholder(self, text: str) -> None:
        """Show ``text`` instead of an image (a file that cannot be decoded): no image, no
        boxes, no heatmap, and nothing can be drawn until :meth:`set_image`."""
        self.cancel_drawing()
        self.image_item.setPixmap(QPixmap())
        self.layer.set_boxes([])
        self._heatmap.set_heat(None)
        self._size = None
        wrap = textwrap.TextWrapper(PLACEHOLDER_WIDTH, break_long_words=False)
        lines = [wrap.fill(part) for part in text.splitlines()]
        self._placeholder.setText("\n".join(lines))
        self._placeholder.show()
        rect = self._placeholder.boundingRect().adjusted(-20, -20, 20, 20)
        self.scene().setSceneRect(rect)
        self.resetTransform()
        self.centerOn(rect.center())

    def placeholder_text(self) -> str | None:
        """The text shown instead of an image (its lines joined by spaces), or None while
        an image is shown."""
        if not self._placeholder.isVisible():
            return None
        return " ".join(self._placeholder.text().split())

    def set_boxes(self, boxes: list[BoxView]) -> None:
        """Replace the boxes; rejected ones are not shown. Keeps the selection if its id stays."""
        self.layer.set_boxes(boxes)
        self.input.boxes_replaced()

    def boxes(self) -> list[BoxView]:
        """The boxes shown, as last given to :meth:`set_boxes` (rejected ones left out)."""
        return list(self.layer.views.values())

    def set_heatmap(self, heat: np.ndarray | None) -> None:
        """Show a ``(h, w)`` map of values in 0-1 stretched over the image, or none."""
        self._heatmap.set_heat(heat)

    def set_heatmap_opacity(self, value: float) -> None:
        """Heatmap opacity, 0 (invisible) to 1 (opaque); 0.45 by default."""
        self._heatmap.set_opacity(value)

    def set_heatmap_visible(self, visible: bool) -> None:
        """Show or hide the heatmap (when one is set)."""
        self._heatmap.set_visible(visible)

    def heatmap_visible(self) -> bool:
        """Whether the heatmap is switched on (it shows only when one is set)."""
        return self._heatmap.visible()

    # Selection

    def selected_id(self) -> int | None:
        """The id of the selected box, or None."""
        return self.layer.selected

    def select(self, box_id: int | None) -> None:
        """Select a shown box (None or an unknown id clears the selection); emits nothing."""
        self.layer.select(box_id)

    # Drawing

    def start_drawing(self) -> None:
        """Enter draw mode: the next left-button drag draws a box (not on a placeholder)."""
        if self._size is not None:
            self.input.start_drawing()

    def cancel_drawing(self) -> None:
        """Leave draw mode without drawing (Escape does this)."""
        self.input.cancel_drawing()

    def is_drawing(self) -> bool:
        """Whether draw mode is on."""
        return self.input.drawing

    def image_size(self) -> tuple[float, float] | None:
        """``(W, H)`` of the image shown, in its pixels; None for a placeholder or nothing."""
        return self._size

    # Mouse and keys, handled by the input object

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if not self.input.press_event(event):
            super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """A fast second click acts as a press."""
        self.mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self.input.move_event(event)
        super().mouseMoveEvent(event)  # keeps the zoom anchor's mouse position current

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self.input.release_event(event)
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self.input.key_event(event):
            super().keyPressEvent(event)

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
