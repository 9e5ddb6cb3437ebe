"""Accepts per second with 1, 2 and 4 concurrent writer processes, on SQLite and PostgreSQL.

Usage: ``python -m bench.writers [--images 400] [--boxes 5] [--writers 1,2,4]
[--backends sqlite,postgresql] [--db URL] [--durable]``. Each run gets a fresh project of
``--images`` images with ``--boxes`` unclassified proposals each. Every writer is its own
process (spawned) with its own project, connections and user name ``writer-k``, and takes a
disjoint slice of the images: per image it reads the boxes, accepts each proposal in its own
call (one transaction, as the app does) and marks the image done. The writers start at a
barrier; the wall time runs from the first start to the last finish and includes those reads
and ``set_status`` writes. Latency is that of one ``accept_box`` call. Each run is checked:
every proposal accepted exactly once (box states, ``accept`` events), every image done.

PostgreSQL is a throw-away server from ``tests.helpers.postgres``, whose test settings turn
fsync, synchronous_commit and full_page_writes off (pytest-postgresql's executor passes ``-F``,
fsync off, too); ``--durable`` starts it durable instead (all three on, as SQLite's
``synchronous=FULL`` is); the settings the server runs with are printed. ``--db`` names an existing
server (a URL of a database the benchmark may create databases next to) instead.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select

from core.store import Project
from core.store.models import Box, Event, Image
from core.store.rows import BoxSpec

CLASSES = ("cat", "dog", "bird")
#: (backend, writers, figures of the run)
Row = tuple[str, int, dict[str, Any]]


def _writer(
    location: str, root: str, user: str, image_ids: list[int], barrier: Any, out: Any
) -> None:
    """One writer process: accept every proposal of ``image_ids``, then report its timings."""
    try:
        project = Project.open(location, root=root, user=user)
        latencies: list[float] = []
        barrier.wait(timeout=120)
        start = time.monotonic()
        for image_id in image_ids:
            for box in project.box_records.boxes(image_id, ["proposed"]):
                began = time.monotonic()
                project.box_records.accept_box(box.id, class_name=CLASSES[box.id % 3])
                latencies.append(time.monotonic() - began)
            project.set_status(image_id, "done")
        out.put((user, start, time.monotonic(), latencies))
        project.close()
    except BaseException as exc:  # the parent fails loudly with it
        out.put((user, None, None, repr(exc)))
        raise


def _fill(location: str, root: str, images: int, boxes: int) -> list[int]:
    """A fresh project at ``location``: images with unclassified proposals; their ids."""
    with Project.open(location, root=root, user="setup") as project:
        project.class_records.add_classes(CLASSES)
        project.register_images(f"img_{i:06d}.jpg" for i in range(images))
        ids = [row.id for row in project.images()]
        proposal = {"origin": "proposal", "state": "proposed", "hint": "Arctic fox"}
        for image_id in ids:
            specs = [BoxSpec(None, (k, 10, 50 + k, 60), **proposal) for k in range(boxes)]
            project.box_records.add_boxes(image_id, specs)
    return ids


def _check(location: str, root: str, expected: int, images: int) -> str:
    """What the run left, as one line; SystemExit unless every proposal was accepted once."""
    with Project.open(location, root=root) as project, project.engine.connect() as c:
        states = dict(c.execute(select(Box.state, func.count()).group_by(Box.state)).all())
        accepts = select(func.count(), func.count(func.distinct(Event.box_id)))
        events, distinct = c.execute(accepts.where(Event.action == "accept")).one()
        done = c.scalar(select(func.count()).where(Image.status == "done"))
    line = f"boxes {states}, accept events {events} ({distinct} boxes), images done {done}/{images}"
    if (states, events, distinct, done) != ({"accepted": expected}, expected, expected, images):
        raise SystemExit(f"CHECK FAILED: expected {expected} accepted once each; {line}")
    return "ok: " + line


def _run(location: str, root: str, writers: int, args: argparse.Namespace) -> dict[str, Any]:
    """Fill a fresh project, run ``writers`` processes on it, check it; the figures."""
    ids = _fill(location, root, args.images, args.boxes)
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(writers), ctx.Queue()
    procs = [
        ctx.Process(
            target=_writer, args=(location, root, f"writer-{k}", ids[k::writers], barrier, out)
        )
        for k in range(writers)
    ]
    load = os.getloadavg()[0]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    if failed := [r for r in results if r[1] is None]:
        raise SystemExit(f"writer failed: {failed}")
    wall = max(r[2] for r in results) - min(r[1] for r in results)
    latencies = sorted(x for r in results for x in r[3])
    return {
        "accepts": len(latencies),
        "wall": wall,
        "rate": len(latencies) / wall,
        "per_writer": statistics.mean(len(r[3]) / (r[2] - r[1]) for r in results),
        "p50": latencies[len(latencies) // 2] * 1e3,
        "p95": latencies[int(len(latencies) * 0.95)] * 1e3,
        "load": load,
        "check": _check(location, root, args.images * args.boxes, args.images),
    }


def _conninfo(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as psycopg takes it."""
    return url.replace("postgresql+psycopg://", "postgresql://")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400, help="images per project")
    parser.add_argument("--boxes", type=int, default=5, help="proposals per image")
    parser.add_argument("--writers", default="1,2,4", help="writer process counts to run")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite and/or postgresql")
    parser.add_argument("--db", help="an existing PostgreSQL database URL to use instead")
    parser.add_argument("--durable", action="store_true", help="test server with fsync on")
    args = parser.parse_args()
    counts = [int(n) for n in args.writers.split(",")]
    backends = args.backends.split(",")

    cores = len(os.sched_getaffinity(0))
    print(f"CPUs: {os.cpu_count()} ({cores} usable); load average: {os.getloadavg()}")
    print(
        f"{args.images} images x {args.boxes} proposals: {args.images * args.boxes} accepts a run"
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="salibox-writers-") as tmp:
        root = Path(tmp) / "images"
        root.mkdir()
        if "sqlite" in backends:
            print(f"SQLite: WAL, synchronous=FULL (fsync at every commit), file in {tmp}")
            for n in counts:
                rows.append(("sqlite", n, _run(f"{tmp}/w{n}.db", str(root), n, args)))
        if "postgresql" in backends:
            rows += _postgres(args, counts, str(root))
    head = ("backend", "writers", "accepts", "wall s", "accepts/s", "/s each", "p50 ms", "p95 ms")
    print("\n" + "".join(f"{h:>10}" for h in head) + "   load")
    for backend, n, r in rows:
        figures = f"{r['accepts']:>10}{r['wall']:>10.2f}{r['rate']:>10.0f}{r['per_writer']:>10.0f}"
        print(f"{backend:>10}{n:>10}{figures}{r['p50']:>10.2f}{r['p95']:>10.2f}{r['load']:>7.2f}")
    for backend, n, r in rows:
        print(f"check {backend} x{n}: {r['check']}")
    print(f"load average after: {os.getloadavg()}")


def _postgres(args: argparse.Namespace, counts: list[int], root: str) -> list[Row]:
    """The PostgreSQL runs, each in a new database: on ``--db``'s server or a throw-away one."""
    from tests.helpers import postgres as helper

    server = None
    if not args.db:
        if reason := helper.missing():
            raise SystemExit(f"PostgreSQL: {reason}")
        if args.durable:  # the helper reads FAST at the start; -c fsync=on undoes the -F
            helper.FAST = "-c fsync=on -c max_connections=200"
        server = helper.start_server()
    admin_url = args.db or server.url("postgres")  # type: ignore[union-attr]
    base, rows = admin_url.rsplit("/", 1)[0], []
    try:
        with psycopg.connect(_conninfo(admin_url), autocommit=True) as admin:
            names = ("fsync", "synchronous_commit", "full_page_writes")
            shown = [f"{n}={admin.execute(f'SHOW {n}').fetchone()[0]}" for n in names]  # type: ignore[index]
            print(f"PostgreSQL: {base} with {', '.join(shown)}")
            for n in counts:
                name = f"salibox_bench_writers_{n}"
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {name}")
                try:
                    rows.append(("postgresql", n, _run(f"{base}/{name}", root, n, args)))
                finally:
                    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        if server is not None:
            server.stop()
    return rows


if __name__ == "__main__":
    main()
