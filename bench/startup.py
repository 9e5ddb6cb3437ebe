"""Startup, close and ranking of the real app process, under a real X display.

Usage::

    python -m bench.startup [--runs 3] [--images 200] [--ranking]

Starts ``python main.py FOLDER`` as a subprocess on a private Xvfb display (or, with
``--shared-display``, on ``$DISPLAY``) and times, from the moment the process
is launched:

- ``window``: the main window is mapped (``xdotool search --onlyvisible``), and, when the
  app writes them, the events of ``SALIBOX_TIMINGS`` (see :mod:`desktop_app.timings`):
  ``window_shown`` (first paint), ``project_open``, ``first_proposals`` (the image on
  screen shows proposals);
- ``proposals (db)``: the first image (by path, the one on screen) has proposals in the
  project database (polled; for apps that write no timings);
- ``close``: from Ctrl+Q (``xdotool key`` on the focused window) to the process's exit,
  while proposals are being made.

Cold runs open a new folder of ``--images`` raccoon photos (copied from
``../shared/datasets/raccoon/images``; new project, import, every image to propose);
warm runs reopen the folder of the last cold run. Medians over ``--runs``.

``--ranking`` also times ranking by image score on the same images: ``python main.py
score --project FOLDER`` (a subprocess, load included) against the app's
:class:`~desktop_app.background.jobs.ScoreJob` in the real worker thread (load included),
with every image queued for proposals first as in the app just after opening, each
with and without the references file left by an earlier run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RACCOON = ROOT.parent / "shared" / "datasets" / "raccoon" / "images"
TIMEOUT = 120.0


def ensure_display(own: bool) -> subprocess.Popen | None:
    """With ``own``, start a private Xvfb on a free display and point ``$DISPLAY`` at it
    (other programs on a shared display cost time and connections); else use
    ``$DISPLAY`` (``:99``), starting Xvfb there unless an X server answers."""
    if own:
        read, write = os.pipe()
        server = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-noreset", "-screen", "0", "1400x1000x24"],
            pass_fds=(write,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write)
        with os.fdopen(read) as pipe:
            os.environ["DISPLAY"] = f":{pipe.readline().strip()}"
        return server
    os.environ.setdefault("DISPLAY", ":99")
    if subprocess.run(["xdpyinfo"], capture_output=True).returncode == 0:
        return None
    server = subprocess.Popen(
        ["Xvfb", os.environ["DISPLAY"], "-screen", "0", "1400x1000x24"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    return server


def make_folder(parent: Path, count: int) -> Path:
    folder = parent / f"images-{time.monotonic_ns()}"
    folder.mkdir()
    for path in sorted(RACCOON.glob("*.jpg"))[:count]:
        shutil.copy2(path, folder / path.name)
    return folder


def visible_window(pid: int) -> str | None:
    out = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--pid", str(pid), "--name", "SaliBox"],
        capture_output=True,
        text=True,
    ).stdout.split()
    return out[0] if out else None


def first_image_has_proposals(folder: Path) -> bool:
    db = folder / ".salibox" / "project.db"
    if not db.is_file():
        return False
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1) as con:
            row = con.execute(
                "SELECT COUNT(*) FROM box WHERE image_id = "
                "(SELECT id FROM image ORDER BY path LIMIT 1)"
            ).fetchone()
        return bool(row and row[0])
    except sqlite3.Error:
        return False


def read_timings(path: Path) -> dict[str, float]:
    events: dict[str, float] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2:
                events.setdefault(parts[0], float(parts[1]))
    return events


def run_app(folder: Path, timings: Path) -> dict[str, float]:
    """One start of the app on ``folder``: the seconds of each event, and the close."""
    timings.unlink(missing_ok=True)
    env = {**os.environ, "SALIBOX_TIMINGS": str(timings)}
    env.pop("QT_QPA_PLATFORM", None)
    start = time.perf_counter()
    app = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), str(folder)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    figures: dict[str, float] = {}
    window = None
    try:
        while time.perf_counter() - start < TIMEOUT:
            now = time.perf_counter() - start
            if window is None and (window := visible_window(app.pid)) is not None:
                figures["window (xdotool)"] = now
            if "proposals (db)" not in figures and first_image_has_proposals(folder):
                figures["proposals (db)"] = now
            events = read_timings(timings)
            if window is not None and "proposals (db)" in figures:
                # An app that writes timings: wait for its first_proposals too.
                if "first_proposals" in events:
                    break
                if not events and time.perf_counter() - start > figures["proposals (db)"] + 5:
                    break  # an app that writes no timings
            if app.poll() is not None:
                error = app.stderr.read().decode() if app.stderr else ""
                raise RuntimeError(f"the app ended early ({app.returncode}): {error}")
            time.sleep(0.02)
        figures.update(read_timings(timings))
        time.sleep(1.0)  # proposals go on in the background: close while they run
        closing = time.perf_counter()
        if window is not None:
            # No window manager under Xvfb: focus the window and press Ctrl+Q (XTEST).
            subprocess.run(["xdotool", "windowfocus", "--sync", window], capture_output=True)
            subprocess.run(["xdotool", "key", "ctrl+q"], capture_output=True)
        app.wait(timeout=60)
        figures["close"] = time.perf_counter() - closing
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
    return figures


def report(title: str, runs: list[dict[str, float]]) -> None:
    print(f"{title} ({len(runs)} runs, medians in seconds)")
    names = sorted(
        {k for r in runs for k in r}, key=lambda k: statistics.median(r[k] for r in runs if k in r)
    )
    for name in names:
        values = [r[name] for r in runs if name in r]
        each = " ".join(f"{v:.2f}" for v in values)
        print(f"  {name:24s} {statistics.median(values):6.2f}   ({each})")


def rank_cli(folder: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "score", "--project", str(folder)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def rank_app(folder: Path) -> float:
    """The app's ScoreJob in the real worker thread, with every image queued for proposals
    (as just after opening), from the submission to its end."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    code = (
        "import sys, time\n"
        "from PySide6.QtCore import QCoreApplication\n"
        "from core.store import Project\n"
        "from desktop_app.background.jobs import ProposeJob, ScoreJob\n"
        "from desktop_app.background.worker_thread import start_worker, stop_worker\n"
        "app = QCoreApplication([])\n"
        "db = Project.default_db_path(sys.argv[1])\n"
        "with Project.open(db) as p:\n"
        "    jobs = [ProposeJob(r.id, p.root / r.path, True) for r in p.images()]\n"
        "start = time.perf_counter()\n"
        "thread, worker = start_worker(db)\n"
        "worker.submit(jobs)\n"
        "job = ScoreJob()\n"
        "worker.submit_task(job)\n"
        "done = []\n"
        "worker.task_finished.connect(lambda t: done.append(time.perf_counter()))\n"
        "while not done:\n"
        "    app.processEvents()\n"
        "    time.sleep(0.01)\n"
        "assert job.error is None, job.error\n"
        "print(done[0] - start)\n"
        "worker.cancel()\n"
        "stop_worker(thread, worker)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(folder)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(out.split()[-1])


def drop_references(folder: Path) -> None:
    for path in (folder / ".salibox").glob("*.references-*.pt"):
        path.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--ranking", action="store_true", help="also time ranking")
    parser.add_argument("--no-startup", action="store_true", help="only the ranking")
    parser.add_argument(
        "--shared-display", action="store_true", help="use $DISPLAY, not a private Xvfb"
    )
    args = parser.parse_args()
    server = ensure_display(not args.shared_display)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            parent = Path(tmp)
            timings = parent / "timings.txt"
            folder = make_folder(parent, args.images)
            if not args.no_startup:
                run_app(folder, timings)  # once unmeasured: the disk cache holds the files
                cold, warm = [], []
                for _ in range(args.runs):
                    folder = make_folder(parent, args.images)
                    cold.append(run_app(folder, timings))
                for _ in range(args.runs):
                    warm.append(run_app(folder, timings))
                print(f"{args.images} images, {os.cpu_count()} CPUs")
                report("cold: a new folder", cold)
                report("warm: the same folder reopened", warm)
            if args.ranking:
                if args.no_startup:  # a project to rank
                    subprocess.run(
                        [sys.executable, str(ROOT / "main.py"), "import", "--images", str(folder)],
                        cwd=ROOT,
                        check=True,
                        capture_output=True,
                    )
                rows = []
                for _ in range(args.runs):
                    drop_references(folder)
                    cli_cold = rank_cli(folder)
                    cli_warm = rank_cli(folder)
                    drop_references(folder)
                    app_cold = rank_app(folder)
                    app_warm = rank_app(folder)
                    rows.append((cli_cold, app_cold, cli_warm, app_warm))
                med = [statistics.median(r[i] for r in rows) for i in range(4)]
                print(f"ranking {args.images} images ({args.runs} runs, medians in seconds)")
                print(
                    f"  no references file:  CLI {med[0]:6.2f}  app {med[1]:6.2f}"
                    f"  ({med[1] / med[0] - 1:+.0%})"
                )
                print(
                    f"  references kept:     CLI {med[2]:6.2f}  app {med[3]:6.2f}"
                    f"  ({med[3] / med[2] - 1:+.0%})"
                )
    finally:
        if server is not None:
            server.terminate()
            server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
