"""The image list model: 100,000 rows, cells, colours, updates."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from ui.panels.image_list import ImageListModel, ImageListRow


def rows(n: int) -> list[ImageListRow]:
    statuses = ("new", "proposed", "in_review", "done", "skipped")
    return [
        ImageListRow(
            id=1000 + i,
            path=f"folder/img_{i:06d}.jpg",
            status=statuses[i % 5],
            box_count=i % 4,
            image_score=None if i % 3 == 0 else i / 100_000,
            confidence=None,
        )
        for i in range(n)
    ]


def cell(model: ImageListModel, row: int, column: int, role=Qt.ItemDataRole.DisplayRole):
    return model.data(model.index(row, column), role)


# --- image list model -------------------------------------------------------------------------


def test_model_holds_100000_rows_and_computes_cells(qtbot):
    model = ImageListModel()
    model.set_rows(rows(100_000))
    assert model.rowCount() == 100_000
    assert model.columnCount() == 4
    assert [cell(model, 99_999, c) for c in range(4)] == [
        "folder/img_099999.jpg",
        "skipped",
        "3",
        "–",  # 99_999 % 3 == 0: no score
    ]
    assert cell(model, 50_002, 1) == "in review"
    assert cell(model, 50_002, 3) == "0.50"
    assert cell(model, 7, 0, Qt.ItemDataRole.ToolTipRole) == "folder/img_000007.jpg"
    assert model.row_of(1000 + 77_777) == 77_777
    assert model.row_at(77_777).path == "folder/img_077777.jpg"
    assert model.row_of(5) is None


def test_status_cells_are_coloured_per_status():
    model = ImageListModel()
    model.set_rows(rows(5))
    colours = [cell(model, r, 1, Qt.ItemDataRole.ForegroundRole) for r in range(5)]
    assert all(isinstance(colour, QColor) for colour in colours)
    assert len({colour.name() for colour in colours}) == 5
    assert cell(model, 0, 0, Qt.ItemDataRole.ForegroundRole) is None


def test_update_row_replaces_one_row_and_emits_data_changed(qtbot):
    model = ImageListModel()
    model.set_rows(rows(10))
    changed = ImageListRow(1004, "folder/img_000004.jpg", "done", 7, 0.876, 0.5)
    with qtbot.waitSignal(model.dataChanged) as signal:
        model.update_row(changed)
    top_left, bottom_right = signal.args[:2]
    assert (top_left.row(), top_left.column()) == (4, 0)
    assert (bottom_right.row(), bottom_right.column()) == (4, 3)
    assert [cell(model, 4, c) for c in range(1, 4)] == ["done", "7", "0.88"]
    assert model.row_at(4) == changed
    with qtbot.assertNotEmitted(model.dataChanged):
        model.update_row(ImageListRow(99, "elsewhere.jpg", "new", 0, None, None))
    assert model.rowCount() == 10


def test_set_rows_resets_the_model_and_the_index(qtbot):
    model = ImageListModel()
    model.set_rows(rows(10))
    with qtbot.waitSignal(model.modelReset):
        model.set_rows(rows(10)[5:])
    assert model.rowCount() == 5
    assert model.row_of(1002) is None
    assert model.row_of(1007) == 2
