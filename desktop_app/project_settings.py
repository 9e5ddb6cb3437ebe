"""The project's proposal settings: every default in one place, read from and written to
the project's settings table (keys ``proposals.<field>``).

The dialog's :class:`~ui.dialogs.settings.ProposalSettings` is the typed shape; the
defaults of the engine come from :mod:`core.engine.defaults`, the app's own here.
"""

from __future__ import annotations

from dataclasses import asdict, fields, replace

from core.engine import defaults
from core.store import Project
from ui.dialogs.settings import ProposalSettings

PREFIX = "proposals."
#: Fine-tune after this many newly accepted boxes (0: only when asked).
RETRAIN_AFTER = 10

DEFAULTS = ProposalSettings(
    backbone=defaults.BACKBONE,
    device=defaults.DEVICE,
    method=defaults.RECIPE,
    batch_size=defaults.BATCH_SIZE,
    retrain_after=RETRAIN_AFTER,
    align_saliency=False,
    pseudo_labels=False,
)


def _parse(text: str, like: object) -> object:
    """``text`` as the type of ``like``; ValueError when it is not one."""
    if isinstance(like, bool):
        if text not in ("True", "False"):
            raise ValueError(text)
        return text == "True"
    if isinstance(like, int):
        return int(text)
    return text


def load_settings(project: Project) -> ProposalSettings:
    """The stored settings; a field never stored, or stored in a form that does not parse
    (a hand-edited database), takes its default."""
    given: dict[str, object] = {}
    for field in fields(ProposalSettings):
        text = project.setting(PREFIX + field.name)
        if text is None:
            continue
        try:
            given[field.name] = _parse(text, getattr(DEFAULTS, field.name))
        except ValueError:
            continue
    chosen = replace(DEFAULTS, **given)  # type: ignore[arg-type]  # values parsed per field
    if chosen.batch_size < 1 or chosen.retrain_after < 0:
        chosen = replace(
            chosen,
            batch_size=max(1, chosen.batch_size),
            retrain_after=max(0, chosen.retrain_after),
        )
    return chosen


def save_settings(project: Project, chosen: ProposalSettings) -> None:
    for name, value in asdict(chosen).items():
        project.set_setting(PREFIX + name, str(value))
