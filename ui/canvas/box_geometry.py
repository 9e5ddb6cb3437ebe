"""Box arithmetic for editing on the canvas, in image pixels: clip, shift, resize."""

from __future__ import annotations

from ui.canvas.graphics import Box

MIN_SIDE = 1.0  # smallest side a resize can leave, image pixels


def clipped(box: Box, size: tuple[float, float]) -> Box:
    """``box`` with each corner clamped into the ``(W, H)`` image."""
    width, height = size
    x1, y1, x2, y2 = box
    return (
        min(max(x1, 0.0), width),
        min(max(y1, 0.0), height),
        min(max(x2, 0.0), width),
        min(max(y2, 0.0), height),
    )


def shifted(box: Box, dx: float, dy: float, size: tuple[float, float]) -> Box:
    """``box`` moved by ``(dx, dy)``, stopping at the border of the ``(W, H)`` image."""
    width, height = size
    x1, y1, x2, y2 = box
    dx = min(max(dx, -x1), width - x2)
    dy = min(max(dy, -y1), height - y2)
    return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)


def resized(
    box: Box, handle: tuple[int, int], dx: float, dy: float, size: tuple[float, float]
) -> Box:
    """``box`` with the edges of ``handle`` (see ``graphics.HANDLES``) moved by ``(dx, dy)``.

    The edges stay inside the ``(W, H)`` image and at least ``MIN_SIDE`` apart.
    """
    width, height = size
    x1, y1, x2, y2 = box
    sx, sy = handle
    if sx < 0:
        x1 = min(max(x1 + dx, 0.0), x2 - MIN_SIDE)
    elif sx > 0:
        x2 = max(min(x2 + dx, width), x1 + MIN_SIDE)
    if sy < 0:
        y1 = min(max(y1 + dy, 0.0), y2 - MIN_SIDE)
    elif sy > 0:
        y2 = max(min(y2 + dy, height), y1 + MIN_SIDE)
    return (x1, y1, x2, y2)
