"""The boxes shown on the canvas: their items, the selection and its resize handles."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QGraphicsScene

from ui.box_view import BoxView
from ui.canvas import graphics
from ui.canvas.graphics import Box

HANDLE_SIZE = 8  # side of a drawn resize handle, view pixels
Z_HANDLES = 4


class BoxLayer:
    """Keeps one ``graphics.BoxItem`` per shown box in ``scene`` and handles on the selected one.

    ``all_views`` holds every box given (rejected ones too), in the order given; ``views``
    maps id to the boxes shown: not rejected (unless :attr:`show_rejected`), not hidden
    one by one (:attr:`hidden`) and not all hidden (:attr:`show_boxes` False).
    ``selected`` is the selected id or None; the selected box is drawn above the others.
    Nothing here emits signals: the canvas does.
    """

    def __init__(self, scene: QGraphicsScene) -> None:
        self._scene = scene
        self.all_views: list[BoxView] = []
        self.views: dict[int, BoxView] = {}
        self._items: dict[int, graphics.BoxItem] = {}
        self.selected: int | None = None
        self.show_rejected = False
        self.show_boxes = True
        self.hidden: set[int] = set()
        self._visible: QRectF | None = None  # the scene rectangle on screen
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
        """Replace the boxes. Keeps the selection if its id stays shown; hidden ids that
        are gone are forgotten."""
        self.all_views = [replace(view, box=graphics.as_box(view.box)) for view in boxes]
        self.hidden &= {view.id for view in self.all_views}
        self._rebuild()

    def _shown(self, view: BoxView) -> bool:
        if not self.show_boxes or view.id in self.hidden:
            return False
        return self.show_rejected or view.state != "rejected"

    def _rebuild(self) -> None:
        for item in self._items.values():
            self._scene.removeItem(item)
        self.views = {view.id: view for view in self.all_views if self._shown(view)}
        self._items = {box_id: graphics.BoxItem(view) for box_id, view in self.views.items()}
        for item in self._items.values():
            self._scene.addItem(item)
            item.place_label(self._visible)
        if self.selected not in self.views:
            self.selected = None
        self.update_handles()

    def set_hidden(self, box_id: int, hidden: bool) -> None:
        """Hide or show one box (it stays hidden while the image's boxes are redrawn)."""
        if hidden:
            self.hidden.add(box_id)
        else:
            self.hidden.discard(box_id)
        self._rebuild()

    def set_show_rejected(self, shown: bool) -> None:
        self.show_rejected = shown
        self._rebuild()

    def set_show_boxes(self, shown: bool) -> None:
        self.show_boxes = shown
        self._rebuild()

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

    def keep_labels_in(self, visible: QRectF) -> None:
        """The scene rectangle on screen changed: keep every caption inside it."""
        self._visible = visible
        for item in self._items.values():
            item.place_label(visible)

    def update_handles(self) -> None:
        """Put the handles on the selected box's edges, or hide them when none is selected;
        the selected box goes on top."""
        view = None if self.selected is None else self.views.get(self.selected)
        for box_id, item in self._items.items():
            item.setZValue(graphics.Z_SELECTED if box_id == self.selected else graphics.Z_BOXES)
        for handle, direction in zip(self._handles, graphics.HANDLES, strict=True):
            handle.setVisible(view is not None)
            if view is not None:
                handle.setPos(graphics.handle_point(view.box, direction))
