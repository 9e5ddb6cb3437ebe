"""``--db URL`` for ``import``, ``propose --project``, ``score`` and ``export``, as for
``train`` and the app: the URL is the project's database and ``--project`` (``--images``
for an import) the user's folder of its images. Real argparse, a real project in an
SQLite file named by URL and in a PostgreSQL database (skipped without a server)."""

from __future__ import annotations

import json

import pytest

from core.store import Project
from desktop_app.cli.main import build_parser, main
from tests.helpers.training import write_blob

URL = "postgresql+psycopg://annotator@db.example/salibox"


@pytest.mark.parametrize(
    "argv",
    [
        ["import", "--images", "pics"],
        ["propose", "--project", "pics"],
        ["score", "--project", "pics"],
        ["export", "--project", "pics", "--format", "coco", "--out", "out"],
        ["train", "--project", "pics"],
    ],
    ids=lambda argv: argv[0],
)
def test_each_project_command_takes_db(argv):
    parser = build_parser()
    assert parser.parse_args(argv).db is None
    assert parser.parse_args([*argv, "--db", URL]).db == URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path) -> str:
    """A URL naming an empty database: a new SQLite file, or a PostgreSQL one at head."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared' / 'project.db'}"
    return request.getfixturevalue("postgres_server").clean_database()


def test_import_propose_score_and_export_on_the_database_the_url_names(
    folder, tmp_path, database, capsys
):
    boxes = {f"blob{seed}.png": write_blob(folder / f"blob{seed}.png", seed) for seed in range(3)}
    assert main(["import", "--images", str(folder), "--db", database]) == 0
    assert "3 images found, 3 new" in capsys.readouterr().out
    assert not Project.default_db_path(folder).exists()  # nothing in the folder's default
    with Project.open(database, folder) as project:
        assert project.root == folder.resolve()
        first = project.image_by_path("blob0.png").id
        project.box_records.add_box(first, "blob", boxes["blob0.png"])
        project.set_status(first, "done")

    shared = ["--project", str(folder), "--db", database]
    assert main(["propose", *shared, "--batch-size", "2", "--json"]) == 0
    proposed = json.loads(capsys.readouterr().out)
    assert (proposed["pending"], proposed["proposed"]) == (2, 2)
    assert main(["score", *shared, "--json", "--limit", "3"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert (scored["images"], scored["scored"], scored["labelled"]) == (3, 3, 1)
    out = tmp_path / "coco"
    assert main(["export", *shared, "--format", "coco", "--out", str(out)]) == 0
    assert "1 images, 1 boxes" in capsys.readouterr().out
    assert [
        i["file_name"] for i in json.loads((out / "annotations.json").read_text())["images"]
    ] == ["blob0.png"]
    with Project.open(database, folder) as project:
        assert [r.status for r in project.images()] == ["done", "proposed", "proposed"]
        assert all(r.image_score is not None for r in project.images())
    assert not Project.default_db_path(folder).exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["score", "--project", "{file}", "--db", "{url}"], "with --db, give the folder"),
        (
            ["export", "--project", "{file}", "--db", "{url}", "--format", "yolo", "--out", "x"],
            "with --db, give the folder",
        ),
        (["propose", "--project", "{file}", "--db", "{url}"], "with --db, give the folder"),
        (["propose", "{file}", "--db", "{url}"], "--db needs --project"),
        (
            ["import", "--images", "{folder}", "--project", "{file}", "--db", "{url}"],
            "with --db, give the folder",
        ),
    ],
    ids=["score", "export", "propose", "propose-paths", "import"],
)
def test_db_with_a_file_for_the_folder_is_one_line_and_status_2(
    folder, tmp_path, argv, needle, capsys
):
    image = folder / "blob0.png"
    write_blob(image, 0)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    values = {"file": str(image), "url": url, "folder": str(folder)}
    assert main([a.format(**values) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err
    assert not (tmp_path / "shared.db").exists()  # refused before anything was opened
