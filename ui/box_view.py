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

    ``class_name`` is the class the box is saved with; for a proposal that has none yet
    it is the class it will take if accepted (the current class, ``tentative`` True), or
    None when there is no class to take. ``hint`` is the network's own guess for such a
    proposal (an ImageNet name), shown as a hint only. ``difficult`` and ``truncated`` are
    Pascal VOC's flags.
    """

    id: int
    box: tuple[float, float, float, float]
    class_name: str | None
    origin: str
    state: str
    confidence: float | None = None
    hint: str | None = None
    tentative: bool = False
    difficult: bool = False
    truncated: bool = False
