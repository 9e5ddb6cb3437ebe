"""Running SaliBox's batch work on a Ray cluster (``salibox[cluster]``): joining the
cluster, the workers' resources, and how a worker writes to a PostgreSQL project.

The pipelines themselves are :mod:`core.services.cluster_proposals` (proposals) and
:mod:`core.services.cluster_scores` (image scores): Ray Data ``map_batches`` with a callable
class that loads the backbone once per worker (``num_gpus=1`` per worker when the cluster
has GPUs) and runs the same code as the in-process path. Results are written to the
project batch by batch: for an SQLite file by the driver (the file is on its machine;
workers send it their results), for a PostgreSQL project by the workers themselves
(:class:`WorkerStore`, :class:`BatchWriter`: each opens the project once and sends the
driver only ids, counts and why an image could not be read), so every node must then
reach the database server. Workers read the image files, which every node must reach at
the same path (``project.root``).

Ray is imported only when a run starts: the rest of SaliBox runs without it.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

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


def pool(cluster: Cluster) -> dict[str, Any]:
    """``map_batches`` options for a fixed pool of workers."""
    from ray.data import ActorPoolStrategy

    options: dict[str, Any] = {
        "compute": ActorPoolStrategy(size=cluster.workers),
        "num_cpus": cluster.cpus_per_worker,
    }
    if cluster.gpus_per_worker:
        options["num_gpus"] = cluster.gpus_per_worker
    return options


def set_threads(cluster_cpus: float) -> None:
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


class BatchWriter:
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


def raise_failure(batch: dict[str, np.ndarray]) -> None:
    """Raise the :class:`StoreError` a worker met storing this batch, if any."""
    for line in batch["error"]:
        if line:
            raise StoreError(f"a Ray worker could not store its results: {line}")


# --- proposals ---------------------------------------------------------------------------


def blocks(count: int, batch_size: int) -> int:
    return max(1, math.ceil(count / batch_size))
