"""The review controller: the window's intents become store changes, and store rows views.

Data flows one way: file → (worker) proposals and maps → store rows → widgets. Every edit
goes to the store first (committed when the call returns), then onto the undo stack, then
back to the widgets from the store, so the screen always shows what is saved (the edits
are made by the :class:`~desktop_app.box_edits.BoxEditor` it holds, the map selector's cache in
:mod:`desktop_app.map_selector`, when to fine-tune in :mod:`desktop_app.retraining`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from core.engine.images import ImageLoadError, load_display
from core.store import BoxRow, ImageRow, Project
from desktop_app.background.jobs import MapJob, Task
from desktop_app.box_edits import CURRENT_CLASS_KEY, BoxEditor
from desktop_app.class_edits import ClassEditor
from desktop_app.job_desk import JobDesk
from desktop_app.map_selector import MAP_TYPES, TYPED_MAPS, TypedMaps
from desktop_app.others_on_screen import OthersOnScreen
from desktop_app.store_views import (
    CLASS_FILTER_KEY,
    SORT_KEY,
    STATUS_FILTER_KEY,
    box_view,
    list_row,
    remembered_choices,
)
from desktop_app.team_watch import TeamWatch
from ui.canvas.view import Canvas
from ui.main_window import MainWindow

#: Statuses of images that still need a person's review.
NEEDS_REVIEW = ("new", "proposed", "in_review")
#: How many images after the current one the worker proposes first.
LOOKAHEAD = 8


class Controller(QObject):
    """Connects one open project to the main window, its canvas and the proposal worker.

    Args:
        project: the open store.
        window: the main window (ui, no torch).
        canvas: the box canvas installed in the window.
        saliency: ``image id → (h, w) float map or None``, the worker's map cache.
        prioritize: called with the ids of the current and next images, so the worker
            proposes them first.
        submit_task: queues a :class:`~desktop_app.background.jobs.Task` in the worker (maps of a
            chosen type, the image score, fine-tuning); the worker's ``task_finished``
            must reach :meth:`task_finished`.

    Signals:
        model_changed(): a training run (of this app or, seen by :attr:`team`, another)
            made a new model version active, so unreviewed images should be proposed again.
        image_mended(image_id): an image marked unreadable can be read again, so it
            should be proposed.
        image_left(image_id): the annotator moved from this image to another.

    Ranking and fine-tuning go through :attr:`jobs` (:class:`~desktop_app.job_desk.JobDesk`):
    fine-tuning on demand (:meth:`train_now`) and once the project's ``retrain_after``
    boxes were accepted since the newest version was trained (see
    :class:`~desktop_app.retraining.RetrainTrigger`). The image shown is claimed for
    review through :attr:`team` (:class:`~desktop_app.team_watch.TeamWatch`), and "next
    image that needs review" skips images other annotators hold; what they change reaches the
    screen through :attr:`others` (:class:`~desktop_app.others_on_screen.OthersOnScreen`).
    """

    model_changed = Signal()
    image_mended = Signal(int)
    image_left = Signal(int)

    def __init__(
        self,
        project: Project,
        window: MainWindow,
        canvas: Canvas,
        saliency: Callable[[int], np.ndarray | None] | None = None,
        prioritize: Callable[[list[int]], None] | None = None,
        submit_task: Callable[[Task], None] | None = None,
    ) -> None:
        super().__init__(window)
        self.project = project
        self.window = window
        self.canvas = canvas
        self.saliency = saliency or (lambda _id: None)
        self.prioritize = prioritize or (lambda _ids: None)
        self.submit_task = submit_task or (lambda _task: None)
        self.map_type: str | None = None  # None: the proposals' map
        self._typed_maps = TypedMaps(TYPED_MAPS)
        self.undo_stack = QUndoStack(self)
        self.rows: list[ImageRow] = []
        self._position: dict[int, int] = {}  # image id → index in rows
        self.index = -1
        self.unreadable: str | None = None
        #: The boxes of the shown image as the screen shows them (their versions are what
        #: an edit is checked against: see :mod:`desktop_app.box_edits`).
        self.shown_boxes: dict[int, BoxRow] = {}
        self.team = TeamWatch(project, window.image_model, window.set_claim, parent=self)
        self.team.active_version_changed.connect(self.model_changed.emit)
        self.others = OthersOnScreen(project, window, canvas, self)
        self.others.follow(self.team)
        self.order, self.status_filter, self.class_filter = remembered_choices(project)
        self.jobs = JobDesk(project, window, self.submit_task, self.model_changed.emit)
        self.edits = BoxEditor(project, window, canvas, self.undo_stack, self)
        self.class_edits = ClassEditor(project, window, self.undo_stack, self)
        self._connect()
        window.set_heatmap_methods(list(MAP_TYPES))
        self.map_type = MAP_TYPES.get(window.heatmap_method())
        canvas.set_heatmap_visible(window.heatmap_box.isChecked())
        canvas.set_heatmap_opacity(window.opacity_slider.value() / 100)
        window.image_list.show_choices(*self.order, self.status_filter, self.class_filter)
        self.refresh_classes(project.setting(CURRENT_CLASS_KEY))  # the class chosen last
        self.reload_list()
        if self.rows:
            self.show_index(0)

    # --- wiring ---------------------------------------------------------------------------

    def _connect(self) -> None:
        w, c = self.window, self.canvas
        pairs = [
            (w.navigate_requested, lambda step: self.show_index(self.index + step)),
            (w.next_unreviewed_requested, self.next_unreviewed),
            (w.image_activated, self.show_image_id),
            (w.accept_requested, self.edits.accept),
            (w.reject_requested, self.edits.reject),
            (w.draw_requested, self.edits.start_drawing),
            (w.undo_requested, self.undo_stack.undo),
            (w.redo_requested, self.undo_stack.redo),
            (w.class_chosen, self.edits.set_class),
            (w.sort_requested, self.sort),
            (w.filter_requested, self.filter),
            (w.class_filter_requested, self.filter_class),
            (w.save_requested, lambda: w.statusBar().showMessage("Every change is saved", 3000)),
            (w.heatmap_toggled, c.set_heatmap_visible),
            (w.heatmap_opacity_changed, c.set_heatmap_opacity),
            (w.heatmap_method_changed, self.choose_map),
            (w.rank_requested, self.rank_by_score),
            (w.train_requested, self.train_now),
            (w.classes_file_chosen, self.class_edits.import_classes_file),
            (w.classes_panel.add_requested, self.edits.set_class),
            (w.classes_panel.rename_requested, self.class_edits.rename_class),
            (w.classes_panel.merge_requested, self.class_edits.merge_class),
            (w.classes_panel.delete_requested, self.class_edits.delete_class),
            (w.classes_panel.move_requested, self.class_edits.move_class),
            (c.box_drawn, self.edits.add_drawn_box),
            (c.box_changed, self.edits.move_box),
            (c.delete_requested, self.edits.delete_box),
            (c.selection_changed, self._selection_changed),
            (w.box_list.box_chosen, self.canvas.select),
            (w.box_list.visibility_toggled, self._set_box_visible),
            (w.box_cycle_requested, c.select_next),
            (w.view_requested, self._view),
            (w.rejected_visibility_requested, self._toggle_rejected),
            (w.boxes_visibility_requested, self._toggle_boxes),
            (w.copy_previous_requested, self.copy_previous),
            (w.flag_requested, self.edits.toggle_flag),
        ]
        self._connections = [signal.connect(slot) for signal, slot in pairs]

    def disconnect_all(self) -> None:
        """Detach from the window and canvas and let go of the claims (before another
        project is opened)."""
        self.team.stop()
        for connection in self._connections:
            QObject.disconnect(connection)
        self._connections = []

    # --- the image list -------------------------------------------------------------------

    def reload_list(self) -> None:
        """Query the images in the current order and filter; keep the current image."""
        current = self.current_id()
        key, descending = self.order
        self.rows = self.project.images(
            status=self.status_filter,
            class_name=self.class_filter,
            order_by=key,
            descending=descending,
        )
        self.window.image_model.set_rows([list_row(r) for r in self.rows])
        self._position = {r.id: i for i, r in enumerate(self.rows)}
        fallback = 0 if self.rows else -1
        self.index = fallback if current is None else self._position.get(current, fallback)
        if current is not None and current in self._position:
            self.window.select_image(current)  # the new rows lost the highlight
        self._update_position()

    def sort(self, key: str, descending: bool) -> None:
        self.order = (key, descending)
        self.project.set_setting(SORT_KEY, f"{key} {'desc' if descending else 'asc'}")
        self.reload_list()

    def filter(self, status: str | None) -> None:
        self.status_filter = status
        self.project.set_setting(STATUS_FILTER_KEY, status or "")
        self.reload_list()
        if self.rows:
            self.show_index(self.index)

    def filter_class(self, name: str | None) -> None:
        self.class_filter = name
        self.project.set_setting(CLASS_FILTER_KEY, name or "")
        self.reload_list()
        if self.rows:
            self.show_index(self.index)

    def refresh_classes(self, current: str | None = None) -> None:
        """Show the project's classes in the class field, the classes panel and the list's
        class filter; ``current`` (default: the one remembered in the project) is chosen."""
        counts = self.project.class_records.class_counts()
        chosen = current or self.window.current_class() or self.project.setting(CURRENT_CLASS_KEY)
        self.window.set_classes(counts, chosen)
        self.window.image_list.set_filter_classes(list(counts))
        self.refresh_current()

    def show_class_counts(self) -> None:
        """Show how many labels each class has (after a box changed)."""
        counts = self.project.class_records.class_counts()
        self.window.classes_panel.set_classes(counts, self.window.current_class() or None)

    def refresh_current(self) -> None:
        """Redraw the shown image's boxes (a proposal's caption follows the current class)."""
        if (image_id := self.current_id()) is not None:
            self.refresh(image_id)

    def current_id(self) -> int | None:
        return self.rows[self.index].id if 0 <= self.index < len(self.rows) else None

    def _update_position(self) -> None:
        reviewed = self.project.count_images("done")
        total = len(self.rows)
        self.window.set_position(self.index + 1 if total else 0, total, reviewed)

    # --- showing an image -----------------------------------------------------------------

    def show_index(self, index: int) -> None:
        """Show the image at ``index`` of the list (clamped), with what is already known."""
        if not self.rows:
            return
        left = self.current_id()
        self.index = max(0, min(index, len(self.rows) - 1))
        row = self.rows[self.index]
        if left is not None and left != row.id:
            self.image_left.emit(left)
        try:
            shown = load_display(self.project.root / row.path)  # boxes stay in full pixels
        except ImageLoadError as exc:
            self.unreadable = str(exc)
            self.canvas.show_placeholder(f"This image cannot be shown.\n\n{exc}")
            self.window.show_error(str(exc))
            if row.status in ("new", "proposed"):
                self.project.set_status(row.id, "unreadable")
        else:
            self.unreadable = None
            self.canvas.set_image(shown.rgb, shown.size)
            if row.status == "unreadable":  # mended on disk since
                self.project.set_status(row.id, "new")
                self.image_mended.emit(row.id)
        self.canvas.select(None)
        if left != row.id:
            self.canvas.clear_hidden()
        self.refresh(row.id)
        self.select_best_proposal()
        self.team.take(row.id)  # and the note when someone else holds it
        self._show_map(row)
        self.window.select_image(row.id)
        self._update_position()
        ahead = [r.id for r in self.rows[self.index : self.index + LOOKAHEAD]]
        self.prioritize(ahead)

    def show_image_id(self, image_id: int) -> None:
        if image_id in self._position:
            self.show_index(self._position[image_id])

    def next_unreviewed(self) -> None:
        """Show the next image in the list that needs review and nobody else holds (it is
        claimed at once, so two annotators asking together get different images)."""
        others = self.team.held_by_others()
        for step in range(1, len(self.rows) + 1):
            i = (self.index + step) % len(self.rows)
            image_id = self.rows[i].id
            if image_id in others or self.project.image(image_id).status not in NEEDS_REVIEW:
                continue
            records = self.project.claim_records
            if records.claim_first([image_id], self.team.lease, NEEDS_REVIEW) is None:
                continue  # claimed or finished by someone else a moment ago
            self.show_index(i)
            return
        count = len(others)
        held = f"; {count} image{'s' if count != 1 else ''} held by others" if others else ""
        self.window.statusBar().showMessage(f"Every image is reviewed{held}", 3000)

    def refresh_row(self, image_id: int) -> None:
        """Show the image's list row as stored now (if listed)."""
        if image_id in self._position:
            row = self.project.image(image_id)
            self.rows[self._position[image_id]] = row
            self.window.image_model.update_row(list_row(row))

    def refresh(self, image_id: int) -> None:
        """Redraw the boxes of ``image_id`` (if shown) and its list row, from the store."""
        self.refresh_row(image_id)
        if image_id == self.current_id():
            selected = self.canvas.selected_id()
            shown = [] if self.unreadable is not None else self.project.box_records.boxes(image_id)
            self.shown_boxes = {b.id: b for b in shown}
            current = self.edits.current_class()
            views = [box_view(b, current) for b in shown]
            self.canvas.set_boxes(views)
            self.canvas.select(selected)
            self.window.box_list.set_boxes(
                views, self.canvas.hidden_ids(), self.canvas.selected_id()
            )
        self._update_position()

    def select_best_proposal(self) -> None:
        """Select the shown image's best proposal still to review (proposals are stored
        best first), so Space accepts it without a click."""
        waiting = [b.id for b in self.canvas.boxes() if b.state == "proposed"]
        if waiting:
            self.canvas.select(min(waiting))

    def select_next_proposal(self) -> None:
        """After a review: select the best proposal still waiting, unless the selected box
        is one."""
        selected = self.canvas.selected_id()
        if not any(b.id == selected and b.state == "proposed" for b in self.canvas.boxes()):
            self.canvas.select(None)
            self.select_best_proposal()

    def _selection_changed(self, box_id: int) -> None:
        self.window.box_list.select(None if box_id < 0 else box_id)

    def _set_box_visible(self, box_id: int, visible: bool) -> None:
        self.canvas.set_box_visible(box_id, visible)
        self.refresh_current()

    def _view(self, how: str) -> None:
        """Fit, zoom in, zoom out or 1:1 (the window's view keys)."""
        actions = {
            "fit": self.canvas.fit,
            "in": self.canvas.zoom_in,
            "out": self.canvas.zoom_out,
            "actual": self.canvas.actual_size,
        }
        actions[how]()

    def _toggle_rejected(self) -> None:
        shown = not self.canvas.rejected_visible()
        self.canvas.set_rejected_visible(shown)
        rejected = sum(b.state == "rejected" for b in self.canvas.all_boxes())
        what = f"{rejected} rejected proposal{'s' if rejected != 1 else ''}"
        self.window.statusBar().showMessage(f"{what} {'shown' if shown else 'hidden'} (R)", 3000)

    def _toggle_boxes(self) -> None:
        shown = not self.canvas.boxes_visible()
        self.canvas.set_boxes_visible(shown)
        self.window.statusBar().showMessage(
            "Boxes shown" if shown else "Boxes hidden: Ctrl+H shows them", 3000
        )

    def copy_previous(self) -> None:
        """Ctrl+D: the previous image's boxes (in list order) onto this one."""
        if self.index > 0:
            self.edits.copy_boxes_from(self.rows[self.index - 1].id)
        else:
            self.window.statusBar().showMessage("There is no previous image", 3000)

    def proposals_ready(self, image_id: int) -> None:
        """The worker stored proposals (and a map) for ``image_id``."""
        if self.project.closed:  # a signal queued before the session closed
            return
        self.refresh(image_id)
        if image_id == self.current_id() and self.canvas.selected_id() is None:
            self.select_best_proposal()
        if image_id == self.current_id() and self.map_type is None and self.unreadable is None:
            self.canvas.set_heatmap(self.saliency(image_id))

    # --- the heatmap's map type -----------------------------------------------------------

    def choose_map(self, label: str) -> None:
        """Show maps of the type named ``label`` in :data:`MAP_TYPES`."""
        self.map_type = MAP_TYPES.get(label)
        if 0 <= self.index < len(self.rows):
            self._show_map(self.rows[self.index])

    def typed_map(self, image_id: int, kind: str):
        """The cached map of type ``kind`` for an image, or None."""
        return self._typed_maps.get(image_id, kind)

    def forget_maps(self) -> None:
        """Drop the cached maps of chosen types (the network changed)."""
        self._typed_maps.clear()

    def _show_map(self, row: ImageRow) -> None:
        """Show the chosen map of the image: the proposals', a cached one, or none while
        the worker computes it (ahead of proposals); never waits."""
        if self.unreadable is not None:
            return
        if self.map_type is None:
            self.canvas.set_heatmap(self.saliency(row.id))
            return
        heat = self.typed_map(row.id, self.map_type)
        self.canvas.set_heatmap(heat)
        if heat is None:
            self.submit_task(MapJob(row.id, self.project.root / row.path, self.map_type))

    # --- worker jobs ----------------------------------------------------------------------

    def rank_by_score(self) -> None:
        self.jobs.rank_by_score()

    def train_now(self, accepted: int | None = None) -> None:
        self.jobs.train_now(accepted)

    def maybe_train(self) -> bool:
        return self.jobs.maybe_train()

    def task_finished(self, task: Task) -> None:
        """A worker task ended (failures are reported through the worker's ``failed``)."""
        if self.project.closed or self.jobs.finished(task) or task.result is None:
            return
        if isinstance(task, MapJob):
            self._typed_maps.put(task.image_id, task.kind, task.result)
            if task.image_id == self.current_id() and task.kind == self.map_type:
                self.canvas.set_heatmap(task.result)

    def job_progress(self, label: str, done: int, total: int) -> None:
        self.jobs.progress(label, done, total)

    def shown_job(self) -> str | None:
        return self.jobs.shown_job()
