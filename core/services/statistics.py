"""Figures of a project for the statistics view: headless, plain numbers.

:func:`project_statistics` reads image counts per status, accepted boxes per class, the
model versions' cross-validated CorLoc and, through an :class:`EventTally`, what became
of the proposals over the session (replayed from the event log, so undo counts too).

Definitions:

- A proposal (a box of origin ``proposal``) counts once a person reviewed it (accept,
  reject or edit; pseudo-labels stored already accepted do not count), by its state now:
  *accepted as is* (``accepted``), *edited* (moved, resized or relabelled; ``edited``) or
  *rejected*. Undoing a review takes it back out. A box drawn by hand (origin ``human``,
  accepted) is *drawn*.
- An image counts as reviewed from its first review action (an accept, reject or edit of
  one of its boxes, or a box drawn on it), in that order.
- The learning curve's share per block of 20 reviewed images is the share of the
  block's labels (accepted as is + edited + drawn) that were proposals accepted as is:
  the simulated annotator's ``accepted_rate``, per block instead of cumulated.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from core.store import Project
from core.store.models import STATUSES

#: Reviewed images per point of the accepted-as-is curve.
BLOCK = 20
#: The outcomes counted for each image: three for proposals, one for drawn boxes.
OUTCOMES = ("accepted", "edited", "rejected", "drawn")
#: Actions by which a person reviews a box.
REVIEW_ACTIONS = ("accept", "reject", "edit")


@dataclass(frozen=True)
class ProposalFates:
    """How many reviewed proposals are accepted as is, edited or rejected now, and how
    many boxes were drawn by hand (counts of boxes)."""

    accepted: int = 0
    edited: int = 0
    rejected: int = 0
    drawn: int = 0

    @property
    def reviewed(self) -> int:
        """Proposals a person reviewed: accepted as is + edited + rejected."""
        return self.accepted + self.edited + self.rejected

    def share(self, outcome: str) -> float | None:
        """Share (0–1) of the reviewed proposals with this outcome (``accepted``,
        ``edited``, ``rejected``); None before any review."""
        total = self.reviewed
        return getattr(self, outcome) / total if total else None


@dataclass(frozen=True)
class BlockShare:
    """One point of the accepted-as-is curve: reviewed images ``first`` to ``last``
    (1-based, in review order) and the share (0–1) of their labels that were proposals
    accepted as is (None: the block has no label)."""

    first: int
    last: int
    accepted_share: float | None


@dataclass(frozen=True)
class VersionScores:
    """A model version's cross-validated CorLoc: class → share (0–1) of the held-out
    images whose top box of the method chosen for that class has IoU > 0.5.

    ``number`` is its place among the versions (1 = oldest); ``images`` how many accepted
    images it learned from (None when its metrics do not say)."""

    number: int
    version_id: int
    images: int | None
    corloc: dict[str, float]


@dataclass(frozen=True)
class Statistics:
    """What the statistics view shows (counts are numbers of images or boxes)."""

    images_per_status: dict[str, int]
    boxes_per_class: dict[str, int]
    fates: ProposalFates
    reviewed_images: int
    blocks: tuple[BlockShare, ...]
    versions: tuple[VersionScores, ...]


class EventTally:
    """Replays a project's event log, incrementally: each :meth:`update` reads only the
    events added since the last one. Keep one per open project."""

    def __init__(self) -> None:
        self.last_id = 0
        self._origin: dict[int, str] = {}  # box id → origin, kept after a delete
        self._image: dict[int, int] = {}  # box id → image id
        self._outcome: dict[int, str] = {}  # box id → its counted outcome
        self._reviewed: set[int] = set()  # boxes a person reviewed
        self._per_image: defaultdict[int, Counter[str]] = defaultdict(Counter)
        self._order: dict[int, None] = {}  # reviewed image ids, in order of first review

    def update(self, project: Project) -> None:
        """Read and replay the events newer than the last one seen."""
        for event in _events_after(project, self.last_id):
            self._replay(event)
            self.last_id = event["id"]

    def _replay(self, event: dict[str, Any]) -> None:
        box_id, action = event["box_id"], event["action"]
        detail = event["detail"] or {}
        if box_id is None:
            return
        self._image[box_id] = event["image_id"]
        state: str | None
        if action in ("add", "import"):
            self._origin[box_id] = detail.get("origin", "")
            state = detail.get("state")
            if self._origin[box_id] == "human":
                self._first_review(event["image_id"])
        elif action in REVIEW_ACTIONS:
            self._reviewed.add(box_id)
            self._first_review(event["image_id"])
            state = _reviewed_state(action, self._outcome.get(box_id), self._origin.get(box_id))
        elif action == "restore":
            state = detail.get("state")
        elif action == "delete":
            state = None
        else:  # flags and actions to come change no outcome
            return
        self._count(box_id, state)

    def _first_review(self, image_id: int) -> None:
        self._order.setdefault(image_id, None)

    def _count(self, box_id: int, state: str | None) -> None:
        """Move the box from its counted outcome to the one ``state`` gives."""
        origin = self._origin.get(box_id)
        outcome = None
        if origin == "proposal" and box_id in self._reviewed and state in OUTCOMES[:3]:
            outcome = state
        elif origin == "human" and state in ("accepted", "edited"):
            outcome = "drawn"
        counts = self._per_image[self._image[box_id]]
        if (old := self._outcome.pop(box_id, None)) is not None:
            counts[old] -= 1
        if outcome is not None:
            self._outcome[box_id] = outcome
            counts[outcome] += 1

    def fates(self) -> ProposalFates:
        """The outcomes over the whole session."""
        total: Counter[str] = Counter()
        for image_id in self._order:
            total.update(self._per_image[image_id])
        return ProposalFates(**{k: max(0, total[k]) for k in OUTCOMES})

    def reviewed_images(self) -> int:
        return len(self._order)

    def blocks(self, size: int = BLOCK) -> tuple[BlockShare, ...]:
        """The accepted-as-is share per ``size`` reviewed images (the last block may be
        smaller)."""
        order = list(self._order)
        points = []
        for start in range(0, len(order), size):
            counts: Counter[str] = Counter()
            for image_id in order[start : start + size]:
                counts.update(self._per_image[image_id])
            labels = counts["accepted"] + counts["edited"] + counts["drawn"]
            share = counts["accepted"] / labels if labels > 0 else None
            points.append(BlockShare(start + 1, min(start + size, len(order)), share))
        return tuple(points)


def _reviewed_state(action: str, outcome: str | None, origin: str | None) -> str:
    """A box's state after a review action (as :mod:`core.store.boxes` sets it)."""
    if action == "reject":
        return "rejected"
    if action == "edit":
        return "accepted" if origin == "human" else "edited"
    return "edited" if outcome == "edited" else "accepted"


def _events_after(project: Project, last_id: int) -> list[dict[str, Any]]:
    """The events with an id above ``last_id``, oldest first (reads newest first, in
    growing pages, until it reaches one already seen)."""
    limit = 256
    while True:
        page = project.box_records.events(limit)
        if len(page) < limit or page[-1]["id"] <= last_id:
            return [e for e in reversed(page) if e["id"] > last_id]
        limit *= 4


def version_scores(project: Project) -> tuple[VersionScores, ...]:
    """Every model version, oldest first, with the cross-validated CorLoc of the method
    its training chose per class (see ``core.learning.trainer``'s metrics)."""
    rows = reversed(project.learning_records.model_versions())
    scores = []
    for number, row in enumerate(rows, start=1):
        corloc = {}
        for name, figures in (row.metrics.get("classes") or {}).items():
            value = (figures.get("cv_corloc") or {}).get(figures.get("choice"))
            if value is not None:
                corloc[name] = float(value)
        images = row.metrics.get("images")
        scores.append(VersionScores(number, row.id, images, corloc))
    return tuple(scores)


def project_statistics(project: Project, tally: EventTally | None = None) -> Statistics:
    """The statistics of an open project; ``tally`` (updated here) keeps the event log's
    replay between calls, so a refresh reads only new events."""
    tally = tally or EventTally()
    tally.update(project)
    return Statistics(
        images_per_status={status: project.count_images(status) for status in STATUSES},
        boxes_per_class=project.class_records.class_counts(),
        fates=tally.fates(),
        reviewed_images=tally.reviewed_images(),
        blocks=tally.blocks(),
        versions=version_scores(project),
    )
