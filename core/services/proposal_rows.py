"""Writing an image's proposals to its project: one rule for the app's worker and the
headless ``propose --project`` (in process or on Ray). Torch-free, so the window can
import it without loading the network."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from core.store import Project
from core.store.models import Origin, State
from core.store.rows import BoxSpec, ImageProposalRows

if TYPE_CHECKING:
    from core.engine.proposals import ImageProposals, Proposal


#: A learned model's class is given to a proposal only when it is at least this likely;
#: below, it is a hint and the proposal takes the current class when accepted (a model
#: that knows only "raccoon" must not call every fruit a raccoon).
CLASS_CONFIDENCE = 0.5


def proposal_specs(
    result: ImageProposals, model_version_id: int | None, own: Collection[str]
) -> list[BoxSpec]:
    """The rows to store for an image's proposals.

    A proposal carries a class only when a learned model (``model_version_id``) named one
    of the project's classes ``own`` with at least :data:`CLASS_CONFIDENCE`; a zero-shot
    proposal's class is the network's (an ImageNet name), kept as its hint only, so such
    names never become the annotator's classes.
    """

    def sure(p: Proposal) -> bool:
        return (
            model_version_id is not None
            and p.class_name in own
            and (p.confidence >= CLASS_CONFIDENCE)
        )

    return [
        BoxSpec(
            p.class_name if sure(p) else None,
            p.box,
            origin=Origin.PROPOSAL,
            state=State.PROPOSED,
            confidence=p.confidence,
            method=p.method,
            model_version_id=model_version_id,
            hint=None if sure(p) else p.class_name,
        )
        for p in result.proposals
    ]


def store_batch(
    project: Project,
    results: Sequence[tuple[int, ImageProposals | None]],
    model_version_id: int | None = None,
    *,
    classes: Collection[str] | None = None,
) -> dict[int, str]:
    """Store a batch of ``(image id, proposals)`` in one transaction
    (:meth:`~core.store.box_records.BoxRecords.store_proposal_batch`): each image's
    still-proposed proposals are replaced, its size set if unknown, and it moves from
    ``new`` (or ``unreadable``, a file since mended) to ``proposed``; proposals None marks
    the image ``unreadable``. ``model_version_id`` names the learned model version they
    came from (None: zero-shot); ``classes`` are the project's classes if already read.

    Returns the images left alone because another annotator holds them (id -> who).
    """
    own: Collection[str] = ()
    if model_version_id is not None:
        own = set(project.class_records.classes() if classes is None else classes)
    rows = [
        ImageProposalRows(image_id, None)
        if result is None
        else ImageProposalRows(image_id, proposal_specs(result, model_version_id, own), result.size)
        for image_id, result in results
    ]
    return project.box_records.store_proposal_batch(rows)


def store_proposals(
    project: Project, image_id: int, result: ImageProposals, model_version_id: int | None = None
) -> bool:
    """Store one image's proposals as :func:`store_batch` does; False when another
    annotator holds the image (nothing was stored)."""
    return not store_batch(project, [(image_id, result)], model_version_id)
