"""The boxes shown on the canvas: their items, the selection and its resize handles."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QGraphicsScene

from ui.canvas import graphics
from ui.canvas.box_view import BoxView
from ui.canvas.graphics import Box

HANDLE_SIZE = 8  # side of a drawn resize handle, view pixels
Z_HANDLES = 4


class BoxLayer:
    """Keeps one ``graphics.BoxItem`` per shown box in ``scene`` and handles on the selected one.

    ``views`` maps id to the shown :class:`BoxView` (rejected ones left out); ``selected``
    is the selected id or None. Nothing here emits signals: the canvas does.
    """

    def __init__(self, scene: QGraphicsScene) -> None:
        self._scene = scene
        self.views: dict[int, BoxView] = {}
        self._items: dict[int, graphics.BoxItem] = {}
        self.selected: int | None = None
        self._handles = [self._new_handle() for _ in graphics.HANDLES]

    def _new_handle(self) -> QGraphicsRectItem:
        half = HANDLE_SIZE / 2
        handle = self._scene.addRect(
            QRectF(-half, -half, HANDLE_SIZE, HANDLE_SIZE),
            graphics.cosmetic_pen(Qt.GlobalColor.black, 1),
            QColor(Qt.GlobalColor.white),
        )
        handle.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        handle.setZValue(Z_HANDLES)
        handle.hide()
        return handle

    def set_boxes(self, boxes: list[BoxView]) -> None:
        """Replace the boxes; rejected ones are not shown. Keeps the selection if its id stays."""
        for item in self._items.values():
            self._scene.removeItem(item)
        self.views = {
            view.id: replace(view, box=graphics.as_box(view.box))
            for view in boxes
            if view.state != "rejected"
        }
        self._items = {box_id: graphics.BoxItem(view) for box_id, view in self.views.items()}
        for item in self._items.values():
            self._scene.addItem(item)
        if self.selected not in self.views:
            self.selected = None
        self.update_handles()

    def select(self, box_id: int | None) -> None:
        """Select a shown box (None or an unknown id clears the selection)."""
        self.selected = box_id if box_id in self.views else None
        self.update_handles()

    def show_box(self, box: Box) -> None:
        """Show the selected box at ``box`` while it is being edited."""
        if self.selected is None:
            return
        view = self.views[self.selected]
        self.views[view.id] = replace(view, box=box)
        self._items[view.id].set_box(box)
        self.update_handles()

    def update_handles(self) -> None:
        """Put the handles on the selected box's edges, or hide them when none is selected."""
        view = None if self.selected is None else self.views.get(self.selected)
        for handle, direction in zip(self._handles, graphics.HANDLES, strict=True):
            handle.setVisible(view is not None)
            if view is not None:
                handle.setPos(graphics.handle_point(view.box, direction))
