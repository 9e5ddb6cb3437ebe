"""The folders keep their jobs, checked by import-linter from the contracts in
pyproject.toml (``[tool.importlinter]``): ``core/`` never imports Qt, ``ui/`` or
``desktop_app/``; ``ui/`` never imports torch or ``core/``; core's folders import only
the layers below them (evaluation, services, learning | scoring, formats, engine | store)
and have no cycles; ui's window sits over its panels, dialogs and canvas; the command line
loads no Qt; the background worker knows nothing of the window. Imports inside functions
count too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers.paths import ROOT


def test_import_contracts_are_kept():
    # In a process of its own: import-linter configures logging for its whole process.
    command = [Path(sys.executable).parent / "lint-imports", "--no-cache"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 kept, 0 broken" in done.stdout
