"""Proposals and image scores of a project on a Ray cluster (``salibox[cluster]``).

A Ray Data pipeline over the project's image paths: ``map_batches`` with a callable class
that loads the backbone once per worker (``num_gpus=1`` per worker when the cluster has
GPUs) and runs the same code as the in-process path (:class:`ProposalMaker`, the image
score's :class:`ActivationReader`). Results are written to the project batch by batch:
for an SQLite file by the driver (the file is on its machine; workers send it their
results), for a PostgreSQL project by the workers themselves (:class:`WorkerStore`: each
opens the project once and sends the driver only ids, counts and why an image could not be
read), so every node must then reach the database server. Workers read the image files,
which every node must reach at the same path (``project.root``).

The image score's first pass is a sum: each batch's workers give their images' partial
per-group sums, which the driver adds up (a reduce); the second pass maps each batch
against the references, which every worker gets once from the object store, and stores
the batch's scores (the driver stores them all at the end for an SQLite file).

Ray is imported here only, and only when a run starts: the rest of SaliBox runs without it.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
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
from core.services.project_proposals import (
    BatchDone,
    Outcome,
    ProposalMaker,
    ProposalSpec,
    ProposeReport,
    pending_images,
    store_results,
    stored_count,
)
from core.store import Project, StoreError


class ClusterError(RuntimeError):
    """Ray is missing or the cluster cannot be reached."""


@dataclass(frozen=True)
class Cluster:
    """Where and how a run's workers go.

    Attributes:
        workers: Ray Data actors (each loads the backbone once).
        gpus_per_worker: 1 when the cluster has GPUs, else 0 (the workers run on CPU).
        cpus_per_worker: CPU cores each worker asks for (and its torch threads).
    """

    workers: int
    gpus_per_worker: float
    cpus_per_worker: float

    @property
    def device(self) -> str:
        return "cuda" if self.gpus_per_worker else "cpu"


def connect(address: str | None = None, workers: int | None = None) -> Cluster:
    """Join the Ray cluster at ``address`` (``auto``, ``ray://host:10001``, ``host:6379``),
    or start a local Ray with this machine's cores; reuse one already started in this
    process. ``workers`` defaults to the cluster's GPUs, else to its cores."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(
            "--engine ray needs Ray: pip install 'salibox[cluster]' (ray[data])"
        ) from exc
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(
                num_cpus=os.cpu_count() or 1,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
    quiet_data()
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    count = workers or gpus or cpus
    if count < 1:
        raise ClusterError("--workers must be at least 1")
    if count > (gpus or cpus):  # the pool would wait for workers that cannot start
        have = f"{gpus} GPUs" if gpus else f"{cpus} CPUs"
        raise ClusterError(f"--workers {count}: the cluster has {have}, one per worker")
    per_worker = max(1.0, float(cpus // count)) if not gpus else 1.0
    return Cluster(count, 1.0 if gpus else 0.0, min(per_worker, float(cpus)))


def quiet_data() -> None:
    """Ray Data's progress bars and per-run log lines off: the command shows its own."""
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def _pool(cluster: Cluster) -> dict[str, Any]:
    """``map_batches`` options for a fixed pool of workers."""
    from ray.data import ActorPoolStrategy

    options: dict[str, Any] = {
        "compute": ActorPoolStrategy(size=cluster.workers),
        "num_cpus": cluster.cpus_per_worker,
    }
    if cluster.gpus_per_worker:
        options["num_gpus"] = cluster.gpus_per_worker
    return options


def _threads(cluster_cpus: float) -> None:
    torch.set_num_threads(max(1, int(cluster_cpus)))


@dataclass(frozen=True)
class WorkerStore:
    """How a worker opens a PostgreSQL project to write its batches itself: the database
    (its URL), the image folder (the driver's ``project.root``, the same path on every
    node) and the user name the driver writes as, so the boxes and events say who ran it."""

    location: str
    root: str
    user: str

    def open(self) -> Project:
        return Project.open(self.location, root=self.root, user=self.user)


def worker_store(project: Project) -> WorkerStore | None:
    """Where the workers write: a PostgreSQL project's database, which every node reaches
    through its server; None for an SQLite file, which only the driver writes."""
    if not project.is_server:
        return None
    return WorkerStore(project.location, str(project.root), project.user)


class _Writer:
    """A worker that writes its batches to the project when given a :class:`WorkerStore`
    (opened once per worker, closed when the worker goes).

    A :class:`StoreError` (the server cannot be reached from this node, the image folder
    is not mounted there) does not kill the worker, which Ray would only report as a dead
    actor: its line is :attr:`failure`, sent back in each batch's ``error`` column, and
    the driver raises it (:func:`_raise_failure`)."""

    project: Project | None = None
    failure: str = ""

    def _open(self, store: WorkerStore | None) -> None:
        if store is not None:
            try:
                self.project = store.open()
            except StoreError as exc:
                self.failure = str(exc)

    def _errors(self, n: int) -> np.ndarray:
        return np.array([self.failure] * n, dtype=object)

    def __del__(self) -> None:
        if self.project is not None:
            self.project.close()


def _raise_failure(batch: dict[str, np.ndarray]) -> None:
    """Raise the :class:`StoreError` a worker met storing this batch, if any."""
    for line in batch["error"]:
        if line:
            raise StoreError(f"a Ray worker could not store its results: {line}")


# --- proposals ---------------------------------------------------------------------------


class ProposeBatches(_Writer):
    """A Ray Data worker: the proposer loaded once, a batch of ``(id, path)`` rows in.

    Without a store, each image's pickled ``(proposals, size)`` or the line saying why it
    failed goes out, for the driver to store. With one (a PostgreSQL project), the worker
    stores the batch itself with the driver's rule (:func:`store_results`) and sends only
    each image's id, its number of proposals (-1: not proposed) and the line saying why.
    """

    def __init__(self, spec: ProposalSpec, cpus: float, store: WorkerStore | None = None) -> None:
        _threads(cpus)
        self.maker = ProposalMaker(spec)
        self._open(store)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = [int(i) for i in batch["id"]]
        if self.failure:  # no project to store in: nothing worth proposing
            return _stored([Outcome(i, "") for i in ids], [""] * len(ids), self._errors(len(ids)))
        outcomes = self.maker(ids, [str(p) for p in batch["path"]])
        if self.project is not None:
            try:
                problems = store_results(self.project, outcomes, self.maker.spec.model_version_id)
            except StoreError as exc:
                self.failure = str(exc)
                problems = [""] * sum(o.result is None for o in outcomes)
            return _stored(outcomes, problems, self._errors(len(outcomes)))
        return {
            "id": np.array([o.image_id for o in outcomes], dtype=np.int64),
            "path": np.array([o.path for o in outcomes], dtype=object),
            "result": np.array(
                [
                    b"" if o.result is None else pickle.dumps((o.result.proposals, o.result.size))
                    for o in outcomes
                ],
                dtype=object,
            ),
            "problem": np.array([o.problem or "" for o in outcomes], dtype=object),
        }


def _stored(
    outcomes: list[Outcome], problems: list[str], errors: np.ndarray
) -> dict[str, np.ndarray]:
    """A batch a worker stored, summed up for the driver (``problems`` are
    :func:`store_results`' lines, one per image without a result, in order; ``errors``
    the worker's :attr:`_Writer.failure` per image)."""
    lines = iter(problems)
    return {
        "error": errors,
        "id": np.array([o.image_id for o in outcomes], dtype=np.int64),
        "boxes": np.array(
            [-1 if (n := stored_count(o)) is None else n for o in outcomes], dtype=np.int64
        ),
        "problem": np.array(
            ["" if o.result is not None or o.held_by else next(lines) for o in outcomes],
            dtype=object,
        ),
    }


def _outcomes(batch: dict[str, np.ndarray]) -> list[Outcome]:
    from core.engine.proposals import ImageProposals

    out = []
    for i, path, result, problem in zip(
        batch["id"], batch["path"], batch["result"], batch["problem"], strict=True
    ):
        outcome = Outcome(int(i), str(path), problem=str(problem) or None)
        if result:
            proposals, size = pickle.loads(result)
            outcome.result = ImageProposals(proposals, np.zeros((0, 0), np.float32), size)
        out.append(outcome)
    return out


def propose_on_ray(
    project: Project,
    spec: ProposalSpec,
    cluster: Cluster,
    batch_size: int = defaults.BATCH_SIZE,
    after_batch: BatchDone | None = None,
) -> ProposeReport:
    """Propose the project's pending images on Ray, stored batch by batch (by the driver
    as each batch arrives for an SQLite file; by the workers for a PostgreSQL project), so
    an interrupted run keeps what was stored and a new run does the rest.

    ``after_batch`` returning True stops the run after that batch; on PostgreSQL the
    workers may have stored a few more batches by then (Ray Data runs ahead of the driver),
    which the report does not count and a new run does not redo."""
    import ray.data

    pending = pending_images(project, spec.model_version_id)
    report = ProposeReport(pending=len(pending))
    if not pending:
        return report
    spec = ProposalSpec(**{**spec.__dict__, "device": cluster.device})
    store = worker_store(project)
    items = [{"id": i, "path": str(project.root / p)} for i, p in pending]
    dataset = ray.data.from_items(items, override_num_blocks=_blocks(len(items), batch_size))
    results = dataset.map_batches(
        ProposeBatches,
        fn_constructor_kwargs={"spec": spec, "cpus": cluster.cpus_per_worker, "store": store},
        batch_size=batch_size,
        batch_format="numpy",
        **_pool(cluster),
    )
    for batch in results.iter_batches(batch_size=batch_size, batch_format="numpy"):
        if store is None:
            outcomes = _outcomes(batch)
            report.add(outcomes, store_results(project, outcomes, spec.model_version_id))
        else:
            _raise_failure(batch)
            report.add_counts(
                (None if n == -1 else int(n) for n in batch["boxes"]),
                (str(line) for line in batch["problem"] if line),
            )
        if after_batch is not None and after_batch(len(batch["id"])):
            break
    return report


def _blocks(count: int, batch_size: int) -> int:
    return max(1, math.ceil(count / batch_size))


# --- image scores ------------------------------------------------------------------------


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
        _threads(cpus)
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


class ScoreBatches(_Writer):
    """Pass 2 worker: a batch of images → scores against the references (put in the
    object store once; every worker reads them once). With a store (a PostgreSQL project)
    the worker also stores the batch's scores, in one transaction."""

    def __init__(
        self, spec: ProposalSpec, cpus: float, shared: list, store: WorkerStore | None = None
    ) -> None:
        import ray

        _threads(cpus)
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
            items, override_num_blocks=_blocks(len(items), batch_size)
        ).map_batches(
            SumBatches,
            fn_constructor_kwargs=constructor,
            batch_size=batch_size,
            batch_format="numpy",
            **_pool(cluster),
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
    scored = ray.data.from_items(rows_in, override_num_blocks=_blocks(n, batch_size)).map_batches(
        ScoreBatches,
        fn_constructor_kwargs={**constructor, "shared": shared, "store": store},
        batch_size=batch_size,
        batch_format="numpy",
        **_pool(cluster),
    )
    for batch in scored.iter_batches(batch_size=batch_size, batch_format="numpy"):
        _raise_failure(batch)
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
