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
from collections.abc import Iterator
from contextlib import contextmanager

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

from ui.box_view import BoxView
from ui.canvas import graphics
from ui.canvas.box_layer import BoxLayer
from ui.canvas.heatmap_layer import HeatmapLayer
from ui.canvas.input import CanvasInput, Drag

PLACEHOLDER_WIDTH = 60  # characters a line of placeholder text holds
ZOOM_STEP = 1.25  # zoom factor per wheel notch and per Ctrl+= / Ctrl+-
#: The zoom range, as multiples of the scale that fits the whole image in the view.
ZOOM_LIMITS = (0.25, 16.0)


class Canvas(QGraphicsView):
    """Shows one image with its boxes; draws, selects, moves and resizes boxes.

    Signals carry image pixels: ``box_drawn((x1, y1, x2, y2))`` after a drawing,
    ``box_selected(id)`` when a click changes the selection (-1 when it clears it),
    ``box_changed(id, (x1, y1, x2, y2))`` after a move, resize or nudge, and
    ``delete_requested(id)`` on Delete or Backspace; ``selection_changed(id)`` whenever
    the selection changes, by a click or a call (-1: none), so a box list can follow.
    The canvas never changes its boxes for good: owners apply the change and call
    ``set_boxes`` again.
    """

    box_drawn = Signal(object)
    box_selected = Signal(int)
    box_changed = Signal(int, object)
    delete_requested = Signal(int)
    selection_changed = Signal(int)

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
        """Replace the boxes (in the order Tab visits them); rejected ones are shown only
        while :meth:`set_rejected_visible` is on. Keeps the selection if its id stays."""
        with self._selection_watch():
            self.layer.set_boxes(boxes)
        self.input.boxes_replaced()

    def boxes(self) -> list[BoxView]:
        """The boxes shown, as last given to :meth:`set_boxes`: hidden ones left out, and
        rejected ones unless they are shown."""
        return list(self.layer.views.values())

    def all_boxes(self) -> list[BoxView]:
        """Every box last given to :meth:`set_boxes`, shown or not."""
        return list(self.layer.all_views)

    # Visibility

    def set_box_visible(self, box_id: int, visible: bool) -> None:
        """Hide or show one box until the image changes."""
        with self._selection_watch():
            self.layer.set_hidden(box_id, not visible)

    def hidden_ids(self) -> set[int]:
        return set(self.layer.hidden)

    def set_rejected_visible(self, visible: bool) -> None:
        """Show rejected proposals (dotted grey), or leave them out (the default)."""
        with self._selection_watch():
            self.layer.set_show_rejected(visible)

    def rejected_visible(self) -> bool:
        return self.layer.show_rejected

    def set_boxes_visible(self, visible: bool) -> None:
        """Show or hide every box (to see the image alone)."""
        with self._selection_watch():
            self.layer.set_show_boxes(visible)

    def boxes_visible(self) -> bool:
        return self.layer.show_boxes

    def clear_hidden(self) -> None:
        """A new image: every box of it starts visible."""
        self.layer.hidden.clear()

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
        """Select a shown box (None or an unknown id clears the selection)."""
        with self._selection_watch():
            self.layer.select(box_id)

    def select_next(self, step: int = 1) -> None:
        """Select the next (``step`` 1) or previous (-1) shown box, in the order given,
        going round; the first (or last) when none is selected (Tab / Shift+Tab)."""
        ids = list(self.layer.views)
        if not ids:
            return
        current = self.layer.selected
        if current is None:
            self.select(ids[0] if step > 0 else ids[-1])
        else:
            self.select(ids[(ids.index(current) + step) % len(ids)])

    @contextmanager
    def _selection_watch(self) -> Iterator[None]:
        """Emit ``selection_changed`` if the selection differs after the block."""
        before = self.layer.selected
        yield
        if self.layer.selected != before:
            self.selection_changed.emit(-1 if self.layer.selected is None else self.layer.selected)

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

    def is_busy(self) -> bool:
        """Whether the annotator is drawing, moving, resizing or panning right now (then
        the boxes must not be replaced under the mouse)."""
        return self.input.drawing or self.input.drag is not Drag.NONE

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
        self._labels_in_view()

    def fit_scale(self) -> float:
        """View pixels per image pixel at which the whole image fits (1 with no image)."""
        if self._size is None:
            return 1.0
        margin = 2 * self.frameWidth() + 4
        room = self.viewport().width() - margin, self.viewport().height() - margin
        return max(min(room[0] / self._size[0], room[1] / self._size[1]), 1e-6)

    def zoom(self) -> float:
        """View pixels per image pixel (1: one image pixel per screen pixel)."""
        return self.transform().m11()

    def zoom_to(self, scale: float) -> None:
        """Zoom to ``scale`` view pixels per image pixel, within :data:`ZOOM_LIMITS` times
        the fitting scale, around the view's centre (or the cursor, for the wheel)."""
        if self._size is None:
            return
        fit = self.fit_scale()
        target = min(max(scale, ZOOM_LIMITS[0] * fit), ZOOM_LIMITS[1] * fit)
        self._auto_fit = False
        factor = target / self.zoom()
        self.scale(factor, factor)
        self._labels_in_view()

    def zoom_in(self) -> None:
        self._zoom_at_centre(self.zoom() * ZOOM_STEP)

    def zoom_out(self) -> None:
        self._zoom_at_centre(self.zoom() / ZOOM_STEP)

    def actual_size(self) -> None:
        """One image pixel per screen pixel (Ctrl+1)."""
        self._zoom_at_centre(1.0)

    def _zoom_at_centre(self, scale: float) -> None:
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        try:
            self.zoom_to(scale)
        finally:
            self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)

    def visible_rect(self) -> QRectF:
        """The part of the scene on screen, in image pixels."""
        return self.mapToScene(self.viewport().rect()).boundingRect()

    def _labels_in_view(self) -> None:
        self.layer.keep_labels_in(self.visible_rect())

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        """A pan or scroll: the captions follow into the view."""
        super().scrollContentsBy(dx, dy)
        self._labels_in_view()

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
        else:
            self._labels_in_view()

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Zoom around the cursor, within :data:`ZOOM_LIMITS`."""
        notches = event.angleDelta().y() / 120
        if notches == 0 or self._size is None:
            return
        self.zoom_to(self.zoom() * ZOOM_STEP**notches)
        event.accept()
