"""Tools → Model versions: the project's model versions in a non-modal dialog; choosing
one makes it active and proposes the unreviewed images again with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ui.main_window import MainWindow
from ui.panels.model_versions import ModelVersionsDialog

if TYPE_CHECKING:  # the store loads once a project is opened
    from core.store import Project


class ModelVersionsWindow:
    """The model versions dialog of the session's open project.

    Args:
        window: the main window (its parent; status bar and errors).
        project: the open project, None when none is.
        repropose: proposes the unreviewed images again (the active version changed).
    """

    def __init__(
        self,
        window: MainWindow,
        project: Callable[[], Project | None],
        repropose: Callable[[], None],
    ) -> None:
        self.window = window
        self.project = project
        self.repropose = repropose
        self.dialog: ModelVersionsDialog | None = None

    def show(self) -> None:
        """Show the model versions (non-modal); choosing one makes it active."""
        from desktop_app.store_views import version_view  # the store, once a project is open

        project = self.project()
        if project is None:
            return
        self.close()
        active = project.learning_records.active_model_version()
        self.dialog = ModelVersionsDialog(
            [version_view(v) for v in project.learning_records.model_versions()],
            None if active is None else active.id,
            self.window,
        )
        self.dialog.version_chosen.connect(self.use)
        self.dialog.show()

    def use(self, version_id: int | None) -> None:
        """Propose with this model version (None: zero-shot) from now on; unreviewed
        images are proposed again."""
        from core.store import StoreError

        project = self.project()
        if project is None:
            return
        try:
            project.learning_records.set_active_model_version(version_id)
        except (KeyError, StoreError) as exc:
            self.window.show_error(str(exc))
            return
        what = "zero-shot" if version_id is None else f"model version {version_id}"
        self.window.statusBar().showMessage(f"Proposing with {what}", 4000)
        self.repropose()

    def close(self) -> None:
        """Close the dialog (the project closes)."""
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None
