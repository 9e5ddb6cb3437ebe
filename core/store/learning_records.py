"""Training runs, model versions and labelled boxes of a
:class:`~core.store.project.Project`, for the learning loop.

:class:`LearningRecords` is held by ``Project`` (``project.learning_records``) and shares
its :class:`~core.store.sessions.Sessions`; the queries themselves are in
:mod:`core.store.learning`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.store import learning
from core.store.models import ModelVersion, TrainingRun
from core.store.rows import LabelledImageRow, ModelVersionRow, TrainingRunRow
from core.store.sessions import Sessions

#: Seconds a running training counts as alive unless renewed (it renews as it goes).
TRAINING_LEASE = 120.0


class LearningRecords:
    """The learning-loop calls of ``Project``."""

    def __init__(self, sessions: Sessions) -> None:
        self._sessions = sessions

    @property
    def _folder(self) -> Path:
        """The folder model files are stored relative to (the project's data folder)."""
        folder = self._sessions.data_folder
        assert folder is not None, "the image folder is set when the project opens"
        return folder

    # --- the learning loop: training runs, model versions, labelled boxes ----------------------

    def start_training_run(self, params: Mapping[str, Any], lease: float = TRAINING_LEASE) -> int:
        """Record a fine-tuning run of this user as ``running`` with its JSON-able
        ``params``, alive for ``lease`` seconds unless renewed (:meth:`renew_training_run`);
        its id.

        Raises:
            TrainingBusyError: another user's app runs a training now (one at a time per
                project: two would each take the machine for one model version).
        """
        with self._sessions.transaction(write=True) as s:
            return learning.start_run(s, params, self._sessions.user, lease)

    def renew_training_run(self, run_id: int, lease: float = TRAINING_LEASE) -> None:
        """Keep a running training alive for ``lease`` more seconds (KeyError: no run)."""
        with self._sessions.transaction(write=True) as s:
            learning.renew_run(s, run_id, lease)

    def finish_training_run(
        self,
        run_id: int,
        status: str,
        metrics: Mapping[str, Any] | None = None,
        model_version_id: int | None = None,
    ) -> None:
        """End a run as ``done``, ``failed`` or ``cancelled`` (ValueError otherwise).

        Raises:
            KeyError: no such run or model version.
        """
        with self._sessions.transaction(write=True) as s:
            if model_version_id is not None and s.get(ModelVersion, model_version_id) is None:
                raise KeyError(f"no model version with id {model_version_id}")
            learning.finish_run(s, run_id, status, metrics, model_version_id)

    def training_runs(self) -> list[TrainingRunRow]:
        """Every training run, newest first."""
        with self._sessions.transaction() as s:
            runs = s.scalars(select(TrainingRun).order_by(TrainingRun.id.desc()))
            return [learning.run_row(r) for r in runs]

    def add_model_version(
        self,
        path: str | Path,
        backbone: str,
        classes: Sequence[str],
        metrics: Mapping[str, Any] | None = None,
    ) -> int:
        """Record a model file (stored relative to the database folder when inside it);
        returns its id. It is not made active (see :meth:`set_active_model_version`)."""
        version = ModelVersion(
            path=learning.stored_path(self._folder, path),
            backbone=backbone,
            classes=list(classes),
            metrics=dict(metrics or {}),
        )
        with self._sessions.transaction(write=True) as s:
            s.add(version)
            s.flush()
            return version.id

    def model_versions(self) -> list[ModelVersionRow]:
        """Every model version, newest first."""
        with self._sessions.transaction() as s:
            versions = s.scalars(select(ModelVersion).order_by(ModelVersion.id.desc()))
            return [learning.version_row(self._folder, v) for v in versions]

    def active_model_version(self) -> ModelVersionRow | None:
        """The version proposals come from, or None (zero-shot proposals)."""
        with self._sessions.transaction() as s:
            version_id = learning.active_id(s)
            version = None if version_id is None else s.get(ModelVersion, version_id)
            return None if version is None else learning.version_row(self._folder, version)

    def set_active_model_version(self, version_id: int | None) -> None:
        """Propose with this version from now on; None for zero-shot proposals.

        Raises:
            KeyError: no such version.
        """
        with self._sessions.transaction(write=True) as s:
            learning.set_active(s, version_id)

    def count_labelled_boxes(self, include_unverified: bool = False) -> int:
        """How many boxes are accepted or edited (only those a person checked, unless
        ``include_unverified``): the count that triggers fine-tuning."""
        with self._sessions.transaction() as s:
            return learning.count_labels(s, include_unverified)

    def labelled_boxes(self, include_unverified: bool = False) -> list[LabelledImageRow]:
        """The images with accepted or edited boxes, by image id, with those boxes.

        Args:
            include_unverified: also boxes no person checked (pseudo-labels, imports
                marked unverified).
        """
        with self._sessions.transaction() as s:
            return learning.labelled(s, include_unverified)
