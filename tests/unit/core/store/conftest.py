"""The store's tests run on both backends: an SQLite file and a PostgreSQL database.

A test that takes ``project`` (or ``project_location``) runs once per backend, unless it is
marked ``sqlite_only`` (SQLite's file handling: WAL, pragmas, backups, damaged files). The
PostgreSQL variants share one server per session (``postgres_server``, tests/conftest.py)
and one database (:mod:`tests.helpers.postgres`), emptied before each test; without the
server binaries or psycopg they skip, naming what to install.
"""

from __future__ import annotations

import pytest

from core.store import Project

BACKENDS = ("sqlite", "postgresql")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "sqlite_only: a store test of SQLite's file handling, run on SQLite only"
    )


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only")
        metafunc.parametrize("backend", ["sqlite"] if only else list(BACKENDS))


@pytest.fixture
def project_location(request, backend, folder):
    """What ``Project.open`` takes for a new project of ``backend``: a file or a URL."""
    if backend == "sqlite":
        yield Project.default_db_path(folder)
        return
    yield request.getfixturevalue("postgres_server").clean_database()


@pytest.fixture
def project(project_location, folder):
    with Project.open(project_location, folder) as opened:
        yield opened
