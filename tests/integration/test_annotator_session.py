"""An annotator's whole session, driven through the real window only: real key presses and
mouse events (QTest) on the widgets, the real worker thread with the embedded
EfficientNet-Lite0, a real project database, photographs from scikit-image and two files
that cannot be decoded. After every step the screen must show what the database holds.

This is the test that would have caught the app saving ImageNet names as the annotator's
classes, boxes drawn on an unreadable image, and class names made of stray shortcut keys.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox

from core.formats.voc import read_voc
from core.store import Project
from core.store.rows import BoxSpec
from ui.dialogs.export import ExportDialog
from ui.panels.classes import class_item_text
from ui.panels.image_list import status_label

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the photographs")

LONG = 180_000  # ms: the first proposals also load the network
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "hubble_deep_field", "colorwheel")
pytestmark = pytest.mark.usefixtures("isolated_settings")


@pytest.fixture
def photos(tmp_path) -> Path:
    """Six photographs and four generated scenes as JPEG and PNG, a truncated JPEG and an
    empty file: twelve files, two of them unreadable."""
    folder = tmp_path / "my photos"
    folder.mkdir()
    for i, name in enumerate(PHOTOS):
        Image.fromarray(getattr(skimage_data, name)()).save(folder / f"{i:02d} {name}.jpg")
    rng = np.random.default_rng(0)
    for i in range(4):
        scene = np.full((240, 320, 3), 90, np.uint8)
        x, y = rng.integers(20, 180), rng.integers(20, 100)
        scene[y : y + 100, x : x + 120] = rng.integers(0, 255, 3)
        Image.fromarray(scene).save(folder / f"{6 + i:02d} scene.png")
    whole = (folder / "00 chelsea.jpg").read_bytes()
    (folder / "10 truncated.jpg").write_bytes(whole[: len(whole) // 3])
    (folder / "11 empty.jpg").write_bytes(b"")
    return folder


def view_point(canvas, x: float, y: float) -> QPoint:
    return canvas.mapFromScene(x, y)


def drag(qtbot, canvas, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A left-button drag in image pixels, with moves in between as a hand makes them."""
    viewport = canvas.viewport()
    a, b = view_point(canvas, *start), view_point(canvas, *end)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=a)
    for t in (0.25, 0.5, 0.75, 1.0):
        qtbot.mouseMove(
            viewport,
            pos=QPoint(round(a.x() + t * (b.x() - a.x())), round(a.y() + t * (b.y() - a.y()))),
        )
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=b)


def type_class(qtbot, window, name: str) -> None:
    """Click the class field, type a name and press Return, as a person does."""
    field = window.class_combo.lineEdit()
    qtbot.mouseClick(field, Qt.MouseButton.LeftButton)
    qtbot.wait(20)  # the click selects the name shown, so typing replaces it
    qtbot.keyClicks(field, name)
    qtbot.keyClick(field, Qt.Key.Key_Return)


def key(qtbot, session, k, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press where the focus is (the canvas, after every step below)."""
    target = QApplication.focusWidget() or session.window
    qtbot.keyClick(target, k, modifier)


def click_row(qtbot, window, image_id: int) -> None:
    """Click an image's row in the image list."""
    table = window.image_list.table
    row = window.image_model.row_of(image_id)
    rect = table.visualRect(window.image_model.index(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def screen_matches_database(session) -> None:
    """The canvas, the image list and the classes panel show what the database holds."""
    project, window, canvas = session.project, session.window, session.canvas
    image_id = session.controller.current_id()
    current = window.current_class() or None
    stored = {b.id: b for b in project.box_records.boxes(image_id) if b.state != "rejected"}
    if canvas.placeholder_text() is not None:
        stored = {}
    shown = {b.id: b for b in canvas.boxes()}
    assert shown.keys() == stored.keys()
    for box_id, row in stored.items():
        view = shown[box_id]
        assert view.box == pytest.approx(row.box)
        assert view.state == row.state
        assert view.class_name == (row.class_name if row.class_name is not None else current)
        assert view.tentative == (row.class_name is None)
    assert window.classes_panel.names() == project.class_records.classes()
    panel = window.classes_panel.list
    counts = project.class_records.class_counts()
    assert [panel.item(i).text() for i in range(panel.count())] == [
        class_item_text(i, name, count) for i, (name, count) in enumerate(counts.items())
    ]
    combo = window.class_combo
    assert [combo.itemText(i) for i in range(combo.count())] == project.class_records.classes()
    model = window.image_model

    def listed() -> dict[int, tuple[str, str]]:
        cells = {}
        for image in project.images():
            row = model.row_of(image.id)
            cells[image.id] = tuple(model.data(model.index(row, c)) for c in (1, 2))
        return cells

    def expected() -> dict[int, tuple[str, str]]:
        return {i.id: (status_label(i.status), str(i.box_count)) for i in project.images()}

    # The worker proposes in the background: its last signal may still be on its way.
    qtbot = session.qtbot
    qtbot.waitUntil(lambda: listed() == expected(), timeout=5000)


def wait_for_proposals(qtbot, session, image_id: int) -> None:
    qtbot.waitUntil(
        lambda: (
            any(b.state == "proposed" for b in session.canvas.boxes())
            and session.project.image(image_id).status == "proposed"
        ),
        timeout=LONG,
    )


def summary_box() -> QMessageBox | None:
    """The export's summary, once it is shown."""
    boxes = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]
    return next((b for b in boxes if b.isVisible() and "Exported" in b.text()), None)


def test_an_annotator_session_saves_exactly_what_the_screen_shows(qtbot, session, photos, tmp_path):
    window, canvas = session.window, session.canvas
    session.qtbot = qtbot  # for screen_matches_database
    window.resize(1200, 800)
    with qtbot.waitExposed(window):
        window.show()
    assert session.open(str(photos))  # what `python main.py FOLDER` does
    project = session.project
    assert (
        project.class_records.classes() == []
    )  # a new project has no class until the annotator adds one

    # 1. The first photograph's proposals arrive; they have no class yet.
    first = session.controller.current_id()
    wait_for_proposals(qtbot, session, first)
    assert all(b.class_name is None and b.hint for b in project.box_records.boxes(first))
    assert canvas.selected_id() is not None  # the best proposal is selected
    key(qtbot, session, Qt.Key.Key_Space)  # no class yet: nothing is saved
    assert project.image(first).status == "proposed"
    assert "Add a class first" in window.statusBar().currentMessage()

    # 2. Add the class "cat" in the class field; accept the proposal with Space alone.
    type_class(qtbot, window, "cat")
    assert project.class_records.classes() == ["cat"]
    screen_matches_database(session)
    chosen = canvas.selected_id()
    key(qtbot, session, Qt.Key.Key_Space)
    accepted = next(b for b in project.box_records.boxes(first) if b.id == chosen)
    assert (accepted.class_name, accepted.state) == ("cat", "accepted")
    assert project.class_records.classes() == ["cat"]  # the network's guess did not become a class
    screen_matches_database(session)

    # 3. Next image: resize its proposal by dragging the bottom-right handle.
    key(qtbot, session, Qt.Key.Key_D)
    second = session.controller.current_id()
    assert second != first
    wait_for_proposals(qtbot, session, second)
    target = canvas.selected_id()
    x1, y1, x2, y2 = next(b.box for b in canvas.boxes() if b.id == target)
    drag(qtbot, canvas, (x2, y2), (x2 - 0.2 * (x2 - x1), y2 - 0.2 * (y2 - y1)))
    resized = next(b for b in project.box_records.boxes(second) if b.id == target)
    assert (resized.class_name, resized.state) == ("cat", "edited")
    assert resized.box[2] < x2 - 0.1 * (x2 - x1)
    screen_matches_database(session)

    # 4. Draw a box with W and a drag.
    key(qtbot, session, Qt.Key.Key_W)
    drag(qtbot, canvas, (10, 10), (120, 90))
    drawn = max(project.box_records.boxes(second), key=lambda b: b.id)
    assert (drawn.origin, drawn.class_name) == ("human", "cat")
    assert drawn.box == pytest.approx((10, 10, 120, 90), abs=2)
    screen_matches_database(session)

    # 5. Type a new class, press Return, then A: the keys go back to the canvas.
    type_class(qtbot, window, "dog")
    assert project.class_records.classes() == ["cat", "dog"]
    assert (
        next(b for b in project.box_records.boxes(second) if b.id == drawn.id).class_name == "dog"
    )
    key(qtbot, session, Qt.Key.Key_A)
    assert project.class_records.classes() == ["cat", "dog"]  # no "doga"
    assert session.controller.current_id() == first
    screen_matches_database(session)

    # 6. An unreadable file: a placeholder with the reason; drawing saves nothing.
    truncated = project.image_by_path("10 truncated.jpg").id
    click_row(qtbot, window, truncated)
    assert session.controller.current_id() == truncated
    assert "10 truncated.jpg" in canvas.placeholder_text()
    key(qtbot, session, Qt.Key.Key_W)
    assert "Nothing can be saved on this image" in window.statusBar().currentMessage()
    drag(qtbot, canvas, (0, 0), (50, 50))
    assert project.box_records.boxes(truncated) == []
    assert project.image(truncated).status == "unreadable"
    screen_matches_database(session)

    # 7. Export Pascal VOC from the menu (Ctrl+E): the reviewed images only, as saved.
    out = tmp_path / "exported"
    filled: list[bool] = []

    def fill_in_the_dialog() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, ExportDialog)
        assert dialog.format_box.currentText().startswith("Pascal VOC — VOCdevkit")
        assert dialog.reviewed_only.isChecked()
        qtbot.mouseClick(dialog.folder_edit, Qt.MouseButton.LeftButton)
        qtbot.keyClicks(dialog.folder_edit, str(out))
        ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
        filled.append(True)

    QTimer.singleShot(300, fill_in_the_dialog)
    key(qtbot, session, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    assert filled == [True]
    qtbot.waitUntil(lambda: summary_box() is not None, timeout=60_000)
    summary = summary_box()
    done = project.images(status="done")
    assert f"Exported {len(done)} images" in summary.text()
    assert "not reviewed" in summary.text() and "unreadable" in summary.text()
    summary.close()
    written = sorted(p.stem for p in (out / "Annotations").glob("*.xml"))
    assert written == sorted(Path(r.path).stem.replace(" ", "_") for r in done)
    for row in done:
        xml = read_voc(out / "Annotations" / f"{Path(row.path).stem.replace(' ', '_')}.xml")
        labels = [b for b in project.box_records.boxes(row.id) if b.state in ("accepted", "edited")]
        assert [o.name for o in xml.objects] == [b.class_name for b in labels]
        for obj, box in zip(xml.objects, labels, strict=True):  # VOC's integer pixels
            assert obj.box == tuple(float(round(v)) for v in box.box)

    # 8. Close and reopen the project: the same screen from the database.
    db = project.db_path
    session.close()
    assert session.open(str(db))
    project = session.project
    assert project.class_records.classes() == ["cat", "dog"]
    assert window.current_class() == "dog"  # the class chosen last
    screen_matches_database(session)
    assert session.controller.current_id() == first  # the list starts at the first image
    assert accepted in project.box_records.boxes(first)


@pytest.fixture
def proposed(tmp_path) -> Path:
    """Eight scenes already proposed, as the worker leaves them: one proposal on each of
    the first five and on the last two, three on the sixth."""
    folder = tmp_path / "proposed scenes"
    folder.mkdir()
    rng = np.random.default_rng(1)
    with Project.open(Project.default_db_path(folder), folder) as project:
        for i in range(8):
            scene = np.full((240, 320, 3), 80, np.uint8)
            scene[40:200, 60:260] = rng.integers(0, 255, 3)
            Image.fromarray(scene).save(folder / f"scene {i}.png")
        project.register_images([f"scene {i}.png" for i in range(8)])
        for i in range(8):
            image = project.image_by_path(f"scene {i}.png")
            boxes = [(60, 40, 260, 200)] + (
                [(10, 10, 50, 50), (200, 150, 300, 230)] if i == 5 else []
            )
            specs = [
                BoxSpec(
                    None,
                    box,
                    origin="proposal",
                    state="proposed",
                    confidence=0.9 - k / 10,
                    hint="tabby",
                )
                for k, box in enumerate(boxes)
            ]
            project.box_records.replace_proposals(image.id, specs)
            project.set_image_size(image.id, 320, 240)
            project.set_status(image.id, "proposed")
    return folder


def lists_in_step(session) -> None:
    """The Boxes dock lists the shown image's boxes and highlights the canvas's selection."""
    window, canvas = session.window, session.canvas
    assert window.box_list.box_ids() == [b.id for b in canvas.all_boxes()]
    assert window.box_list.selected_id() == canvas.selected_id()


def test_a_folder_of_good_proposals_is_reviewed_with_one_key_per_box(qtbot, session, proposed):
    window, canvas, project_path = session.window, session.canvas, proposed
    window.resize(1200, 800)
    with qtbot.waitExposed(window):
        window.show()
    assert session.open(str(project_path))
    project, controller = session.project, session.controller
    type_class(qtbot, window, "cat")
    paths = [project.image(controller.rows[i].id).path for i in range(8)]

    # Space alone: five images, five accepted boxes of the class chosen, the sixth on screen.
    for i in range(5):
        assert project.image(controller.current_id()).path == paths[i]
        lists_in_step(session)
        key(qtbot, session, Qt.Key.Key_Space)
    accepted = [b for r in project.images() for b in project.box_records.boxes(r.id, ["accepted"])]
    assert [(b.class_name, b.origin) for b in accepted] == [("cat", "proposal")] * 5
    assert [r.status for r in project.images()[:5]] == ["done"] * 5
    sixth = controller.current_id()
    assert project.image(sixth).path == paths[5]

    # Tab and Shift+Tab go round the sixth image's three boxes, the Boxes dock in step.
    ids = [b.id for b in canvas.boxes()]
    assert canvas.selected_id() == ids[0]  # the best proposal, selected on opening
    key(qtbot, session, Qt.Key.Key_Tab)
    assert canvas.selected_id() == ids[1]
    lists_in_step(session)
    key(qtbot, session, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    key(qtbot, session, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert canvas.selected_id() == ids[2]
    lists_in_step(session)
    # A click on a row of the Boxes dock selects that box on the canvas.
    table = window.box_list.table
    rect = table.visualItemRect(table.item(1, 1))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert canvas.selected_id() == ids[1]
    lists_in_step(session)

    # X rejects it and selects the next one still to review; R shows the rejected one.
    key(qtbot, session, Qt.Key.Key_X)
    assert next(b for b in project.box_records.boxes(sixth) if b.id == ids[1]).state == "rejected"
    assert canvas.selected_id() == ids[0]
    assert ids[1] not in [b.id for b in canvas.boxes()]
    key(qtbot, session, Qt.Key.Key_R)
    assert ids[1] in [b.id for b in canvas.boxes()]
    lists_in_step(session)

    # Zoom in twice, then Ctrl+0 fits the whole image again.
    fitted = canvas.zoom()
    key(qtbot, session, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    key(qtbot, session, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == pytest.approx(fitted * 1.25**2, rel=0.02)
    key(qtbot, session, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == pytest.approx(fitted, rel=0.02)

    # Shift+Space accepts the rest; nothing is left, so the seventh image comes.
    key(qtbot, session, Qt.Key.Key_Space, Qt.KeyboardModifier.ShiftModifier)
    states = sorted(b.state for b in project.box_records.boxes(sixth))
    assert states == ["accepted", "accepted", "rejected"]
    assert project.image(sixth).status == "done"
    assert project.image(controller.current_id()).path == paths[6]

    # Undo from the seventh image opens the sixth and takes the accepts back.
    key(qtbot, session, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert controller.current_id() == sixth
    states = sorted(b.state for b in project.box_records.boxes(sixth))
    assert states == ["proposed", "proposed", "rejected"]
    lists_in_step(session)
    key(qtbot, session, Qt.Key.Key_R)  # rejected proposals hidden again
    session.qtbot = qtbot
    screen_matches_database(session)
