"""Two processes reviewing one project at once (tests/helpers/reviewer.py, each as the app
reviews: claim the next image, accept on the version read, done, let go), on an SQLite
file and on a PostgreSQL database: no image is reviewed twice, no box is lost, and every
conflicting change of the one image both edit without a claim is either saved or refused
with StaleBoxError, never silently overwritten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from core.store import Project
from core.store.models import State

IMAGES, PROPOSALS = 40, 3
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request, tmp_path) -> tuple[str, Path, int]:
    """A project of :data:`IMAGES` images with :data:`PROPOSALS` proposals each, and one
    more image ("contested") with one box: its location, folder and the contested id."""
    folder = tmp_path / "cells"
    folder.mkdir()
    if request.param == "sqlite":
        location = str(Project.default_db_path(folder))
    else:
        location = request.getfixturevalue("postgres_server").clean_database()
    with Project.open(location, folder, user="setup") as project:
        project.register_images([f"c{i:03d}.jpg" for i in range(IMAGES)] + ["contested.jpg"])
        for row in project.images():
            if row.path == "contested.jpg":
                project.box_records.add_box(row.id, "cell", (0, 0, 20, 20))
                contested = row.id
                continue
            for k in range(PROPOSALS):
                project.box_records.add_box(
                    row.id, None, (k, k, k + 9, k + 9), origin="proposal", state="proposed"
                )
            project.set_status(row.id, "proposed")
    return location, folder, contested


def test_two_reviewers_never_review_one_image_twice_and_lose_nothing(shared, tmp_path):
    location, folder, contested = shared
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = {}
    for user in ("ann", "ben"):
        out = tmp_path / f"{user}.json"
        command = [sys.executable, "-m", "tests.helpers.reviewer", location, str(folder), user]
        runs[user] = (subprocess.Popen([*command, str(contested), str(out)], env=env), out)
    for process, out in runs.values():  # both opened the project: start together
        while not out.with_suffix(".ready").exists():
            assert process.poll() is None, "a reviewer ended before it started"
            time.sleep(0.01)
    (tmp_path / "go").touch()
    for user, (process, _out) in runs.items():
        assert process.wait(timeout=300) == 0, f"{user}'s reviewer failed"
    did = {user: json.loads(out.read_text()) for user, (_p, out) in runs.items()}

    with Project.open(location, folder, user="check") as project:
        reviewed = [set(d["reviewed"]) for d in did.values()]
        everything = {r.id for r in project.images()} - {contested}
        assert reviewed[0].isdisjoint(reviewed[1])  # no image reviewed twice
        assert reviewed[0] | reviewed[1] == everything
        assert all(reviewed)  # both did part of the work
        assert {r.status for r in project.images() if r.id != contested} == {"done"}
        # No box lost: every proposal is there, accepted once, by the one who held it.
        boxes = [b for image in everything for b in project.box_records.boxes(image)]
        assert len(boxes) == IMAGES * PROPOSALS
        assert {b.state for b in boxes} == {State.ACCEPTED}
        events = project.box_records.events()
        accepts = Counter(e["box_id"] for e in events if e["action"] == "accept")
        assert set(accepts.values()) == {1} and set(accepts) == {b.id for b in boxes}
        holder = {image: user for user, d in did.items() for image in d["reviewed"]}
        assert all(
            e["user_name"] == holder[e["image_id"]] for e in events if e["action"] == "accept"
        )
        assert project.claim_records.held_by_others() == {}  # both let go
        # The contested box: every edit saved or refused, none overwritten unseen: each
        # version was edited from once at most (two saves on one version = a lost update).
        saved_on = sorted(v for d in did.values() for v in d["saved_on"])
        refused = [v for d in did.values() for v in d["refused"]]
        assert len(saved_on) + len(refused) == len(everything)  # one try after each image
        (box,) = project.box_records.boxes(contested)
        assert saved_on == list(range(1, box.version))
        edits = [e for e in events if e["image_id"] == contested and e["action"] == "edit"]
        assert len(edits) == len(saved_on)
        assert refused and all(v < box.version for v in refused)  # conflicts, each reported
