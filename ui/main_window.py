"""The main window: image list on the left, canvas and its toolbar on the right.

The window holds no project state. It shows what the application gives it and reports
what the user asks for through signals; its keys are listed in ``ui.dialogs.help.KEYS``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import (
    QByteArray,
    QSettings,
    QSignalBlocker,
    Qt,
    QTime,
    QUrl,
    Signal,
)
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from ui.dialogs.help import KEYS, HelpDialog
from ui.panels.box_list import BoxListPanel
from ui.panels.class_field import ClassField
from ui.panels.classes import ClassesPanel
from ui.panels.image_list import CLAIMED_COLOUR, ImageListPanel
from ui.panels.recent_projects import RecentProjects
from ui.user_settings import settings

#: The keys whose actions are in the File menu (the others are in Review).
FILE_KEYS = ("Ctrl+S", "Ctrl+U", "Ctrl+O", "Ctrl+E", "Ctrl+Q")


#: How many recently opened projects File > Open recent remembers.
def _refill(combo: QComboBox, items: list[str]) -> None:
    """Replace a combo box's items without signals, keeping the current one if still there."""
    current = combo.currentText()
    with QSignalBlocker(combo):
        combo.clear()
        combo.addItems(items)
        combo.setCurrentIndex(max(0, combo.findText(current)) if items else -1)


def stored_bytes(stored: QSettings, key: str) -> QByteArray:
    """A saved window layout (empty when there is none or it is not bytes)."""
    value = stored.value(key, QByteArray())
    if isinstance(value, QByteArray):
        return value
    return QByteArray(bytes(value)) if isinstance(value, bytes | bytearray) else QByteArray()


def dock(title: str, name: str, widget: QWidget, window: QMainWindow) -> QDockWidget:
    """A dock titled ``title`` holding ``widget``; ``name`` keeps its place across sessions."""
    docked = QDockWidget(title, window)
    docked.setObjectName(name)
    docked.setWidget(widget)
    return docked


class MainWindow(QMainWindow):
    """SaliBox's main window; see the module docstring."""

    open_folder_requested = Signal(str)
    open_project_requested = Signal(str)
    navigate_requested = Signal(int)
    next_unreviewed_requested = Signal()
    accept_requested = Signal(bool)
    reject_requested = Signal()
    draw_requested = Signal()
    undo_requested = Signal()
    redo_requested = Signal()
    save_requested = Signal()
    class_chosen = Signal(str)
    heatmap_toggled = Signal(bool)
    heatmap_method_changed = Signal(str)
    heatmap_opacity_changed = Signal(float)
    sort_requested = Signal(str, bool)
    filter_requested = Signal(object)
    class_filter_requested = Signal(object)
    image_activated = Signal(int)
    cancel_requested = Signal()
    settings_requested = Signal()
    user_name_requested = Signal()
    rank_requested = Signal()
    train_requested = Signal()
    model_versions_requested = Signal()
    export_requested = Signal()
    classes_file_chosen = Signal(str)
    box_cycle_requested = Signal(int)
    view_requested = Signal(str)
    rejected_visibility_requested = Signal()
    boxes_visibility_requested = Signal()
    copy_previous_requested = Signal()
    flag_requested = Signal(str)
    auto_advance_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("SaliBox")
        self.image_list = ImageListPanel(self)
        self.image_model = self.image_list.model
        self.table = self.image_list.table
        self.image_list.sort_requested.connect(self.sort_requested)
        self.image_list.filter_requested.connect(self.filter_requested)
        self.image_list.class_filter_requested.connect(self.class_filter_requested)
        self.image_list.image_activated.connect(self.image_activated)
        self._canvas: QWidget = QLabel("Open a folder (Ctrl+U) or a project (Ctrl+O).", self)
        self._canvas.setAlignment(Qt.AlignmentFlag.AlignCenter)
        right = QWidget(self)
        self._right_layout = QVBoxLayout(right)
        self._right_layout.setContentsMargins(0, 0, 0, 0)
        self._right_layout.addLayout(self._build_toolbar())
        self._right_layout.addWidget(self._canvas, 1)
        self.splitter = QSplitter(self)
        self.splitter.addWidget(self.image_list)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.setCentralWidget(self.splitter)
        self._build_status_bar()
        self.classes_panel = ClassesPanel(self)
        self.classes_panel.class_activated.connect(self.class_field.choose)
        self._classes_dock = dock("Classes", "classes", self.classes_panel, self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self._classes_dock)
        self.box_list = BoxListPanel(self)
        self._boxes_dock = dock("Boxes", "boxes", self.box_list, self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self._boxes_dock)
        self._build_menus()
        self._help: HelpDialog | None = None
        self.resize(1280, 800)
        self.splitter.setSizes([340, 940])
        stored = settings()  # an empty value restores nothing
        self.restoreGeometry(stored_bytes(stored, "window/geometry"))
        self.restoreState(stored_bytes(stored, "window/state"))
        self.splitter.restoreState(stored_bytes(stored, "window/splitter"))

    def _build_toolbar(self) -> QHBoxLayout:
        self.class_field = ClassField(self, lambda: self._canvas.setFocus())
        self.class_field.chosen.connect(self.class_chosen)
        combo = self.class_combo = self.class_field.combo
        self.heatmap_box = QCheckBox("Heatmap (H)", self)
        self.heatmap_box.toggled.connect(self.heatmap_toggled)
        self.method_combo = QComboBox(self)
        self.method_combo.setToolTip("Which saliency map the heatmap shows")
        self.method_combo.currentTextChanged.connect(self.heatmap_method_changed)
        slider = self.opacity_slider = QSlider(Qt.Orientation.Horizontal, self)
        slider.setMaximum(100)
        slider.setValue(50)
        slider.setMaximumWidth(140)
        slider.valueChanged.connect(lambda value: self.heatmap_opacity_changed.emit(value / 100))
        row = QHBoxLayout()
        for widget in (QLabel("Class", self), combo, self.heatmap_box, QLabel("Map", self)):
            row.addWidget(widget)
        row.addWidget(self.method_combo)
        row.addWidget(QLabel("Opacity", self))
        row.addWidget(slider)
        row.addStretch(1)
        return row

    def _build_status_bar(self) -> None:
        self.position_label, self.job_label = QLabel(self), QLabel(self)
        self.progress = QProgressBar(self)
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.clicked.connect(self.cancel_requested)
        keep_keys = (self.heatmap_box, self.method_combo, self.opacity_slider, self.cancel_button)
        for control in keep_keys:
            control.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay with the canvas
        self.claim_label = QLabel(self)  # who else reviews the image shown
        self.claim_label.setStyleSheet(f"QLabel {{ color: {CLAIMED_COLOUR.name()}; }}")
        self.claim_label.hide()
        bar = self.statusBar()
        shown_last = (self.job_label, self.progress, self.cancel_button, self.claim_label)
        for shown in (*shown_last, self.position_label):
            bar.addPermanentWidget(shown)
        self._error = ""  # the message shown in red, until another one replaces it
        bar.messageChanged.connect(self._uncolour_status)
        self.set_job(None)
        self.error_log = QPlainTextEdit(self)
        self.error_log.setReadOnly(True)
        self.error_log.setMaximumBlockCount(500)
        self.open_log_button = QPushButton("Open the log file", self)
        self.open_log_button.setEnabled(False)
        self.open_log_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.open_log_button.clicked.connect(self._open_log_file)
        self._log_file: str | None = None
        panel = QWidget(self)
        panel_layout = QVBoxLayout(panel)
        panel_layout.setContentsMargins(0, 0, 0, 0)
        panel_layout.addWidget(self.error_log, 1)
        panel_layout.addWidget(self.open_log_button, 0, Qt.AlignmentFlag.AlignLeft)
        self._log_dock = dock("Errors", "errors", panel, self)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self._log_dock)
        self._log_dock.hide()

    def _build_menus(self) -> None:
        accept, navigate = self.accept_requested.emit, self.navigate_requested.emit
        slots: dict[str, Callable[[], object]] = {
            "D": partial(navigate, 1),
            "A": partial(navigate, -1),
            "Ctrl+Shift+D": self.next_unreviewed_requested.emit,
            "Space / Return": partial(accept, False),
            "Shift+Space / Shift+Return": partial(accept, True),
            "X": self.reject_requested.emit,
            "Tab": partial(self.box_cycle_requested.emit, 1),
            "Shift+Tab": partial(self.box_cycle_requested.emit, -1),
            "W": self.draw_requested.emit,
            "Ctrl+D": self.copy_previous_requested.emit,
            "Ctrl+I": partial(self.flag_requested.emit, "difficult"),
            "Ctrl+T": partial(self.flag_requested.emit, "truncated"),
            "R": self.rejected_visibility_requested.emit,
            "Ctrl+H": self.boxes_visibility_requested.emit,
            "H": self.heatmap_box.toggle,
            "Ctrl+0 / F": partial(self.view_requested.emit, "fit"),
            "Ctrl+= / Ctrl++": partial(self.view_requested.emit, "in"),
            "Ctrl+-": partial(self.view_requested.emit, "out"),
            "Ctrl+1": partial(self.view_requested.emit, "actual"),
            "Ctrl+Z": self.undo_requested.emit,
            "Ctrl+Shift+Z / Ctrl+Y": self.redo_requested.emit,
            "Ctrl+S": self.save_requested.emit,
            "Ctrl+U": self._choose_folder,
            "Ctrl+O": self._choose_project,
            "Ctrl+E": self.export_requested.emit,
            "Ctrl+Q": self.close,
            "F1": self.show_help,
        }
        file_menu, review_menu = self.menuBar().addMenu("&File"), self.menuBar().addMenu("&Review")
        for key, text in KEYS:
            if key in slots:
                menu = file_menu if key in FILE_KEYS else review_menu
                menu.addAction(self._action(text, key.split(" / "), slots[key]))
        for digit in range(1, 10):
            self._action(
                f"class {digit}", [str(digit)], partial(self.class_field.choose_index, digit - 1)
            )
        file_menu.addAction("Import classes file…", self._choose_classes_file)
        file_menu.addAction("Proposal settings…", self.settings_requested.emit)
        self.user_name_action = file_menu.addAction("User name…", self.user_name_requested.emit)
        self.user_name_action.setToolTip("The name written on every box change and event")
        self.recent_menu = file_menu.addMenu("Open recent")
        self.recent = RecentProjects(self.recent_menu, self.open_project_requested.emit)
        self.auto_advance_action = review_menu.addAction("Next image after the last box")
        self.auto_advance_action.setCheckable(True)
        advance = settings().value("review/auto_advance", True, bool)
        self.auto_advance_action.setChecked(bool(advance))
        self.auto_advance_action.setToolTip(
            "When an image has nothing left to review, Space goes on to the next image "
            "that needs review"
        )
        self.auto_advance_action.toggled.connect(self._auto_advance_toggled)
        review_menu.addSeparator()
        review_menu.addAction(self._log_dock.toggleViewAction())
        review_menu.addAction(self._classes_dock.toggleViewAction())
        review_menu.addAction(self._boxes_dock.toggleViewAction())
        tools_menu = self.menuBar().addMenu("&Tools")
        self.rank_action = tools_menu.addAction("Rank images by image score")
        self.rank_action.setToolTip("Score every image in the background, then sort by score")
        self.rank_action.triggered.connect(lambda _checked=False: self.rank_requested.emit())
        self.train_action = tools_menu.addAction("Train now")
        self.train_action.setToolTip("Fine-tune on the accepted boxes in the background")
        self.train_action.triggered.connect(lambda _checked=False: self.train_requested.emit())
        self.versions_action = tools_menu.addAction("Model versions…")
        self.versions_action.triggered.connect(
            lambda _checked=False: self.model_versions_requested.emit()
        )
        self.statistics_action = tools_menu.addAction("Statistics")  # desktop_app.statistics
        self.statistics_action.setToolTip("Show or hide the statistics view")
        self.statistics_action.setShortcut(QKeySequence("Ctrl+G"))
        self.statistics_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.addAction(self.statistics_action)  # a window key, listed in KEYS (F1)

    def _action(self, text: str, keys: list[str], slot: Callable[[], object]) -> QAction:
        """A window-wide action, so its keys work wherever the focus is in the window."""
        action = QAction(text[0].upper() + text[1:], self)
        action.setShortcuts([QKeySequence(key) for key in keys])
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setAutoRepeat(False)  # holding a key must not accept or skip many
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)
        return action

    def _uncolour_status(self, text: str) -> None:
        """The status bar turns black again once the red error message is replaced."""
        if text != self._error:
            self.statusBar().setStyleSheet("")

    def set_canvas(self, canvas: QWidget) -> None:
        """Show this widget (a ``ui.canvas.view.Canvas``) in place of the previous one; focus it."""
        if self._right_layout.replaceWidget(self._canvas, canvas) is not None:
            self._canvas.hide()  # out of the layout; would linger until deleted
            self._canvas.deleteLater()
        self._canvas = canvas
        canvas.setFocus()

    def set_classes(self, counts: dict[str, int], current: str | None) -> None:
        """Offer the project's classes (name → box count, in order); ``current`` (else the
        one chosen before, else the first) becomes the class of new boxes."""
        chosen = self.class_field.set_classes(list(counts), current)
        self.classes_panel.set_classes(counts, chosen or None)

    def current_class(self) -> str:
        """The class chosen for new boxes ("" when none): picked, or typed and confirmed
        with Return; text typed but not confirmed is not a class."""
        return self.class_field.current()

    def set_heatmap_methods(self, methods: list[str]) -> None:
        """Offer these map types in the map selector, keeping the current one if it is
        still there."""
        _refill(self.method_combo, methods)

    def heatmap_method(self) -> str:
        """The map type chosen in the map selector."""
        return self.method_combo.currentText()

    def confirm(self, title: str, question: str) -> bool:
        """Ask a yes/no question; True for yes (No is the default)."""
        answer = QMessageBox.question(
            self,
            title,
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def select_image(self, image_id: int) -> None:
        """Select and scroll to an image in the list without emitting ``image_activated``."""
        self.image_list.select_image(image_id)

    def set_claim(self, note: str | None) -> None:
        """Say, for as long as the image is shown, that someone else reviews it (None:
        nobody does)."""
        self.claim_label.setText(note or "")
        self.claim_label.setVisible(bool(note))

    def set_position(self, i: int, n: int, reviewed: int) -> None:
        """Show "Image i of n · reviewed k"."""
        self.position_label.setText(f"Image {i} of {n} · reviewed {reviewed}")

    def set_job(
        self, text: str | None, done: int = 0, total: int = 0, eta_seconds: float | None = None
    ) -> None:
        """Show a running job ("text 12/40 · ETA 8 s") with its progress; None hides it."""
        for widget in (self.job_label, self.progress, self.cancel_button):
            widget.setVisible(text is not None)
        if text is None:
            return
        self.progress.setRange(0, max(total, 0))  # 0..0 is Qt's busy indicator
        self.progress.setValue(min(done, total))
        label = f"{text} {done}/{total}" if total > 0 else text
        if eta_seconds is not None:
            s = max(0, round(eta_seconds))
            label += f" · ETA {s} s" if s < 60 else f" · ETA {s // 60} min {s % 60:02d} s"
        self.job_label.setText(label)

    def show_error(self, message: str) -> None:
        """Show an error in red in the status bar for 8 s and add it to the error log."""
        self._error = message
        self.statusBar().setStyleSheet("QStatusBar { color: #b91c1c; }")
        self.statusBar().showMessage(message, 8000)
        self.error_log.appendPlainText(f"{QTime.currentTime().toString('HH:mm:ss')}  {message}")

    def set_log_file(self, path: str | None) -> None:
        """The project's log file, which "Open the log file" in the Errors panel opens."""
        self._log_file = path
        self.open_log_button.setEnabled(path is not None)
        self.open_log_button.setToolTip(path or "")

    def _open_log_file(self) -> None:
        if self._log_file is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self._log_file))

    def auto_advance(self) -> bool:
        """Whether Space goes on to the next image once nothing is left to review."""
        return self.auto_advance_action.isChecked()

    def _auto_advance_toggled(self, on: bool) -> None:
        settings().setValue("review/auto_advance", on)
        self.auto_advance_toggled.emit(on)

    def _start_folder(self) -> str:
        """Where the open dialogs start: the folder chosen last (remembered across runs)."""
        return str(settings().value("last_folder", ""))

    def _remember_folder(self, path: str) -> None:
        settings().setValue("last_folder", path)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Open a folder of images", self._start_folder()
        )
        if path:
            self._remember_folder(str(Path(path).parent))
            self.open_folder_requested.emit(path)

    def _choose_classes_file(self) -> None:
        path = QFileDialog.getOpenFileName(
            self, "Import a classes file (one name a line)", "", "Text files (*.txt);;All (*)"
        )[0]
        if path:
            self.classes_file_chosen.emit(path)

    def _choose_project(self) -> None:
        start = self._start_folder()
        if path := QFileDialog.getOpenFileName(self, "Open project", start, "Projects (*.db)")[0]:
            self._remember_folder(str(Path(path).parent))
            self.open_project_requested.emit(path)

    def recent_projects(self) -> list[str]:
        """Recently opened projects, latest first (File > Open recent)."""
        return self.recent.paths()

    def add_recent(self, path: str) -> None:
        """Put a project at the top of File > Open recent."""
        self.recent.add(path)

    def show_help(self) -> None:
        """Show the list of keys (F1)."""
        self._help = self._help or HelpDialog(self)
        self._help.show()
        self._help.raise_()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Remember the window geometry, docks and splitter."""
        stored = settings()
        stored.setValue("window/geometry", self.saveGeometry())
        stored.setValue("window/state", self.saveState())
        stored.setValue("window/splitter", self.splitter.saveState())
        super().closeEvent(event)
