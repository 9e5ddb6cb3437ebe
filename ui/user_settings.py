"""SaliBox's user settings (per user of this machine, not per project)."""

from __future__ import annotations

from PySide6.QtCore import QSettings


def settings() -> QSettings:
    """SaliBox's user settings: ``QSettings("SaliBox", "SaliBox")`` in the default format."""
    return QSettings(QSettings.defaultFormat(), QSettings.Scope.UserScope, "SaliBox", "SaliBox")
