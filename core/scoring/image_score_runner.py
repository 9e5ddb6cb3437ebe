"""The image score over a set of image files: two streaming passes, grouped references."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.engine import defaults
from core.engine.errors import UnknownNameError
from core.engine.images import ImageLoadError, load_rgb
from core.engine.proposals import resize_for_network
from core.scoring.image_score import ActivationReader, Reference, score_activations

Progress = Callable[[int], None]
#: Polled between batches; scoring stops with :class:`ScoreCancelled` once it is true.
CancelCheck = Callable[[], bool]


class ScoreCancelled(Exception):
    """Scoring was cancelled (its ``cancelled`` check became true between batches)."""


@dataclass
class SetScores:
    """Scores of N images (NaN where an image could not be read).

    Attributes:
        scores: ``(N,)`` image scores (see :mod:`core.scoring.image_score`).
        classes: ``(N,)`` top-1 predicted class index (-1 unreadable).
        confidence: ``(N,)`` softmax probability of that class.
        empty_layers: ``(N,)`` layers in which the image shared no unit with its reference.
        group: ``(N,)`` key of the reference each image was scored against
            (:data:`GLOBAL` for the whole set).
        references: group key → :class:`Reference`.
        problems: one line per unreadable image.
    """

    scores: np.ndarray
    classes: np.ndarray
    confidence: np.ndarray
    empty_layers: np.ndarray
    group: list
    references: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def image_batches(
    reader: ActivationReader,
    paths: Sequence[Path],
    batch_size: int,
    problems: list[str] | None,
    cancelled: CancelCheck | None = None,
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """``(indices, normalised (B, 3, S, S) tensor)`` for the readable images, in order;
    raises :class:`ScoreCancelled` before a batch once ``cancelled()`` is true."""
    side = reader.backbone.input_size
    for start in range(0, len(paths), batch_size):
        if cancelled is not None and cancelled():
            raise ScoreCancelled("scoring cancelled")
        indices, resized = [], []
        for i in range(start, min(start + batch_size, len(paths))):
            try:
                resized.append(resize_for_network(load_rgb(paths[i]).rgb, side))
                indices.append(i)
            except ImageLoadError as exc:
                if problems is not None:
                    problems.append(str(exc))
        if indices:
            yield indices, reader.backbone.batch(resized)


GLOBAL = "*"


@dataclass
class ReferenceBank:
    """Every reference of a set of images, kept between runs so that new labels update it.

    Attributes:
        references: group key → :class:`Reference`: a user class name (labelled images),
            a predicted class index (unlabelled images) and :data:`GLOBAL` (every image).
        members: image key (its path) → ``(group key, predicted class)`` it was added with.
        signature: what the sums depend on (backbone, layers, input size); a bank with
            another signature is not reused.
    """

    references: dict = field(default_factory=lambda: {GLOBAL: Reference()})
    members: dict[str, tuple] = field(default_factory=dict)
    signature: str = ""

    def save(self, path: Path) -> None:
        """Write the bank with ``torch.save`` (tensors, strings and numbers only)."""
        state = {
            "signature": self.signature,
            "members": {k: [json_key(g), c] for k, (g, c) in self.members.items()},
            "references": {
                json_key(k): {"count": r.count, "sums": r.sums} for k, r in self.references.items()
            },
        }
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, signature: str) -> ReferenceBank:
        """The bank saved at ``path``, or an empty one if there is none or it does not match."""
        if not path.is_file():
            return cls(signature=signature)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError):
            return cls(signature=signature)
        if state.get("signature") != signature:
            return cls(signature=signature)
        refs = {
            from_json_key(k): Reference(sums=v["sums"], count=v["count"])
            for k, v in state["references"].items()
        }
        members = {k: (from_json_key(v[0]), int(v[1])) for k, v in state["members"].items()}
        return cls(refs, members, signature)

    def update(
        self,
        reader: ActivationReader,
        paths: Sequence[Path],
        labels: Sequence[str | None],
        batch_size: int,
        problems: list[str],
        progress: Progress | None = None,
        cancelled: CancelCheck | None = None,
    ) -> int:
        """Bring the references up to date with ``labels``; returns images read.

        Only images that are new, or whose label changed, are read: each is taken out of
        the group it was in and added to its new one. If an image of the bank is no longer
        in ``paths`` the bank is rebuilt from every image.
        """
        keys = [str(p) for p in paths]
        if not set(self.members) <= set(keys):
            self.references, self.members = {GLOBAL: Reference()}, {}
        stale = [
            i
            for i, key in enumerate(keys)
            if key not in self.members
            or (labels[i] or self.members[key][1]) != self.members[key][0]
        ]
        todo = [paths[i] for i in stale]
        for indices, x in image_batches(reader, todo, batch_size, problems, cancelled):
            forward = reader(x)
            for j, k in enumerate(indices):
                i = stale[k]
                one = {name: act[j : j + 1] for name, act in forward.activations.items()}
                if keys[i] in self.members:
                    self.references[self.members[keys[i]][0]].remove(one)
                    self.references[GLOBAL].remove(one)
                cls = int(forward.classes[j])
                group = labels[i] if labels[i] is not None else cls
                self.references.setdefault(group, Reference()).add(one)
                self.references[GLOBAL].add(one)
                self.members[keys[i]] = (group, cls)
            if progress:
                progress(len(indices))
        return len(stale)


def json_key(key) -> str:
    """A group key as a string: predicted classes as ``#<index>``, names as they are."""
    return f"#{key}" if isinstance(key, int) else str(key)


def from_json_key(text: str):
    return int(text[1:]) if text.startswith("#") else text


def score_files(
    reader: ActivationReader,
    paths: Sequence[Path],
    labels: Sequence[str | None] | None = None,
    min_group: int = 10,
    batch_size: int = defaults.BATCH_SIZE,
    literal: bool = False,
    progress: Progress | None = None,
    bank: ReferenceBank | None = None,
    cancelled: CancelCheck | None = None,
) -> SetScores:
    """Image scores of ``paths``: at most two passes over the files.

    Pass 1 (:meth:`ReferenceBank.update`) builds references: one per user class from the
    labelled images (``labels``), one per predicted class from the unlabelled ones (the
    paper's detection experiment, before any labels exist), and a global one from every
    image (key :data:`GLOBAL`); with a saved ``bank`` it reads only new or relabelled
    images. Pass 2 scores an unlabelled image against, in this order: the user class that
    most labelled images predicted as its class carry; its predicted class's group if that
    has at least ``min_group`` images; the global reference. A labelled image is scored
    against its own class. A small group makes a poor reference: an image alone in its
    group matches itself perfectly (raccoon, which the ImageNet head spreads over dozens
    of classes: Spearman with proposal IoU −0.08 with every group kept; README).

    Args:
        reader: the backbone and its score layers.
        paths: image files.
        labels: per image, the user class of its accepted boxes, or ``None``.
        min_group: smallest predicted-class group that gets a reference of its own.
        batch_size: images per forward pass.
        literal: the paper's sum-based threshold (see :mod:`core.scoring.image_score`).
        progress: called with the number of images done, in each pass.
        bank: references from an earlier run, updated in place (a new one by default).
        cancelled: polled before each batch; once true, :class:`ScoreCancelled` is raised
            (the bank may then hold part of an update: do not save it).
    """
    n = len(paths)
    labels = list(labels) if labels is not None else [None] * n
    bank = bank if bank is not None else ReferenceBank()
    problems: list[str] = []
    bank.update(reader, paths, labels, batch_size, problems, progress, cancelled)
    members = [bank.members.get(str(p)) for p in paths]
    references, user_class = scoring_references(bank, members, labels, min_group)
    classes = np.full(n, -1, dtype=np.int64)
    confidence = np.full(n, np.nan)
    groups: list = [GLOBAL] * n
    scores = np.full(n, np.nan)
    empty = np.zeros(n, dtype=np.int64)
    for indices, x in image_batches(reader, paths, batch_size, problems, cancelled):
        forward = reader(x)
        by_reference: dict = {}
        for j, i in enumerate(indices):
            classes[i], confidence[i] = int(forward.classes[j]), float(forward.confidence[j])
            own = labels[i] if labels[i] is not None else int(classes[i])
            guess = user_class.get(own) if isinstance(own, int) else None
            candidates = (own,) if labels[i] is not None else (guess, own)
            groups[i] = next((k for k in candidates if k in references), GLOBAL)
            by_reference.setdefault(groups[i], []).append(j)
        for key, rows in by_reference.items():
            result = score_activations(
                {k: v[rows] for k, v in forward.activations.items()}, references[key], literal
            )
            for j, score, layers in zip(rows, result.scores, result.empty_layers, strict=True):
                scores[indices[j]], empty[indices[j]] = float(score), int(layers)
        if progress:
            progress(len(indices))
    problems = list(dict.fromkeys(problems))
    return SetScores(scores, classes, confidence, empty, groups, references, problems)


def scoring_references(
    bank: ReferenceBank, members: list, labels: list[str | None], min_group: int
) -> tuple[dict, dict[int, str]]:
    """What the second pass scores against: the references with images (the global one,
    and each predicted-class group of at least ``min_group`` images), and predicted class →
    the user class most of its labelled images carry (``members``: each image's
    ``(group, predicted class)`` or None, in the order of ``labels``)."""
    user_class = _majority_label(
        np.array([m[1] if m else -1 for m in members], dtype=np.int64), labels
    )
    references = {
        k: r
        for k, r in bank.references.items()
        if r.count > 0 and (isinstance(k, str) or r.count >= min_group)
    }
    return references, user_class


def _majority_label(classes: np.ndarray, labels: list[str | None]) -> dict[int, str]:
    """Predicted class → the user class most labelled images predicted as it carry."""
    votes: dict[int, dict[str, int]] = {}
    for cls, label in zip(classes, labels, strict=True):
        if label is not None and cls >= 0:
            tally = votes.setdefault(int(cls), {})
            tally[label] = tally.get(label, 0) + 1
    return {cls: max(tally, key=tally.__getitem__) for cls, tally in votes.items()}


ORDERS = ("score-desc", "score-asc", "softmax", "random")


def review_order(scores: np.ndarray, confidence: np.ndarray, order: str, seed: int = 0):
    """Indices of images in review order; unscored images (NaN) come last.

    ``score-desc``: most typical first (fast accepts); ``score-asc``: hardest first;
    ``softmax``: the paper's baseline, most confident first; ``random``: seeded shuffle.
    """
    if order not in ORDERS:
        raise UnknownNameError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")
    if order == "random":
        return np.random.default_rng(seed).permutation(len(scores))
    key = {"score-desc": -scores, "score-asc": scores, "softmax": -confidence}[order]
    key = np.where(np.isnan(key), np.inf, key)
    return np.argsort(key, kind="stable")
