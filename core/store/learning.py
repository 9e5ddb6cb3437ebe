"""The learning loop's part of the store: training runs, model versions, labelled boxes.

Functions of one open session each; :class:`core.store.Project` wraps them in its
transactions. The active model version is the setting :data:`ACTIVE_KEY` (absent or
empty: none, proposals are zero-shot).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.store.database import database_now
from core.store.models import (
    LABEL_STATES,
    Box,
    Image,
    LabelClass,
    ModelVersion,
    Setting,
    TrainingRun,
    utc_now,
)
from core.store.rows import (
    LabelledImageRow,
    ModelVersionRow,
    TrainingBusyError,
    TrainingRunRow,
    choice,
)

#: The setting that holds the active model version's id.
ACTIVE_KEY = "active_model_version"
#: How a training run can end.
RUN_ENDS = ("done", "failed", "cancelled")


def stored_path(db_folder: Path, path: str | Path) -> str:
    """``path`` relative to the database folder when inside it, else absolute (POSIX)."""
    absolute = Path(path).expanduser().resolve()
    try:
        return absolute.relative_to(db_folder).as_posix()
    except ValueError:
        return absolute.as_posix()


def version_row(db_folder: Path, v: ModelVersion) -> ModelVersionRow:
    file = Path(v.path)
    return ModelVersionRow(
        id=v.id,
        path=v.path,
        file=file if file.is_absolute() else db_folder / file,
        backbone=v.backbone,
        classes=tuple(v.classes),
        metrics=dict(v.metrics or {}),
        created_at=v.created_at,
    )


def run_row(r: TrainingRun) -> TrainingRunRow:
    return TrainingRunRow(
        r.id,
        r.status,
        dict(r.params),
        r.metrics,
        r.model_version_id,
        r.started_at,
        r.finished_at,
        r.user_name,
        r.lease_until,
    )


def start_run(s: Session, params: Mapping[str, Any], user: str | None, lease: float) -> int:
    """A new ``running`` run of ``user`` alive for ``lease`` seconds; TrainingBusyError
    when another user's run is alive (running, its lease not over)."""
    now = database_now(s)
    busy = s.scalars(
        select(TrainingRun).where(
            TrainingRun.status == "running",
            TrainingRun.lease_until > now,
            TrainingRun.user_name != user,
        )
    ).first()
    if busy is not None:
        since = busy.started_at.astimezone().strftime("%H:%M")
        raise TrainingBusyError(
            f"{busy.user_name} is training a model version of this project (since {since}); "
            "every app proposes with it once it is done, so train again after that"
        )
    run = TrainingRun(
        status="running",
        params=dict(params),
        user_name=user,
        lease_until=now + timedelta(seconds=lease),
    )
    s.add(run)
    s.flush()
    return run.id


def renew_run(s: Session, run_id: int, lease: float) -> None:
    """Keep a running run alive for ``lease`` more seconds."""
    run = s.get(TrainingRun, run_id)
    if run is None:
        raise KeyError(f"no training run with id {run_id}")
    if run.status == "running":
        run.lease_until = database_now(s) + timedelta(seconds=lease)


def finish_run(
    s: Session,
    run_id: int,
    status: str,
    metrics: Mapping[str, Any] | None,
    model_version_id: int | None,
) -> None:
    run = s.get(TrainingRun, run_id)
    if run is None:
        raise KeyError(f"no training run with id {run_id}")
    run.status = choice(status, RUN_ENDS, "training run status")
    run.finished_at = utc_now()
    run.metrics = None if metrics is None else dict(metrics)
    run.model_version_id = model_version_id


def active_id(s: Session) -> int | None:
    value = s.scalar(select(Setting.value).where(Setting.key == ACTIVE_KEY))
    return int(value) if value else None


def set_active(s: Session, version_id: int | None) -> None:
    if version_id is not None and s.get(ModelVersion, version_id) is None:
        raise KeyError(f"no model version with id {version_id}")
    s.merge(Setting(key=ACTIVE_KEY, value="" if version_id is None else str(version_id)))


def _label_filter(include_unverified: bool) -> list:
    where = [Box.state.in_(LABEL_STATES)]
    if not include_unverified:
        where.append(Box.verified.is_(True))
    return where


def count_labels(s: Session, include_unverified: bool) -> int:
    query = select(func.count()).select_from(Box).where(*_label_filter(include_unverified))
    return s.scalar(query) or 0


def labelled(s: Session, include_unverified: bool) -> list[LabelledImageRow]:
    query = (
        select(Image.id, Image.path, Image.width, Image.height, Box, LabelClass.name)
        .join(Box, Box.image_id == Image.id)
        .join(LabelClass, LabelClass.id == Box.class_id)
        .where(*_label_filter(include_unverified))
        .order_by(Image.id, Box.id)
    )
    grouped: dict[int, tuple[tuple, list, list]] = {}
    for image_id, path, width, height, box, name in s.execute(query):
        _head, boxes, labels = grouped.setdefault(image_id, ((path, width, height), [], []))
        boxes.append((box.x1, box.y1, box.x2, box.y2))
        labels.append(name)
    return [
        LabelledImageRow(image_id, head[0], head[1], head[2], tuple(boxes), tuple(labels))
        for image_id, (head, boxes, labels) in grouped.items()
    ]
