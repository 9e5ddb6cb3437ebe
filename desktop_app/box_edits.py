"""The review controller's box edits: each goes to the store first (committed when the
call returns), then onto the undo stack, then back to the widgets from the store."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoStack

from core.store import BoxRow, Project
from desktop_app.undo import BoxCommand
from ui.canvas import Canvas
from ui.main_window import MainWindow

DEFAULT_CLASS = "object"


class BoxEdits:
    """Accepting, rejecting, drawing, moving, deleting and naming boxes of the current
    image; mixed into :class:`~desktop_app.controller.Controller`, which provides the
    attributes and methods declared here."""

    project: Project
    window: MainWindow
    canvas: Canvas
    undo_stack: QUndoStack
    current_id: Callable[[], int | None]
    refresh: Callable[[int], None]
    refresh_classes: Callable[[], None]
    maybe_train: Callable[[], bool]

    def _box(self, box_id: int) -> BoxRow | None:
        image_id = self.current_id()
        if image_id is None:
            return None
        return next((b for b in self.project.boxes(image_id) if b.id == box_id), None)

    def _record(self, text: str, before: BoxRow | None, after: BoxRow | None) -> None:
        self.undo_stack.push(BoxCommand(self.project, text, before, after, self._changed))

    def _changed(self, image_id: int) -> None:
        self._update_status(image_id)
        self.refresh(image_id)
        self.maybe_train()

    def _update_status(self, image_id: int) -> None:
        """``done`` when no proposal is left to review, ``in_review`` while some are,
        ``proposed`` when none is reviewed (after an undo); unchanged without boxes."""
        boxes = self.project.boxes(image_id)
        pending = any(b.state == "proposed" for b in boxes)
        reviewed = any(b.state != "proposed" for b in boxes)
        status = {
            (True, True): "in_review",
            (False, True): "done",
            (True, False): "proposed",
        }.get((pending, reviewed))
        if status and self.project.image(image_id).status != status:
            self.project.set_status(image_id, status)

    def _review(self, box_ids: list[int], act: Callable[[int], None], text: str) -> None:
        image_id = self.current_id()
        if image_id is None or not box_ids:
            return
        self.undo_stack.beginMacro(text)
        for box_id in box_ids:
            before = self._box(box_id)
            act(box_id)
            self._record(text, before, self._box(box_id))
        self.undo_stack.endMacro()
        self._changed(image_id)

    def accept(self, every: bool = False) -> None:
        """Accept the selected box, or with ``every`` all proposals of the image.

        A proposal named after a network class that the annotator does not use (an
        ImageNet class such as "kit fox" in a raccoon project) is accepted as the class in
        the class box instead, once the project has classes of its own.
        """
        image_id = self.current_id()
        if image_id is None:
            return
        if every:
            ids = [b.id for b in self.project.boxes(image_id, states=["proposed"])]
        else:
            ids = [i for i in [self.canvas.selected_id()] if i is not None]
        own = set(self.window_classes())
        chosen = self.window.current_class()

        def accept_one(box_id: int) -> None:
            box = self._box(box_id)
            if box is not None and own and box.class_name not in own and chosen:
                self.project.edit_box(box_id, class_name=chosen)
            self.project.accept_box(box_id)

        self._review(ids, accept_one, "accept")

    def window_classes(self) -> list[str]:
        """The classes people gave boxes in this project (drawn, imported or edited)."""
        return self.project.user_classes()

    def reject(self) -> None:
        selected = self.canvas.selected_id()
        self._review([selected] if selected is not None else [], self.project.reject_box, "reject")

    def add_drawn_box(self, box: tuple[float, float, float, float]) -> None:
        image_id = self.current_id()
        if image_id is None:
            return
        name = self.window.current_class() or DEFAULT_CLASS
        box_id = self.project.add_box(image_id, name, box, origin="human", state="accepted")
        self._record("draw", None, self._box(box_id))
        self._changed(image_id)
        self.canvas.select(box_id)

    def move_box(self, box_id: int, box: tuple[float, float, float, float]) -> None:
        before = self._box(box_id)
        if before is None:
            return
        self.project.edit_box(box_id, box=box)
        self._record("edit", before, self._box(box_id))
        self._changed(before.image_id)

    def delete_box(self, box_id: int) -> None:
        before = self._box(box_id)
        if before is None:
            return
        self.project.delete_box(box_id)
        self._record("delete", before, None)
        self._changed(before.image_id)

    def set_class(self, name: str) -> None:
        """Give the selected box class ``name`` (new boxes get it too)."""
        selected = self.canvas.selected_id()
        before = self._box(selected) if selected is not None else None
        if before is None or before.class_name == name:
            return
        self.project.edit_box(before.id, class_name=name)
        self._record("class", before, self._box(before.id))
        self.refresh_classes()
        self._changed(before.image_id)
