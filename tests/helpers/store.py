"""Helpers shared by the project-store tests (test_store_*.py)."""

from __future__ import annotations

from core.store import Project


def image_id(project: Project, path: str = "a.jpg") -> int:
    project.register_images([path])
    row = project.image_by_path(path)
    assert row is not None
    return row.id
