"""bench.writers: a small run on SQLite checks out, and the check fails when it should."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bench import writers
from core.store import Project


def test_two_writers_accept_every_proposal_once(tmp_path: Path) -> None:
    args = argparse.Namespace(images=6, boxes=2)
    figures = writers._run(str(tmp_path / "p.db"), str(tmp_path), 2, args)
    assert figures["accepts"] == 12
    assert figures["check"].startswith("ok: ")


def test_check_fails_when_a_proposal_is_left(tmp_path: Path) -> None:
    db = str(tmp_path / "p.db")
    ids = writers._fill(db, str(tmp_path), 2, 2)
    with Project.open(db, root=tmp_path) as project:
        for box in project.box_records.boxes(ids[0]):
            project.box_records.accept_box(box.id, class_name="cat")
        project.set_status(ids[0], "done")
    with pytest.raises(SystemExit, match="CHECK FAILED"):
        writers._check(db, str(tmp_path), 4, 2)
