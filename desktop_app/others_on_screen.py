"""What other annotators change, shown on this app's screen on each of its looks at the
shared project (:class:`~desktop_app.team_watch.TeamWatch`, every 10 s): the rows of images
they took or let go, the boxes of the image on screen, the project's classes."""

from __future__ import annotations

from typing import Protocol

from core.store import BoxRow, Project
from desktop_app.team_watch import TeamWatch
from ui.canvas.view import Canvas
from ui.main_window import MainWindow


class SharedScreen(Protocol):
    """What this needs of the review controller that holds it."""

    #: Why the shown image cannot be decoded, None when it can.
    unreadable: str | None
    #: The shown image's boxes as the screen shows them, by id.
    shown_boxes: dict[int, BoxRow]

    def current_id(self) -> int | None: ...
    def refresh(self, image_id: int) -> None: ...
    def refresh_row(self, image_id: int) -> None: ...
    def refresh_current(self) -> None: ...
    def show_class_counts(self) -> None: ...


class OthersOnScreen:
    """Shows what other annotators changed: held by the controller, fed by its TeamWatch.

    Args:
        project: the open store.
        window: the main window (status bar, class field and panels).
        canvas: the canvas (whether a drag is on).
        screen: the controller: the shown image and how to redraw it.
    """

    def __init__(
        self, project: Project, window: MainWindow, canvas: Canvas, screen: SharedScreen
    ) -> None:
        self.project = project
        self.window = window
        self.canvas = canvas
        self.screen = screen

    def follow(self, team: TeamWatch) -> None:
        """Act on each of ``team``'s looks at the project."""
        team.claims_changed.connect(self.rows_moved)
        team.classes_changed.connect(self.classes_changed)
        team.looked.connect(self.redraw_if_changed)

    def rows_moved(self, image_ids: list[int]) -> None:
        """These images were taken or let go by others, or their boxes changed: show
        their rows as stored now (statuses and box counts) and the classes' box counts."""
        for image_id in image_ids:
            self.screen.refresh_row(image_id)
        self.screen.show_class_counts()

    def redraw_if_changed(self) -> None:
        """Someone else changed the boxes of the image on screen: show them as stored, and
        who did it, unless the annotator is drawing or dragging right now (then their
        next change is checked against the versions shown, see :mod:`desktop_app.box_edits`)."""
        image_id = self.screen.current_id()
        if image_id is None or self.screen.unreadable is not None or self.canvas.is_busy():
            return
        stored = self.project.box_records.boxes(image_id)
        shown = {b.id: b.version for b in self.screen.shown_boxes.values()}
        if {b.id: b.version for b in stored} == shown:
            return
        me = self.project.user
        changed = {b.updated_by for b in stored if shown.get(b.id) != b.version}
        others = sorted(name for name in changed if name not in (None, me))
        removed = set(shown) - {b.id for b in stored}
        self.screen.refresh(image_id)  # this app's own worker's proposals: silently
        if others or removed:
            who = ", ".join(others) or "someone"
            self.window.statusBar().showMessage(
                f"{who} changed this image's boxes: shown as they are now", 6000
            )

    def classes_changed(self) -> None:
        """Another annotator added, renamed or removed a class: show the project's classes
        (not while the class field is being typed in)."""
        combo = self.window.class_combo
        field = combo.lineEdit()
        if combo.hasFocus() or (field is not None and field.hasFocus()):
            return
        counts = self.project.class_records.class_counts()
        self.window.set_classes(counts, self.window.current_class() or None)
        self.window.image_list.set_filter_classes(list(counts))
        if not self.canvas.is_busy():  # a proposal's caption shows the current class
            self.screen.refresh_current()
