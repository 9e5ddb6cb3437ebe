"""The worker's active model: the project's active model version, loaded once per version.

While the project has an active model version (``Project.active_model_version``, checked
before each batch), proposals come from that learned model
(:class:`~desktop_app.background.training.ActiveModel`). A version that cannot be loaded
(its file not yet on this annotator's mount, say) is reported once and tried again before
each batch; meanwhile proposals are zero-shot and :attr:`ActiveModelSlot.unloadable` is
true, so the worker replaces no one's proposals with them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from core.store import Project
from desktop_app.background.jobs import NO_IMAGE
from desktop_app.background.parts import reason_of

if TYPE_CHECKING:  # torch is imported in the worker thread only, on the first job
    from core.engine.proposals import Proposer
    from desktop_app.background.training import ActiveModel


class ActiveModelSlot:
    """Holds the loaded active model version of a project (in the worker thread)."""

    def __init__(self) -> None:
        self.model: ActiveModel | None = None
        self._failed: int | None = None  # the version that failed to load, reported
        #: The project has an active version this worker could not load (last checked).
        self.unloadable = False

    def get(
        self,
        project: Project,
        proposer: Proposer | None,
        report: Callable[[int, str], None],
    ) -> ActiveModel | None:
        """The project's active model version, loaded once on ``proposer``'s backbone;
        None for zero-shot proposals (none is active, or it cannot be loaded: reported
        once through ``report(image_id, reason)``)."""
        from desktop_app.background.training import ActiveModel

        try:
            version = project.learning_records.active_model_version()
        except Exception as exc:  # the store: locked, closed ...
            report(NO_IMAGE, f"could not read the active model: {reason_of(exc)}")
            return self.model
        if version is None:
            self.model = None
        elif self.model is None or self.model.version_id != version.id:
            self.model = None
            assert proposer is not None
            try:
                self.model = ActiveModel.load(version, proposer.backbone)
            except Exception as exc:
                if self._failed != version.id:
                    self._failed = version.id
                    reason = f"could not load model version {version.id}: {reason_of(exc)}"
                    report(
                        NO_IMAGE,
                        f"{reason}; proposing zero-shot for images without proposals only "
                        "(the others keep theirs) until it can be read",
                    )
        self.unloadable = version is not None and self.model is None
        return self.model

    def clear(self) -> None:
        """Drop the loaded model (the worker ends)."""
        self.model = None
