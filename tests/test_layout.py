"""The folders keep their jobs: ``core/`` never imports Qt, ``ui/`` never imports torch or
the engine (read from the source, so a lazy import inside a function counts too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("core", ("PySide6", "ui", "desktop_app")),
        ("ui", ("torch", "torchvision", "core", "desktop_app")),
    ],
)
def test_folder_does_not_import(folder, forbidden):
    offenders = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for name in imported_modules(path)
        if name.split(".")[0] in forbidden
    }
    assert not offenders, sorted(offenders)
