"""Logging: a user's bad input is one line; an unexpected exception is one line plus
"details in <log file>", with the traceback in the project's ``.salibox/salibox.log``."""

from __future__ import annotations

import logging

import pytest

from desktop_app.cli import main as cli
from desktop_app.logs import log_file_of, stop_project_log


@pytest.fixture(autouse=True)
def no_project_log():
    yield
    stop_project_log()
    for handler in list(logging.getLogger().handlers):
        if getattr(handler, "salibox_console", False):
            logging.getLogger().removeHandler(handler)


def test_a_users_mistake_is_one_line(folder, project, capsys):
    assert cli.main(["export", "--project", str(folder), "--format", "voc"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err
    assert "Traceback" not in err


def test_a_bug_is_one_line_and_its_traceback_goes_to_the_project_log(
    folder, project, capsys, monkeypatch
):
    def broken(_args):  # a fault injected where a bug would be
        raise RuntimeError("the list index went wrong")

    from desktop_app.cli import project_commands  # where main() finds the command

    monkeypatch.setattr(project_commands, "run_export", broken)
    argv = ["export", "--project", str(folder), "--format", "voc", "--out", str(folder / "x")]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    log_file = log_file_of(project.db_path)
    assert err.strip().splitlines() == [
        f"salibox: export: RuntimeError: the list index went wrong (a bug; details in {log_file})"
    ]
    logged = log_file.read_text(encoding="utf-8")
    assert "Traceback" in logged and "the list index went wrong" in logged


def test_verbose_logs_everything_to_stderr(folder, project, capsys):
    argv = ["export", "--project", str(folder), "--format", "voc", "--voc-layout", "beside"]
    assert cli.main(argv) == 0
    assert "INFO" not in capsys.readouterr().err
    assert cli.main(["--verbose", *argv]) == 0
    assert "salibox: INFO: python main.py export --project" in capsys.readouterr().err
    logged = log_file_of(project.db_path).read_text(encoding="utf-8")
    assert logged.count("INFO salibox: python main.py export") == 2  # the file gets all


def test_the_app_logs_to_the_project_and_the_errors_panel_opens_the_file(session, folder):
    from PIL import Image

    Image.new("RGB", (40, 30)).save(folder / "a.png")
    assert session.open(str(folder))
    log_file = log_file_of(session.project.db_path)
    assert session.window.open_log_button.isEnabled()
    assert session.window.open_log_button.toolTip() == str(log_file)
    session.window.show_error("x")  # the panel itself
    assert f"opened {session.project.db_path}" in log_file.read_text(encoding="utf-8")
    session.close()
    assert not session.window.open_log_button.isEnabled()
