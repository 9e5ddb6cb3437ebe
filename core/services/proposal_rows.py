"""Writing an image's proposals to its project: one rule for the app's worker and the
headless ``propose --project`` (in process or on Ray). Torch-free, so the window can
import it without loading the network."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from core.store import Project
from core.store.models import Origin, State
from core.store.rows import BoxSpec

if TYPE_CHECKING:
    from core.engine.proposals import ImageProposals, Proposal


#: A learned model's class is given to a proposal only when it is at least this likely;
#: below, it is a hint and the proposal takes the current class when accepted (a model
#: that knows only "raccoon" must not call every fruit a raccoon).
CLASS_CONFIDENCE = 0.5


def store_proposals(
    project: Project,
    image_id: int,
    result: ImageProposals,
    model_version_id: int | None = None,
    *,
    classes: Collection[str] | None = None,
) -> None:
    """Replace the image's still-proposed proposals (one transaction), set its size if
    unknown and move it from ``new`` (or ``unreadable``, a file since mended) to
    ``proposed``; ``model_version_id`` names the learned model version they came from
    (None: zero-shot).

    A proposal carries a class only when a learned model named one of the project's
    classes; a zero-shot proposal's class is the network's (an ImageNet name), kept as its
    hint only, so such names never become the annotator's classes. ``classes`` are the
    project's classes when the caller read them once for a batch of images (default: read
    here).

    Each image is its own transactions (the store has no call that writes several images'
    proposals at once): its proposals in one, its size and status in the next.
    """
    if model_version_id is None:
        own: Collection[str] = ()
    else:
        own = set(project.class_records.classes() if classes is None else classes)

    def sure(p: Proposal) -> bool:
        return p.class_name in own and p.confidence >= CLASS_CONFIDENCE

    specs = [
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
    project.box_records.replace_proposals(image_id, specs)
    row = project.image(image_id)
    if row.width is None or row.height is None:
        project.set_image_size(image_id, *result.size)
    if row.status in ("new", "unreadable"):
        project.set_status(image_id, "proposed")
