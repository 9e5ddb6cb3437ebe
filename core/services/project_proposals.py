"""Proposals for a project's images, headless: what is still to propose, the model that
proposes (zero-shot or the active model version), and how results are stored.

The in-process run (:func:`propose_project`) and the Ray run
(:mod:`core.services.cluster_proposals`) share all of it: the same :class:`ProposalSpec` builds the
same :class:`ProposalMaker` in this process or once per Ray worker, and every batch is
stored with :func:`store_results` (by the driver for an SQLite file, by the Ray workers for
a PostgreSQL project). A run that was interrupted and started again proposes only what
:func:`pending_images` still lists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import exists, select

from core.engine import defaults
from core.engine.backbones import load_backbone
from core.engine.device import pick_device
from core.engine.images import ImageLoadError, load_rgb
from core.engine.proposals import ImageProposals, make_proposer, resize_for_network
from core.services.proposal_rows import store_batch
from core.store import Project
from core.store.models import Box, Image, Origin

#: Statuses of images that proposals may still change (a person has not reviewed them).
PROPOSABLE = ("new", "proposed", "unreadable")


@dataclass(frozen=True)
class ProposalSpec:
    """Everything a process needs to build the proposer: plain values, so it pickles.

    Attributes:
        backbone, weights, device, method, input_size: as the command line's options.
        model_file: the active model version's file (None: zero-shot).
        model_version_id: its id, written on the proposals.
    """

    backbone: str
    weights: str | None = None
    device: str = "cpu"
    method: str = "default"
    input_size: int | None = None
    model_file: str | None = None
    model_version_id: int | None = None


@dataclass
class Outcome:
    """What proposing one image gave: its proposals, or the one line saying why not."""

    image_id: int
    path: str
    result: ImageProposals | None = None
    problem: str | None = None
    #: Who holds the image, when it was left alone because an annotator reviews it.
    held_by: str | None = None


class ProposalMaker:
    """A loaded proposer (the backbone loaded once): image files → :class:`Outcome`."""

    def __init__(self, spec: ProposalSpec) -> None:
        self.spec = spec
        backbone = load_backbone(
            spec.backbone, Path(spec.weights) if spec.weights else None, pick_device(spec.device)
        )
        overrides: dict = {"input_size": spec.input_size} if spec.input_size else {}
        self.proposer = make_proposer(backbone, spec.method, **overrides)
        self.learned = None
        self.maker = None
        if spec.model_file is not None:
            from core.learning.evidence import EvidenceMaker
            from core.learning.model import LearnedModel

            self.learned = LearnedModel.load(Path(spec.model_file), backbone)
            self.maker = EvidenceMaker(
                backbone,
                recipes=sorted(self.learned.recipes_needed()),
                keep_tail_input=self.learned.needs_tail_input,
            )

    @property
    def side(self) -> int:
        return self.maker.copy_size if self.maker is not None else self.proposer.recipe.input_size

    def __call__(self, ids: Sequence[int], paths: Sequence[str]) -> list[Outcome]:
        outcomes = [Outcome(int(i), str(p)) for i, p in zip(ids, paths, strict=True)]
        good, shrunk, sizes = [], [], []
        for outcome in outcomes:
            try:
                image = load_rgb(outcome.path)
            except ImageLoadError as exc:
                outcome.problem = str(exc)
                continue
            good.append(outcome)
            shrunk.append(resize_for_network(image.rgb, self.side))
            sizes.append((image.width, image.height))
        if good:
            if self.learned is not None and self.maker is not None:
                names = self.maker.backbone.class_names
                evidence = self.maker(shrunk, sizes)
                results = [self.learned.propose(e, names) for e in evidence]
            else:
                results = self.proposer.propose(shrunk, sizes)
            for outcome, result in zip(good, results, strict=True):
                outcome.result = result
        return outcomes


def spec_for_project(project: Project, **options) -> ProposalSpec:
    """The spec for ``project``: the command line's ``options`` and its active version."""
    version = project.learning_records.active_model_version()
    if version is None:
        return ProposalSpec(**options)
    return ProposalSpec(**options, model_file=str(version.file), model_version_id=version.id)


def pending_images(project: Project, model_version_id: int | None) -> list[tuple[int, str]]:
    """``(id, path)`` of the images still to propose, by path: not reviewed by a person
    and without a proposal of ``model_version_id`` (zero-shot: images still ``new`` or
    ``unreadable`` without any proposal). A resumed run proposes only these."""
    proposal = select(Box.id).where(Box.image_id == Image.id, Box.origin == Origin.PROPOSAL)
    if model_version_id is None:
        statuses: tuple[str, ...] = ("new", "unreadable")
    else:
        statuses = PROPOSABLE
        proposal = proposal.where(Box.model_version_id == model_version_id)
    query = (
        select(Image.id, Image.path)
        .where(Image.status.in_(statuses), ~exists(proposal))
        .order_by(Image.path)
    )
    with project.engine.connect() as connection:
        return [(int(i), str(p)) for i, p in connection.execute(query)]


def store_results(
    project: Project, outcomes: Iterable[Outcome], model_version_id: int | None
) -> list[str]:
    """Store a batch of outcomes in one transaction
    (:func:`~core.services.proposal_rows.store_batch`); returns one line per image that
    could not be read (marked ``unreadable`` unless a person reviewed it meanwhile), in the
    batch's order. An image an annotator holds a claim on is left alone and gets its
    :attr:`Outcome.held_by`: it stays pending for the next run."""
    outcomes = list(outcomes)
    held = store_batch(project, [(o.image_id, o.result) for o in outcomes], model_version_id)
    problems = []
    for outcome in outcomes:
        outcome.held_by = held.get(outcome.image_id)
        if outcome.result is None and outcome.held_by is None:
            problems.append(outcome.problem or f"{outcome.path}: could not be proposed")
    return problems


@dataclass
class ProposeReport:
    """What a run did: images proposed, boxes stored, one line per unreadable image."""

    pending: int = 0
    proposed: int = 0
    boxes: int = 0
    problems: list[str] = field(default_factory=list)
    #: Images left alone because an annotator was reviewing them (pending still).
    held: int = 0

    def add(self, outcomes: list[Outcome], problems: list[str]) -> None:
        """Count a stored batch: its outcomes and the lines :func:`store_results` gave."""
        self.add_counts([stored_count(o) for o in outcomes])
        self.problems.extend(problems)

    def add_counts(self, boxes: Iterable[int | None], problems: Iterable[str] = ()) -> None:
        """Count a batch stored elsewhere (by a Ray worker): per image its number of
        proposals (None: not proposed; :data:`HELD`: held by an annotator), and the lines
        of the unreadable ones."""
        for count in boxes:
            if count == HELD:
                self.held += 1
            elif count is not None:
                self.proposed += 1
                self.boxes += count
        self.problems.extend(problems)


#: The count of an image left alone because an annotator holds it (see :func:`stored_count`).
HELD = -2


def stored_count(outcome: Outcome) -> int | None:
    """How many proposals a stored outcome gave its image: None when it could not be
    proposed, :data:`HELD` when the image was left alone for its reviewer."""
    if outcome.held_by is not None:
        return HELD
    return None if outcome.result is None else len(outcome.result.proposals)


#: Called after each stored batch with the images done in it; returning True stops the run.
BatchDone = Callable[[int], bool | None]


def propose_project(
    project: Project,
    spec: ProposalSpec,
    batch_size: int = defaults.BATCH_SIZE,
    after_batch: BatchDone | None = None,
) -> ProposeReport:
    """Propose the project's :func:`pending_images` in this process, batch by batch."""
    pending = pending_images(project, spec.model_version_id)
    report = ProposeReport(pending=len(pending))
    if not pending:
        return report
    maker = ProposalMaker(spec)
    for start in range(0, len(pending), batch_size):
        chunk = pending[start : start + batch_size]
        outcomes = maker([i for i, _ in chunk], [str(project.root / p) for _, p in chunk])
        report.add(outcomes, store_results(project, outcomes, spec.model_version_id))
        if after_batch is not None and after_batch(len(chunk)):
            break
    return report
