"""The statistics view's wiring: one dock per window, following the open project.

:func:`watch_statistics` is called each time a project is opened, with its controller.
Tools → Statistics (``MainWindow.statistics_action``) shows or hides the dock; it is built
on first use, since matplotlib takes about a second to import. While the dock is visible,
a change (every edit, undo and redo goes through the controller's undo stack; a new model
version; a status shown in the image list) schedules one refresh at most once a second
(:data:`REFRESH_MS`); a hidden dock refreshes when shown again. A refresh reads only the
events added since the last one (:class:`~core.services.statistics.EventTally`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget

from core.services.statistics import EventTally, project_statistics
from core.store import Project, StoreError
from desktop_app.logs import log
from ui.class_colors import class_color
from ui.main_window import MainWindow, dock
from ui.panels.image_list import STATUS_COLOURS

if TYPE_CHECKING:
    from desktop_app.controller import Controller
    from ui.panels.statistics import StatisticsPanel

#: Shortest time between two refreshes of a visible view, in milliseconds.
REFRESH_MS = 1000
#: Share of the window's height the dock takes when first shown (docked at the bottom).
SHARE_OF_HEIGHT = 0.45
#: The Qt object name of the view (one per window) and of its dock (its saved place).
NAME = "statistics"


class StatisticsView(QObject):
    """The statistics dock of one window and the project it shows."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setObjectName(NAME)
        self.window = window
        self.project: Project | None = None
        self.tally = EventTally()
        self.dock: QDockWidget | None = None
        self.panel: StatisticsPanel | None = None
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.stale = True  # something changed since the last refresh
        self.refreshes = 0
        window.statistics_action.triggered.connect(lambda _checked=False: self.toggle())
        model = window.image_model
        for signal in (model.dataChanged, model.modelReset):
            signal.connect(self.changed)

    def watch(self, project: Project, controller: Controller) -> None:
        """Show ``project`` from now on; its controller's changes trigger refreshes
        (the connections go with the controller)."""
        self.project, self.tally = project, EventTally()
        controller.undo_stack.indexChanged.connect(self.changed)
        controller.model_changed.connect(self.changed)
        self.changed()

    def visible(self) -> bool:
        return self.dock is not None and self.dock.isVisible()

    def toggle(self) -> None:
        """Show the dock (building it the first time) or hide it."""
        if self.visible():
            assert self.dock is not None
            self.dock.hide()
            return
        docked = self._build()
        docked.show()
        docked.raise_()
        self.refresh()

    def _build(self) -> QDockWidget:
        if self.dock is None:
            from ui.panels.statistics import StatisticsPanel  # imports matplotlib

            self.panel = StatisticsPanel(self.window)
            self.dock = dock("Statistics", NAME, self.panel, self.window)
            self.dock.visibilityChanged.connect(self._shown)
            if not self.window.restoreDockWidget(self.dock):
                self.window.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.dock)
                height = round(self.window.height() * SHARE_OF_HEIGHT)
                self.window.resizeDocks([self.dock], [height], Qt.Orientation.Vertical)
        return self.dock

    def _shown(self, visible: bool) -> None:
        if visible and self.stale:
            self.changed()

    def changed(self, *_args: object) -> None:
        """Something may have changed: refresh within :data:`REFRESH_MS` if visible."""
        self.stale = True
        if self.visible() and not self.timer.isActive():
            self.timer.start()

    def refresh(self) -> None:
        """Read the statistics and draw them (only while visible and a project is open)."""
        project, panel = self.project, self.panel
        if project is None or project.closed or panel is None or not self.visible():
            return
        from core.evaluation.plots import draw_statistics  # imports matplotlib

        try:
            stats = project_statistics(project, self.tally)
        except StoreError as exc:  # locked or gone: the next change tries again
            log.warning("statistics not refreshed: %s", exc)
            return
        fates = stats.fates
        outcomes = {"accepted": fates.accepted, "edited": fates.edited}
        outcomes |= {"rejected": fates.rejected, "drawn": fates.drawn}
        panel.set_summary(stats.images_per_status, stats.boxes_per_class, outcomes)
        names = set(stats.boxes_per_class).union(*(v.corloc for v in stats.versions))
        colours = {name: class_color(name).darker(130).name() for name in names}
        statuses = {status: colour.name() for status, colour in STATUS_COLOURS.items()}
        draw_statistics(panel.figure, stats, colours, statuses)
        panel.redraw()
        self.stale = False
        self.refreshes += 1


def watch_statistics(window: MainWindow, project: Project, controller: Controller) -> None:
    """Make the window's statistics view (created on the first call) follow ``project``."""
    view = window.findChild(StatisticsView, NAME)
    if not isinstance(view, StatisticsView):
        view = StatisticsView(window)
    view.watch(project, controller)
