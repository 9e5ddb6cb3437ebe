"""A project's proposals on a Ray cluster: the pending images in a Ray Data pipeline,
proposed by :class:`ProposeBatches` workers with the in-process :class:`ProposalMaker`, and
stored batch by batch with the in-process rule (see :mod:`core.services.cluster`)."""

from __future__ import annotations

import pickle

import numpy as np

from core.engine import defaults
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


class ProposeBatches(BatchWriter):
    """A Ray Data worker: the proposer loaded once, a batch of ``(id, path)`` rows in.

    Without a store, each image's pickled ``(proposals, size)`` or the line saying why it
    failed goes out, for the driver to store. With one (a PostgreSQL project), the worker
    stores the batch itself with the driver's rule (:func:`store_results`) and sends only
    each image's id, its number of proposals (-1: not proposed) and the line saying why.
    """

    def __init__(self, spec: ProposalSpec, cpus: float, store: WorkerStore | None = None) -> None:
        set_threads(cpus)
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
    the worker's :attr:`BatchWriter.failure` per image)."""
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
    dataset = ray.data.from_items(items, override_num_blocks=blocks(len(items), batch_size))
    results = dataset.map_batches(
        ProposeBatches,
        fn_constructor_kwargs={"spec": spec, "cpus": cluster.cpus_per_worker, "store": store},
        batch_size=batch_size,
        batch_format="numpy",
        **pool(cluster),
    )
    for batch in results.iter_batches(batch_size=batch_size, batch_format="numpy"):
        if store is None:
            outcomes = _outcomes(batch)
            report.add(outcomes, store_results(project, outcomes, spec.model_version_id))
        else:
            raise_failure(batch)
            report.add_counts(
                (None if n == -1 else int(n) for n in batch["boxes"]),
                (str(line) for line in batch["problem"] if line),
            )
        if after_batch is not None and after_batch(len(batch["id"])):
            break
    return report
