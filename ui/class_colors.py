"""Class colours, the same on the canvas and in the classes panel."""

from __future__ import annotations

import zlib

from PySide6.QtGui import QColor

#: The colour of a proposal that has no class to take.
NO_CLASS_COLOR = QColor(190, 190, 190)


def class_color(class_name: str | None) -> QColor:
    """A bright colour whose hue is a stable hash of the class name (grey for None)."""
    if class_name is None:
        return QColor(NO_CLASS_COLOR)
    return QColor.fromHsv(zlib.crc32(class_name.encode()) % 360, 200, 255)
