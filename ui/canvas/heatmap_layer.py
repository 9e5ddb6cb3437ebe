"""The saliency heatmap overlay: a colourised map stretched over the image, above it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene

from ui.canvas import graphics

Z_HEATMAP = 1


class HeatmapLayer:
    """Owns the heatmap's pixmap item in ``scene``; shows it only when a map is set and on.

    ``item`` is the scene item; the map is stretched over the image's ``(0, 0, W, H)``
    once :meth:`set_image_size` has told it ``(W, H)``.
    """

    def __init__(self, scene: QGraphicsScene) -> None:
        self.item: QGraphicsPixmapItem = scene.addPixmap(QPixmap())
        self.item.setZValue(Z_HEATMAP)
        self.item.setOpacity(0.45)
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.item.hide()
        self._size: tuple[float, float] | None = None  # (W, H) of the image
        self._visible = True

    def set_image_size(self, size: tuple[float, float]) -> None:
        """The ``(W, H)`` of the image the map is stretched over."""
        self._size = size
        self._stretch()

    def set_heat(self, heat: np.ndarray | None) -> None:
        """Show a ``(h, w)`` map of values in 0-1 stretched over the image, or none."""
        if heat is None:
            self.item.setPixmap(QPixmap())
        else:
            if heat.ndim != 2 or heat.size == 0:
                raise ValueError(f"expected a non-empty (h, w) array, got shape {heat.shape}")
            self.item.setPixmap(graphics.to_pixmap(graphics.colorize(heat)))
            self._stretch()
        self._sync()

    def set_opacity(self, value: float) -> None:
        """Opacity, 0 (invisible) to 1 (opaque), clamped."""
        self.item.setOpacity(min(max(value, 0.0), 1.0))

    def set_visible(self, visible: bool) -> None:
        """Switch the heatmap on or off (it shows only when one is set)."""
        self._visible = visible
        self._sync()

    def visible(self) -> bool:
        """Whether the heatmap is switched on."""
        return self._visible

    def _stretch(self) -> None:
        pixmap = self.item.pixmap()
        if self._size is not None and not pixmap.isNull():
            width, height = self._size
            scale = QTransform.fromScale(width / pixmap.width(), height / pixmap.height())
            self.item.setTransform(scale)

    def _sync(self) -> None:
        has_map = not self.item.pixmap().isNull()
        self.item.setVisible(self._visible and has_map)
