"""The review controller's box edits: each goes to the store first (committed when the
call returns), then onto the undo stack, then back to the widgets from the store.

A box is saved with the class the screen shows on it: its own class, or for a proposal
that has none yet the current class (the one in the class field). Without a current class
nothing that needs one is saved; the status bar says how to make one. Nothing is saved on
an image whose file cannot be decoded.

Every change is made on the box as the screen shows it (its ``version``): when another
annotator changed or deleted it since, the store refuses the change
(:class:`~core.store.StaleBoxError`), the message is shown and logged, and the image is
shown again as it now is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from PySide6.QtGui import QUndoStack

from core.store import BoxRow, Project, StaleBoxError
from core.store.models import LABEL_STATES
from core.store.rows import BoxSpec
from desktop_app.undo import BoxCommand
from ui.canvas.view import Canvas
from ui.main_window import MainWindow

#: The project setting that remembers the current class across sessions.
CURRENT_CLASS_KEY = "ui.class"
#: The status-bar message when an edit needs a class and none is chosen.
NO_CLASS = "Add a class first: type its name in the Class field and press Return"

log = logging.getLogger(__name__)


class ReviewScreen(Protocol):
    """What the box editor needs of the screen that holds it (the review controller)."""

    #: Why the shown image cannot be decoded, None when it can.
    unreadable: str | None
    #: The shown image's boxes as the screen shows them, by id.
    shown_boxes: dict[int, BoxRow]

    def current_id(self) -> int | None: ...
    def refresh(self, image_id: int) -> None: ...
    def refresh_classes(self, current: str | None = None) -> None: ...
    def refresh_current(self) -> None: ...
    def show_class_counts(self) -> None: ...
    def show_image_id(self, image_id: int) -> None: ...
    def select_next_proposal(self) -> None: ...
    def next_unreviewed(self) -> None: ...
    def maybe_train(self) -> bool: ...


class BoxEditor:
    """Accepting, rejecting, drawing, moving, deleting and naming boxes of the image the
    ``screen`` shows; held by :class:`~desktop_app.controller.Controller`.

    Args:
        project: the open store.
        window: the main window (status bar messages, the current class).
        canvas: the canvas (the selected box, draw mode).
        undo_stack: where each edit goes after the store.
        screen: the controller: the shown image and how to redraw it.
    """

    def __init__(
        self,
        project: Project,
        window: MainWindow,
        canvas: Canvas,
        undo_stack: QUndoStack,
        screen: ReviewScreen,
    ) -> None:
        self.project = project
        self.window = window
        self.canvas = canvas
        self.undo_stack = undo_stack
        self.screen = screen

    @property
    def unreadable(self) -> str | None:
        return self.screen.unreadable

    def current_id(self) -> int | None:
        return self.screen.current_id()

    def _editable(self) -> bool:
        """Whether the shown image may be changed; says why not in the status bar."""
        if self.unreadable is not None:
            self.window.statusBar().showMessage(
                f"Nothing can be saved on this image: {self.unreadable}", 6000
            )
            return False
        return self.current_id() is not None

    def current_class(self) -> str | None:
        """The class of new boxes and of proposals accepted without one, if it exists."""
        name = self.window.current_class()
        return name if name and name in self.project.class_records.classes() else None

    def _class_for(self, box: BoxRow) -> str | None:
        """The class a change of ``box`` saves it with: its own, else the current one
        (None, with a message, when there is neither)."""
        if box.class_name is not None:
            return box.class_name
        chosen = self.current_class()
        if chosen is None:
            self.window.statusBar().showMessage(NO_CLASS, 6000)
        return chosen

    def _box(self, box_id: int) -> BoxRow | None:
        """The box as stored now (None: not on the shown image)."""
        image_id = self.current_id()
        if image_id is None:
            return None
        return next((b for b in self.project.box_records.boxes(image_id) if b.id == box_id), None)

    def _shown(self, box_id: int | None) -> BoxRow | None:
        """The box as the screen shows it (what a change is made on), None if not shown."""
        return None if box_id is None else self.screen.shown_boxes.get(box_id)

    @contextmanager
    def _refused_if_stale(self) -> Iterator[list[StaleBoxError]]:
        """A change on a box someone else changed since it was shown: say so, log it and
        show the image as it is now. Yields a list that then holds the error."""
        refused: list[StaleBoxError] = []
        try:
            yield refused
        except StaleBoxError as exc:
            refused.append(exc)
            self._report_stale(exc)

    def _report_stale(self, exc: StaleBoxError) -> None:
        log.warning("refused: %s", exc)
        self.window.show_error(str(exc))
        if (image_id := self.current_id()) is not None:
            self._changed(image_id)

    def _record(self, text: str, before: BoxRow | None, after: BoxRow | None) -> None:
        self.undo_stack.push(
            BoxCommand(self.project, text, before, after, self._changed, self._report_stale)
        )

    def _changed(self, image_id: int) -> None:
        if image_id != self.current_id():  # an undo or redo on another image: show it
            self.screen.show_image_id(image_id)
            self.window.statusBar().showMessage(
                f"Undo and redo changed {self.project.image(image_id).path}", 5000
            )
        self._update_status(image_id)
        self.screen.refresh(image_id)
        self.screen.show_class_counts()
        self.screen.maybe_train()

    def _update_status(self, image_id: int) -> None:
        """``in_review`` while proposals wait (``proposed`` when none is reviewed, after an
        undo) and once a person changed something; ``done`` only when the annotator says
        so (Space with nothing left, :meth:`_reviewed`), as LabelImg's "verify image": an
        edit or a drawing never makes an image reviewed by itself, and having rejected
        every proposal does not make it an image without objects. A reviewed image stays
        reviewed while its boxes are edited, unless a proposal waits again (an undo)."""
        boxes = self.project.box_records.boxes(image_id)
        pending = any(b.state == "proposed" for b in boxes)
        reviewed = any(b.state != "proposed" for b in boxes)
        current = self.project.image(image_id).status
        status: str | None
        if pending:
            status = "in_review" if reviewed else "proposed"
        elif current == "done":
            status = None
        else:
            status = "in_review" if boxes else None
        if status and current != status:
            self.project.set_status(image_id, status)

    def _review(
        self, box_ids: list[int], act: Callable[[int, int | None], None], text: str
    ) -> bool:
        """``act(box id, version shown)`` on each box, as one undo step; False when a
        change was refused (the image is shown again as it now is)."""
        image_id = self.current_id()
        if image_id is None or not box_ids:
            return False
        with self._refused_if_stale() as refused:
            self.undo_stack.beginMacro(text)
            try:
                for box_id in box_ids:
                    before = self._shown(box_id)
                    act(box_id, None if before is None else before.version)
                    self._record(text, before, self._box(box_id))
            finally:
                self.undo_stack.endMacro()
            self._changed(image_id)
        return not refused

    def accept(self, every: bool = False) -> None:
        """Accept the selected box, or with ``every`` all proposals of the image, each
        with the class shown on it (a proposal without a class takes the current one);
        then select the next proposal. With nothing selected and no proposal left, mark
        the image reviewed: what it holds now is all it holds (no box: no object). Once
        nothing is left to review, go on to the next image that needs review (unless the
        window's auto-advance is off)."""
        image_id = self.current_id()
        if image_id is None or not self._editable():
            return
        if every:
            boxes = [b for b in self.screen.shown_boxes.values() if b.state == "proposed"]
        else:
            boxes = [b for b in [self._shown(self.canvas.selected_id())] if b is not None]
            boxes = [b for b in boxes if b.state == "proposed" or b.class_name is not None]
        if not boxes:
            self._nothing_to_accept(image_id)
            return
        if any(b.class_name is None for b in boxes) and self.current_class() is None:
            self.window.statusBar().showMessage(NO_CLASS, 6000)
            return
        names = {b.id: None if b.class_name else self.current_class() for b in boxes}
        accepted = self._review(
            [b.id for b in boxes],
            lambda box_id, seen: self.project.box_records.accept_box(
                box_id, class_name=names[box_id], seen=seen
            ),
            "accept",
        )
        if not accepted:  # someone else changed a box: the annotator looks again first
            return
        if self.project.box_records.boxes(image_id, states=["proposed"]):
            self.screen.select_next_proposal()
        else:
            self._reviewed(image_id)

    def _nothing_to_accept(self, image_id: int) -> None:
        if self.project.box_records.boxes(image_id, states=["proposed"]):
            self.screen.select_next_proposal()
            message = "Nothing was selected: the next proposal is now; Space accepts it"
            self.window.statusBar().showMessage(message, 5000)
            return
        if self.project.image(image_id).status == "new":  # proposals are on their way
            self.window.statusBar().showMessage(
                "No proposals yet for this image: they are being computed. W draws a box; "
                "Ctrl+Shift+D goes to the next image that needs review",
                6000,
            )
            return
        self._reviewed(image_id)

    def _reviewed(self, image_id: int) -> None:
        """Nothing is left to review on the image: mark it reviewed, say so and go on to
        the next image that needs review (with auto-advance)."""
        if self.project.image(image_id).status != "done":
            self.project.set_status(image_id, "done")
            self.screen.refresh(image_id)
        labels = len(self.project.box_records.boxes(image_id, states=LABEL_STATES))
        path = self.project.image(image_id).path
        message = f"{path} reviewed with {labels} box{'es' if labels != 1 else ''}"
        if self.window.auto_advance():
            self.screen.next_unreviewed()
            moved = self.current_id() != image_id
            message += " · A goes back" if moved else " · every image is reviewed"
        self.window.statusBar().showMessage(message, 5000)

    def reject(self) -> None:
        """Reject the selected box, then select the next proposal."""
        if not self._editable():
            return
        selected = self.canvas.selected_id()
        if selected is None:
            self.window.statusBar().showMessage("Select a box to reject first", 4000)
            return
        self._review(
            [selected],
            lambda box_id, seen: self.project.box_records.reject_box(box_id, seen=seen),
            "reject",
        )
        self.screen.select_next_proposal()

    def start_drawing(self) -> None:
        """W: draw a box of the current class (refused, with a message, without one or on
        an image that cannot be decoded)."""
        if not self._editable():
            return
        if self.current_class() is None:
            self.window.statusBar().showMessage(NO_CLASS, 6000)
            return
        self.canvas.start_drawing()

    def add_drawn_box(self, box: tuple[float, float, float, float]) -> None:
        image_id = self.current_id()
        if image_id is None or not self._editable():
            self.screen.refresh_current()
            return
        name = self.current_class()
        if name is None:
            self.window.statusBar().showMessage(NO_CLASS, 6000)
            return
        box_id = self.project.box_records.add_box(
            image_id, name, box, origin="human", state="accepted"
        )
        self._record("draw", None, self._box(box_id))
        self._changed(image_id)
        self.canvas.select(box_id)

    def move_box(self, box_id: int, box: tuple[float, float, float, float]) -> None:
        before = self._shown(box_id)
        if before is None or not self._editable():
            return
        name = self._class_for(before)
        if name is None:
            self.screen.refresh(before.image_id)  # the box goes back where it was
            return
        with self._refused_if_stale():
            self.project.box_records.edit_box(
                box_id,
                box=box,
                class_name=None if before.class_name else name,
                seen=before.version,
            )
            self._record("edit", before, self._box(box_id))
            self._changed(before.image_id)

    def toggle_flag(self, flag: str) -> None:
        """Ctrl+I / Ctrl+T: turn the selected box's ``difficult`` or ``truncated`` flag
        on or off (undoable)."""
        before = self._shown(self.canvas.selected_id())
        if before is None or not self._editable():
            self.window.statusBar().showMessage(f"Select a box to mark it {flag}", 4000)
            return
        value = not getattr(before, flag)
        with self._refused_if_stale():
            self.project.box_records.set_flags(before.id, seen=before.version, **{flag: value})
            self._record(flag, before, self._box(before.id))
            self._changed(before.image_id)
            self.window.statusBar().showMessage(f"Box {flag}: {'yes' if value else 'no'}", 3000)

    def copy_boxes_from(self, source_id: int) -> None:
        """Ctrl+D: add the accepted boxes of image ``source_id`` to the shown image, as
        drawn boxes with their classes and flags, clipped to this image (one undo step)."""
        image_id = self.current_id()
        size = self.canvas.image_size()
        if image_id is None or size is None or not self._editable():
            return
        width, height = size
        copied = []
        sources = self.project.box_records.boxes(source_id, states=LABEL_STATES)
        for b in sources:
            x1, y1, x2, y2 = b.box
            box = (max(0.0, x1), max(0.0, y1), min(width, x2), min(height, y2))
            if box[0] < box[2] and box[1] < box[3] and b.class_name is not None:
                copied.append(
                    BoxSpec(b.class_name, box, difficult=b.difficult, truncated=b.truncated)
                )
        if not copied:
            self.window.statusBar().showMessage("The previous image has no accepted box", 4000)
            return
        ids = self.project.box_records.add_boxes(image_id, copied)
        self.undo_stack.beginMacro("copy boxes")
        for box_id in ids:
            self._record("copy", None, self._box(box_id))
        self.undo_stack.endMacro()
        self._changed(image_id)
        count = f"{len(ids)} box{'es' if len(ids) != 1 else ''}"
        message = f"Copied {count} from the previous image"
        if len(ids) < len(sources):
            message += f"; {len(sources) - len(ids)} fall outside this image (sizes differ)"
        self.window.statusBar().showMessage(message, 6000)

    def delete_box(self, box_id: int) -> None:
        before = self._shown(box_id)
        if before is None or not self._editable():
            return
        with self._refused_if_stale():
            self.project.box_records.delete_box(box_id, seen=before.version)
            self._record("delete", before, None)
            self._changed(before.image_id)

    def set_class(self, name: str) -> None:
        """Make ``name`` the current class (a new name becomes a class of the project, if
        valid) and give it to the selected box if that has a class (a proposal without
        one shows the current class, which it takes when accepted)."""
        try:
            self.project.class_records.ensure_class(name)
        except ValueError as exc:  # InvalidClassNameError: one message, no class
            self.window.show_error(str(exc))
            return
        self.project.set_setting(CURRENT_CLASS_KEY, name.strip())
        self.screen.refresh_classes(name.strip())
        before = self._shown(self.canvas.selected_id())
        # A proposal without a class shows the current class already: it takes it when
        # accepted, so choosing a class saves nothing on it.
        if before is None or before.class_name in (None, name.strip()) or self.unreadable:
            self.screen.refresh_current()
            return
        with self._refused_if_stale():
            self.project.box_records.edit_box(before.id, class_name=name, seen=before.version)
            self._record("class", before, self._box(before.id))
            self._changed(before.image_id)
