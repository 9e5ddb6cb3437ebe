"""mypy (settings in pyproject.toml's ``[tool.mypy]``) finds no error in ``core/``,
``ui/`` or ``desktop_app/``."""

from __future__ import annotations

import os
from pathlib import Path

from mypy import api

from tests.helpers.paths import ROOT

CHECKED = ["core", "ui", "desktop_app"]


def test_mypy_finds_no_error():
    cwd = Path.cwd()
    os.chdir(ROOT)  # mypy reads [tool.mypy] from pyproject.toml in the working folder
    try:
        out, err, status = api.run([*CHECKED, "--no-incremental"])
    finally:
        os.chdir(cwd)
    assert status == 0, out + err
