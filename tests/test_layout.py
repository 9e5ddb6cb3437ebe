"""The folders keep their jobs, checked by import-linter from the contracts in
pyproject.toml (``[tool.importlinter]``): ``core/`` never imports Qt, ``ui/`` or
``desktop_app/``; ``ui/`` never imports torch or ``core/``; no import cycles inside
``core/``. Imports inside functions count too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    # In a process of its own: import-linter configures logging for its whole process.
    command = [Path(sys.executable).parent / "lint-imports", "--no-cache"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 kept, 0 broken" in done.stdout
