"""Seconds for the project store's bulk and queue operations on a large generated project.

Usage: ``python -m bench.store [--images 100000] [--rounds 3]``. Creates a temporary project,
registers generated relative paths (nested folders, unicode and spaces in names), gives 90%
of the images a random score in one bulk update, then times the queries the review queue
uses, and opening the closed project again: best of ``--rounds`` for each.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable

from core.store import Project
from core.store.database import DEFAULT_BUSY_TIMEOUT, check_intact


def _paths(count: int) -> list[str]:
    """``count`` distinct relative paths, three folders deep, some with unicode and spaces."""
    names = ("Straße", "café au lait", "дерево", "森", "plain")
    return [
        f"{names[i % 5]}/set {i // 1000:03d}/{i % 7} ünter/img_{i:07d}_{names[i % 3]}.jpg"
        for i in range(count)
    ]


def _best(run: Callable[[], object], rounds: int) -> float:
    """Best wall-clock seconds of ``rounds`` calls of ``run``."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000, help="paths to register")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of each query; best counts")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        project = Project.open(Project.default_db_path(folder), folder)
        paths = _paths(args.images)
        start = time.perf_counter()
        added = project.register_images(paths)
        figures = {f"register {added} paths": time.perf_counter() - start}
        start = time.perf_counter()
        project.register_images(paths)
        figures["register them again (0 new)"] = time.perf_counter() - start

        rng = random.Random(0)
        scores = [(i, rng.random(), rng.random()) for i in range(1, added + 1) if i % 10]
        start = time.perf_counter()
        project.set_scores(scores)
        figures[f"set {len(scores)} scores (one bulk update)"] = time.perf_counter() - start

        for descending in (True, False):
            order = "descending" if descending else "ascending"
            figures[f"images(status='new', order_by='image_score', {order}, limit=100)"] = _best(
                lambda d=descending: project.images(
                    "new", order_by="image_score", descending=d, limit=100
                ),
                args.rounds,
            )
        figures["count_images()"] = _best(project.count_images, args.rounds)
        figures["count_images('new')"] = _best(lambda: project.count_images("new"), args.rounds)
        figures["first 10,000 by path in pages of 500"] = _best(
            lambda: [project.images(limit=500, offset=o) for o in range(0, 10_000, 500)],
            args.rounds,
        )
        project.close()
        size = project.db_path.stat().st_size
        figures["open the closed project again and close it"] = _best(
            lambda: Project.open(project.db_path).close(), args.rounds
        )
        figures["of which PRAGMA quick_check (on every open)"] = _best(
            lambda: check_intact(project.db_path, DEFAULT_BUSY_TIMEOUT), args.rounds
        )

    print(f"project store, {args.images} images, best of {args.rounds} for queries")
    for name, seconds in figures.items():
        print(f"{name:<70}{seconds:>9.3f} s")
    print(f"{'database file after closing':<70}{size / 1e6:>9.1f} MB")


if __name__ == "__main__":
    main()
