"""Fixtures shared by the test modules: an image folder and a project store opened on it."""

from __future__ import annotations

import pytest

from core.store import Project


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "my images"
    path.mkdir()
    return path


@pytest.fixture
def project(folder):
    with Project.open(Project.default_db_path(folder), folder) as opened:
        yield opened
