"""The plain description of one box that the canvas draws; it carries no store or torch objects."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BoxView:
    """One box as the canvas shows it.

    ``box`` is ``(x1, y1, x2, y2)`` in image pixels with continuous edges: the whole
    ``W × H`` image is ``(0, 0, W, H)``. ``origin`` is ``"human"``, ``"imported"`` or
    ``"proposal"``; ``state`` is ``"proposed"``, ``"accepted"``, ``"edited"`` or
    ``"rejected"``. ``confidence`` is the proposal score when known.
    """

    id: int
    box: tuple[float, float, float, float]
    class_name: str
    origin: str
    state: str
    confidence: float | None = None
