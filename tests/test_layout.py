"""The folders keep their jobs, checked by import-linter from the contracts in
pyproject.toml (``[tool.importlinter]``): ``core/`` never imports Qt, ``ui/`` or
``desktop_app/``; ``ui/`` never imports torch or ``core/``; no import cycles inside
``core/``. Imports inside functions count too."""

from __future__ import annotations

import os
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept(capsys):
    cwd = Path.cwd()
    os.chdir(ROOT)  # import-linter reads pyproject.toml from the working folder
    try:
        status = lint_imports(no_cache=True)
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "3 kept, 0 broken" in out
