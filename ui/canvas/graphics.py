"""What the canvas draws: box outlines with captions, class colours and the heatmap colours."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsRectItem,
    QGraphicsSimpleTextItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from ui.box_view import BoxView
from ui.class_colors import class_color

Box = tuple[float, float, float, float]
Z_BOXES = 2
#: The selected box is drawn above the others.
Z_SELECTED = 2.5
#: The outline of a rejected proposal when rejected proposals are shown.
REJECTED_COLOR = QColor(150, 150, 150)
# Handle directions, clockwise from the top-left corner: -1 moves x1 (y1), 1 moves x2 (y2).
HANDLES = ((-1, -1), (0, -1), (1, -1), (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0))
HANDLE_CURSORS = {
    (-1, -1): Qt.CursorShape.SizeFDiagCursor,
    (1, 1): Qt.CursorShape.SizeFDiagCursor,
    (1, -1): Qt.CursorShape.SizeBDiagCursor,
    (-1, 1): Qt.CursorShape.SizeBDiagCursor,
    (0, -1): Qt.CursorShape.SizeVerCursor,
    (0, 1): Qt.CursorShape.SizeVerCursor,
    (-1, 0): Qt.CursorShape.SizeHorCursor,
    (1, 0): Qt.CursorShape.SizeHorCursor,
}


def as_box(values: tuple[float, ...] | list[float]) -> Box:
    """Four numbers as a box ``(x1, y1, x2, y2)`` of floats."""
    x1, y1, x2, y2 = (float(v) for v in values)
    return x1, y1, x2, y2


def jet_lut() -> np.ndarray:
    """A ``(256, 3)`` uint8 jet colour map: dark blue, blue, cyan, yellow, red, dark red."""
    x = np.linspace(0.0, 1.0, 256)
    channels = [np.clip(1.5 - np.abs(4.0 * x - centre), 0.0, 1.0) for centre in (3, 2, 1)]
    return np.round(np.stack(channels, axis=1) * 255).astype(np.uint8)


JET = jet_lut()


def colorize(heat: np.ndarray) -> np.ndarray:
    """Colour a ``(h, w)`` map of values in 0-1 as ``(h, w, 3)`` uint8 RGB; NaN counts as 0."""
    scaled = np.asarray(heat, dtype=np.float32) * np.float32(255) + np.float32(0.5)
    np.clip(scaled, 0, 255, out=scaled)
    scaled[np.isnan(scaled)] = 0
    return JET[scaled.astype(np.uint8)]


def label_text(view: BoxView) -> str:
    """The caption: the class the box is saved with (or will take), and for a proposal
    still to review its confidence, or the network's guess as a hint with its confidence
    (``"raccoon · Arctic fox? 0.19"``). A reviewed box shows its class only."""
    name = view.class_name or "no class"
    flags = [f for f, on in (("difficult", view.difficult), ("truncated", view.truncated)) if on]
    if flags:
        name = f"{name} [{', '.join(flags)}]"
    if view.state == "rejected":
        return f"{name} (rejected)"
    if view.state != "proposed":
        return name
    score = "" if view.confidence is None else f" {view.confidence:.2f}"
    if view.hint is not None:
        return f"{name} · {view.hint}?{score}"
    return f"{name}{score}"


def cosmetic_pen(
    color: QColor | Qt.GlobalColor, width: int, style: Qt.PenStyle = Qt.PenStyle.SolidLine
) -> QPen:
    """A pen whose width is in view pixels, whatever the zoom."""
    pen = QPen(QColor(color), width, style)
    pen.setCosmetic(True)
    return pen


def to_pixmap(rgb: np.ndarray) -> QPixmap:
    """A pixmap holding its own copy of a C-contiguous ``(h, w, 3)`` uint8 RGB array."""
    height, width = rgb.shape[:2]
    image = QImage(rgb.data, width, height, rgb.strides[0], QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image)  # copies, so the array need not outlive this call


class _Label(QGraphicsSimpleTextItem):
    """Box caption on a filled background in the box colour, inside the box's top-left
    corner (so it stays visible for boxes at the image's top edge)."""

    def __init__(self, text: str, color: QColor, parent: QGraphicsItem) -> None:
        super().__init__(text, parent)
        self._background = color
        luma = 0.299 * color.red() + 0.587 * color.green() + 0.114 * color.blue()
        self.setBrush(QColor(Qt.GlobalColor.black if luma > 140 else Qt.GlobalColor.white))
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)

    def paint(
        self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None
    ) -> None:
        """Fill the background, then draw the text."""
        painter.fillRect(self.boundingRect(), self._background)
        super().paint(painter, option, widget)  # type: ignore[arg-type]  # Qt takes None


class BoxItem(QGraphicsRectItem):
    """One box outline (solid; dashed for proposals, dotted grey for rejected ones) with
    its caption. The caption sits in the box's top-left corner, moved into ``visible`` (the
    part of the scene on screen) when that corner is off screen."""

    def __init__(self, view: BoxView) -> None:
        super().__init__()
        self.box_id = view.id
        color = class_color(view.class_name) if view.state != "rejected" else REJECTED_COLOR
        style = {"proposed": Qt.PenStyle.DashLine, "rejected": Qt.PenStyle.DotLine}.get(
            view.state, Qt.PenStyle.SolidLine
        )
        self.setPen(cosmetic_pen(color, 2, style))
        self.setZValue(Z_BOXES)
        self.label = _Label(label_text(view), color, self)
        self._visible: QRectF | None = None
        self.set_box(view.box)

    def set_box(self, box: Box) -> None:
        """Move the outline and its caption to ``box`` (image pixels)."""
        x1, y1, x2, y2 = box
        self.setRect(QRectF(x1, y1, x2 - x1, y2 - y1))
        self.place_label(self._visible)

    def place_label(self, visible: QRectF | None) -> None:
        """Put the caption at the box's top-left corner, or where the box enters
        ``visible`` (scene coordinates) when that corner is off screen."""
        self._visible = visible
        rect = self.rect()
        x, y = rect.left(), rect.top()
        if visible is not None:
            x = min(max(x, visible.left()), rect.right())
            y = min(max(y, visible.top()), rect.bottom())
        self.label.setPos(x, y)


def handle_point(box: Box, direction: tuple[int, int]) -> QPointF:
    """Where the handle for ``direction`` sits on ``box``."""
    x1, y1, x2, y2 = box
    xs, ys = (x1, (x1 + x2) / 2, x2), (y1, (y1 + y2) / 2, y2)
    return QPointF(xs[direction[0] + 1], ys[direction[1] + 1])
