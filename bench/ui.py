"""The app's responsiveness on a large project: open time, next-image time, memory.

Usage: ``QT_QPA_PLATFORM=offscreen python -m bench.ui [--images 100000] [--steps 200]``.
Builds a project of ``--images`` registered paths in a temporary folder (the first
``--steps + 1`` are real 640×480 JPEGs, each with three proposals and a saved 224×224
map, as the worker leaves them), opens it in the real window and presses D ``--steps``
times. Each step is timed from the key press until the next image, its boxes and its
heatmap are on the canvas and the window has processed its events.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from core.store import Project
from core.store.rows import BoxSpec
from desktop_app.background.parts import maps_folder
from desktop_app.controller import Controller
from ui.canvas.view import Canvas
from ui.main_window import MainWindow


def build(folder: Path, images: int, real: int) -> Path:
    """A project with ``images`` registered paths, the first ``real`` of them on disk."""
    rng = np.random.default_rng(0)
    db = Project.default_db_path(folder)
    with Project.open(db, folder) as project:
        paths = [f"batch {i // 1000:03d}/image {i:06d}.jpg" for i in range(images)]
        project.register_images(paths)
        maps = maps_folder(db)
        maps.mkdir(parents=True, exist_ok=True)
        for path in paths[:real]:
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / path, quality=85)
            row = project.image_by_path(path)
            boxes = [
                BoxSpec(
                    None,  # zero-shot: the network's guess is a hint
                    (50.0 + 40 * k, 60.0, 300.0 + 40 * k, 400.0),
                    origin="proposal",
                    state="proposed",
                    confidence=0.5,
                    hint="thing",
                )
                for k in range(3)
            ]
            project.box_records.add_boxes(row.id, boxes)
            project.set_status(row.id, "proposed")
            heat = rng.random((224, 224)).astype(np.float16)
            np.save(maps / f"{row.id}.npy", heat)
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        db = build(Path(tmp), args.images, args.steps + 1)
        print(f"built a {args.images:,}-image project in {time.perf_counter() - start:.1f} s")
        maps = maps_folder(db)

        def saliency(image_id: int):
            path = maps / f"{image_id}.npy"
            return np.load(path).astype(np.float32) if path.exists() else None

        start = time.perf_counter()
        project = Project.open(db)
        window = MainWindow()
        canvas = Canvas()
        window.set_canvas(canvas)
        window.resize(1280, 800)
        window.show()
        controller = Controller(project, window, canvas, saliency=saliency)
        app.processEvents()
        opened = time.perf_counter() - start
        steps = []
        for _ in range(args.steps):
            before = controller.current_id()
            start = time.perf_counter()
            QTest.keyClick(window, Qt.Key.Key_D)
            app.processEvents()
            steps.append(time.perf_counter() - start)
            assert controller.current_id() != before and canvas.boxes()
        window.close()
        window.deleteLater()  # Qt objects go before the interpreter shuts down
        del controller, canvas, window
        app.processEvents()
        project.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"open project and show the first image: {opened:.2f} s")
    print(
        f"D to next image with boxes and heatmap: median {statistics.median(steps) * 1000:.1f} "
        f"ms, 95th percentile {np.percentile(steps, 95) * 1000:.1f} ms over {len(steps)} steps"
    )
    print(f"peak memory (max RSS): {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
