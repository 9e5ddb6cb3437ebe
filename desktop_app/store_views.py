"""What the widgets show of store rows, and the list choices a project remembers: plain
functions from :mod:`core.store` rows to :mod:`ui` views (data flows one way: row →
widget)."""

from __future__ import annotations

from core.store import BoxRow, ImageRow, ModelVersionRow, Project
from core.store.models import STATUSES
from ui.box_view import BoxView
from ui.panels.image_list import SORT_KEYS, ImageListRow
from ui.panels.model_versions import VersionView


def box_view(row: BoxRow, current_class: str | None = None) -> BoxView:
    """What the canvas shows of a box: a proposal without a class shows the class it will
    take if accepted (``current_class``, tentative) with the network's guess as a hint."""
    tentative = row.class_name is None
    return BoxView(
        row.id,
        row.box,
        current_class if tentative else row.class_name,
        row.origin,
        row.state,
        row.confidence,
        hint=row.hint,
        tentative=tentative,
        difficult=row.difficult,
        truncated=row.truncated,
    )


SORTABLE = {key for key, _label in SORT_KEYS}
#: Project settings that remember the list's sort order and filters.
SORT_KEY, STATUS_FILTER_KEY, CLASS_FILTER_KEY = "ui.sort", "ui.status_filter", "ui.class_filter"


def remembered_choices(
    project: Project,
) -> tuple[tuple[str, bool], str | None, str | None]:
    """The sort order ``(key, descending)``, status filter and class filter remembered in
    the project (path order and no filter when none are)."""
    key, _, direction = (project.setting(SORT_KEY) or "path asc").partition(" ")
    status = project.setting(STATUS_FILTER_KEY) or None
    return (
        (key if key in SORTABLE else "path", direction == "desc"),
        status if status in STATUSES else None,
        project.setting(CLASS_FILTER_KEY) or None,
    )


def list_row(row: ImageRow) -> ImageListRow:
    return ImageListRow(
        row.id, row.path, row.status, row.box_count, row.image_score, row.confidence
    )


def version_view(row: ModelVersionRow) -> VersionView:
    """What the model versions dialog lists of a version."""
    per_class = row.metrics.get("classes") or {}
    choices = {}
    for name, figures in per_class.items():
        chosen = figures.get("choice", "")
        choices[name] = (chosen, (figures.get("cv_corloc") or {}).get(chosen))
    return VersionView(row.id, row.created_at, row.classes, row.metrics.get("images"), choices)
