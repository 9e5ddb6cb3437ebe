"""A project's image scores on a Ray cluster, in the in-process score's two passes.

The first pass is a sum: each batch's workers (:class:`SumBatches`) give their images'
partial per-group sums, which the driver adds up (a reduce); the second pass
(:class:`ScoreBatches`) maps each batch against the references, which every worker gets
once from the object store, and stores the batch's scores (the driver stores them all at
the end for an SQLite file; see :mod:`core.services.cluster`).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.engine import defaults
from core.engine.backbones import Backbone, load_backbone
from core.engine.device import pick_device
from core.scoring.image_score import ActivationReader, Reference, score_activations
from core.scoring.image_score_runner import (
    GLOBAL,
    ReferenceBank,
    SetScores,
    from_json_key,
    image_batches,
    json_key,
    scoring_references,
)
from core.scoring.review_queue import LABELLED_STATES, ProjectScores, references_file
from core.services.cluster import (
    BatchWriter,
    Cluster,
    WorkerStore,
    blocks,
    pool,
    raise_failure,
    set_threads,
    worker_store,
)
from core.services.project_proposals import (
    ProposalSpec,
)
from core.store import Project, StoreError


def _backbone(spec: ProposalSpec) -> Backbone:
    backbone = load_backbone(
        spec.backbone, Path(spec.weights) if spec.weights else None, pick_device(spec.device)
    )
    if spec.input_size:
        backbone.input_size = spec.input_size
    return backbone


class SumBatches:
    """Pass 1 worker: a batch of images → their partial reference sums, one row.

    Each image is added to its group (its label, else its predicted class) and to the
    global reference; an image that was in another group is taken out of it.
    """

    def __init__(self, spec: ProposalSpec, cpus: float) -> None:
        set_threads(cpus)
        self.reader = ActivationReader(_backbone(spec))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        keys = [Path(str(k)) for k in batch["key"]]
        problems: list[str] = []
        delta: dict[str, Reference] = {}
        members = []
        for indices, x in image_batches(self.reader, keys, len(keys), problems):
            forward = self.reader(x)
            for j, k in enumerate(indices):
                one = {name: act[j : j + 1] for name, act in forward.activations.items()}
                cls = int(forward.classes[j])
                label = str(batch["label"][k])
                group = json_key(label if label else cls)
                old = str(batch["old"][k])
                if old != group:
                    if old:
                        delta.setdefault(old, Reference()).remove(one)
                    else:
                        delta.setdefault(GLOBAL, Reference()).add(one)
                    delta.setdefault(group, Reference()).add(one)
                members.append((str(keys[k]), group, cls))
        state = {g: (r.count, r.sums) for g, r in delta.items()}
        return {
            "delta": np.array([pickle.dumps(state)], dtype=object),
            "members": np.array([pickle.dumps(members)], dtype=object),
            "problems": np.array([pickle.dumps(problems)], dtype=object),
        }


class ScoreBatches(BatchWriter):
    """Pass 2 worker: a batch of images → scores against the references (put in the
    object store once; every worker reads them once). With a store (a PostgreSQL project)
    the worker also stores the batch's scores, in one transaction."""

    def __init__(
        self, spec: ProposalSpec, cpus: float, shared: list, store: WorkerStore | None = None
    ) -> None:
        import ray

        set_threads(cpus)
        self.reader = ActivationReader(_backbone(spec))
        self.references, self.user_class = ray.get(shared[0])
        self._open(store)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch["key"])
        out = {
            "index": np.asarray(batch["index"], dtype=np.int64),
            "score": np.full(n, np.nan),
            "confidence": np.full(n, np.nan),
            "cls": np.full(n, -1, dtype=np.int64),
            "empty": np.zeros(n, dtype=np.int64),
            "group": np.array([json_key(GLOBAL)] * n, dtype=object),
            "problem": np.array([""] * n, dtype=object),
        }
        if not self.failure:
            self._score(batch, out)
        if self.project is not None and not self.failure:
            try:
                self.project.set_scores(
                    (int(image_id), float(score), float(confidence))
                    for image_id, score, confidence in zip(
                        batch["id"], out["score"], out["confidence"], strict=True
                    )
                    if math.isfinite(score)
                )
            except StoreError as exc:
                self.failure = str(exc)
        out["error"] = self._errors(n)
        return out

    def _score(self, batch: dict[str, np.ndarray], out: dict[str, np.ndarray]) -> None:
        """Fill ``out``'s rows with the batch's scores, classes, groups and problems."""
        keys = [Path(str(k)) for k in batch["key"]]
        n = len(keys)
        problems: list[str] = []
        for indices, x in image_batches(self.reader, keys, n, problems):
            forward = self.reader(x)
            by_reference: dict = {}
            for j, i in enumerate(indices):
                cls = int(forward.classes[j])
                out["cls"][i], out["confidence"][i] = cls, float(forward.confidence[j])
                label = str(batch["label"][i]) or None
                own = label if label is not None else cls
                guess = self.user_class.get(own) if isinstance(own, int) else None
                candidates = (own,) if label is not None else (guess, own)
                group = next((k for k in candidates if k in self.references), GLOBAL)
                out["group"][i] = json_key(group)
                by_reference.setdefault(group, []).append(j)
            for group, rows in by_reference.items():
                result = score_activations(
                    {k: v[rows] for k, v in forward.activations.items()}, self.references[group]
                )
                for j, score, layers in zip(rows, result.scores, result.empty_layers, strict=True):
                    out["score"][indices[j]], out["empty"][indices[j]] = float(score), int(layers)
        missing = [i for i in range(n) if math.isnan(out["confidence"][i])]
        for i, line in zip(missing, problems, strict=False):
            out["problem"][i] = line


def _labels(project: Project, rows: Sequence) -> list[str | None]:
    """Per image, the class of its first accepted box of a verified person (None)."""
    labels = []
    for row in rows:
        boxes = [b for b in project.box_records.boxes(row.id, states=LABELLED_STATES) if b.verified]
        labels.append(boxes[0].class_name if boxes else None)
    return labels


def _stale(bank: ReferenceBank, keys: list[str], labels: list[str | None]) -> list[int]:
    """Images pass 1 must read (ReferenceBank.update's rule): new, or relabelled."""
    if not set(bank.members) <= set(keys):
        bank.references, bank.members = {GLOBAL: Reference()}, {}
    return [
        i
        for i, key in enumerate(keys)
        if key not in bank.members or (labels[i] or bank.members[key][1]) != bank.members[key][0]
    ]


def _add(bank: ReferenceBank, group: Any, count: int, sums: dict[str, torch.Tensor]) -> None:
    ref = bank.references.setdefault(group, Reference())
    for name, total in sums.items():
        ref.sums[name] = ref.sums[name] + total if name in ref.sums else total
    ref.count += count


def score_on_ray(
    project: Project,
    spec: ProposalSpec,
    cluster: Cluster,
    batch_size: int = defaults.BATCH_SIZE,
    min_group: int = 10,
) -> ProjectScores:
    """:func:`core.scoring.review_queue.score_project` on Ray: the same references (kept
    beside the database, so a later run of either engine reads only new or relabelled
    images in pass 1), the same scores, stored by the driver at the end for an SQLite file
    and by the workers batch by batch for a PostgreSQL project."""
    import ray
    import ray.data

    spec = ProposalSpec(**{**spec.__dict__, "device": "cpu"})
    rows = project.images(order_by="path")
    labels = _labels(project, rows)
    keys = [str(project.root / row.path) for row in rows]
    probe = ActivationReader(_backbone(spec))
    bank_path = references_file(project, probe.backbone.name)
    signature = f"{probe.backbone.name}|{probe.backbone.input_size}|{','.join(probe.layers)}"
    bank = ReferenceBank.load(bank_path, signature)
    problems: list[str] = []
    worker_spec = ProposalSpec(**{**spec.__dict__, "device": cluster.device})
    constructor: dict[str, Any] = {"spec": worker_spec, "cpus": cluster.cpus_per_worker}

    stale = _stale(bank, keys, labels)
    if stale:
        items = [
            {
                "key": keys[i],
                "label": labels[i] or "",
                "old": json_key(bank.members[keys[i]][0]) if keys[i] in bank.members else "",
            }
            for i in stale
        ]
        sums = ray.data.from_items(
            items, override_num_blocks=blocks(len(items), batch_size)
        ).map_batches(
            SumBatches,
            fn_constructor_kwargs=constructor,
            batch_size=batch_size,
            batch_format="numpy",
            **pool(cluster),
        )
        for part in sums.iter_rows():  # the reduce: add up each batch's sums
            for group, (count, total) in pickle.loads(part["delta"]).items():
                _add(bank, from_json_key(group), count, total)
            for key, group, cls in pickle.loads(part["members"]):
                bank.members[key] = (from_json_key(group), cls)
            problems.extend(pickle.loads(part["problems"]))

    members = [bank.members.get(k) for k in keys]
    references, user_class = scoring_references(bank, members, labels, min_group)
    n = len(rows)
    scores, confidence = np.full(n, np.nan), np.full(n, np.nan)
    classes, empty = np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=np.int64)
    groups: list = [GLOBAL] * n
    shared = [ray.put((references, user_class))]
    store = worker_store(project)
    rows_in = [
        {"index": i, "id": rows[i].id, "key": keys[i], "label": labels[i] or ""} for i in range(n)
    ]
    scored = ray.data.from_items(rows_in, override_num_blocks=blocks(n, batch_size)).map_batches(
        ScoreBatches,
        fn_constructor_kwargs={**constructor, "shared": shared, "store": store},
        batch_size=batch_size,
        batch_format="numpy",
        **pool(cluster),
    )
    for batch in scored.iter_batches(batch_size=batch_size, batch_format="numpy"):
        raise_failure(batch)
        for j, i in enumerate(batch["index"]):
            scores[i], confidence[i] = batch["score"][j], batch["confidence"][j]
            classes[i], empty[i] = batch["cls"][j], batch["empty"][j]
            groups[i] = from_json_key(str(batch["group"][j]))
            if batch["problem"][j]:
                problems.append(str(batch["problem"][j]))
    bank_path.parent.mkdir(parents=True, exist_ok=True)  # a server project's data folder
    bank.save(bank_path)
    if store is None:  # an SQLite file: the driver stores every score, in one transaction
        project.set_scores(
            (row.id, float(s), float(c))
            for row, s, c in zip(rows, scores, confidence, strict=True)
            if math.isfinite(s)
        )
    problems = list(dict.fromkeys(problems))
    result = SetScores(scores, classes, confidence, empty, groups, references, problems)
    return ProjectScores(rows, labels, result)
