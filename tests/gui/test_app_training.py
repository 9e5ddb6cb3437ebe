"""Fine-tuning from the app: the retrain trigger after N accepted boxes, and switching the
model version in Tools → Model versions…; real widgets, worker, backbone and SQLite."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.learning.model import LearnedModel
from desktop_app.project_settings import DEFAULTS
from tests.helpers.training import write_blob

LONG = 120_000  # ms: the first job also loads the network


pytestmark = pytest.mark.usefixtures("isolated_settings")


@pytest.fixture
def blobs(tmp_path) -> tuple:
    folder = tmp_path / "blobs"
    folder.mkdir()
    return folder, [write_blob(folder / f"b{i}.png", seed=i) for i in range(6)]


def methods_of(session, status: str) -> set[str | None]:
    project = session.project
    return {
        b.method for r in project.images(status=status) for b in project.box_records.boxes(r.id)
    }


def all_proposed(session) -> bool:
    return all(r.status == "proposed" for r in session.project.images())


def test_accepting_n_boxes_trains_a_version_that_then_proposes(qtbot, session, blobs):
    folder, boxes = blobs
    assert session.open(str(folder))
    worker = session.worker
    chosen = replace(DEFAULTS, retrain_after=3, align_saliency=True, pseudo_labels=True)
    session.apply_settings(chosen)
    assert session.worker is worker  # only how to train changed: no restart
    assert session.controller.jobs.trainer.retrain_after() == 3
    assert session.settings().align_saliency
    qtbot.waitUntil(lambda: all_proposed(session), timeout=LONG)
    controller = session.controller
    controller.edits.set_class("blob")  # what typing "blob" and Return in the class field does

    for index in range(3):
        controller.show_index(index)
        assert not controller.jobs.trainer.queued
        controller.edits.add_drawn_box(boxes[index])
    assert controller.jobs.trainer.queued
    qtbot.waitUntil(
        lambda: session.project.learning_records.active_model_version() is not None, timeout=LONG
    )

    version = session.project.learning_records.active_model_version()
    assert version.classes == ("blob",) and version.metrics["accepted_boxes"] == 3
    assert "saliency_alignment" in version.metrics  # the settings reached the train job
    assert session.project.learning_records.training_runs()[0].params["include_unverified"]
    qtbot.waitUntil(lambda: not controller.jobs.trainer.queued, timeout=LONG)
    chosen = version.metrics["classes"]["blob"]["choice"]
    # The three unreviewed images are proposed again, by the user's class, with the model.
    qtbot.waitUntil(lambda: methods_of(session, "proposed") == {chosen}, timeout=LONG)
    unreviewed = session.project.images(status="proposed")
    assert len(unreviewed) == 3
    proposed = [b for r in unreviewed for b in session.project.box_records.boxes(r.id)]
    # The model names a user class, never an ImageNet one; below even odds only as a hint.
    assert {(b.class_name, b.hint) for b in proposed} <= {("blob", None), (None, "blob")}
    assert all((b.class_name is not None) == (b.confidence >= 0.5) for b in proposed)
    controller.show_index(3)
    controller.edits.add_drawn_box(boxes[3])
    assert not controller.jobs.trainer.queued  # 1 new box since the version: not yet


def test_switching_the_model_version_in_the_dialog_proposes_again(qtbot, session, blobs):
    folder, _boxes = blobs
    assert session.open(str(folder))
    qtbot.waitUntil(lambda: all_proposed(session), timeout=LONG)
    assert methods_of(session, "proposed") == {"default"}
    project = session.project
    path = project.db_path.parent / "models" / "plain.pt"
    LearnedModel("efficientnet_lite0", None, {}, {"images": 0}).save(path)
    version = project.learning_records.add_model_version(
        path, "efficientnet_lite0", [], {"images": 0}
    )

    session.window.versions_action.trigger()
    dialog = session.versions.dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 0).text() == str(version)
    assert not dialog.use_button.isEnabled() and not dialog.none_button.isEnabled()
    dialog.select_version(version)
    assert dialog.use_button.isEnabled()
    dialog.use_button.click()

    assert project.learning_records.active_model_version().id == version
    assert not dialog.use_button.isEnabled() and dialog.none_button.isEnabled()
    shown = session.controller.current_id()
    before = project.box_records.boxes(shown)

    def others() -> set[str | None]:  # the images not on screen
        on_screen = session.controller.current_id()
        rows = [r for r in project.images(status="proposed") if r.id != on_screen]
        return {b.method for r in rows for b in project.box_records.boxes(r.id)}

    qtbot.waitUntil(lambda: others() == {"recipe:default"}, timeout=LONG)
    assert all_proposed(session)
    # The image on screen keeps its boxes while it is shown; once left, it is proposed too.
    assert project.box_records.boxes(shown) == before
    session.window.navigate_requested.emit(1)  # what D sends
    qtbot.waitUntil(lambda: methods_of(session, "proposed") == {"recipe:default"}, timeout=LONG)

    dialog.none_button.click()
    assert project.learning_records.active_model_version() is None
    qtbot.waitUntil(lambda: others() == {"default"}, timeout=LONG)
