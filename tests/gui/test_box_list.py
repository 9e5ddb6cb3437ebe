"""The Boxes dock: one row per box, clicks and check boxes reported, the selection shown."""

from __future__ import annotations

from PySide6.QtCore import Qt

from ui.box_view import BoxView
from ui.panels.box_list import BoxListPanel, state_text

VIEWS = [
    BoxView(7, (0, 0, 5, 5), "cat", "proposal", "proposed", 0.8123, hint="tabby", tentative=True),
    BoxView(8, (1, 1, 6, 6), "dog", "human", "accepted", difficult=True),
    BoxView(9, (2, 2, 7, 7), None, "proposal", "rejected", 0.3, hint="tabby"),
]


def test_rows_show_class_state_origin_and_confidence(qtbot):
    panel = BoxListPanel()
    qtbot.addWidget(panel)
    panel.set_boxes(VIEWS, hidden={9}, selected=8)
    table = panel.table
    cells = [[table.item(r, c).text() for c in range(1, 5)] for r in range(table.rowCount())]
    assert cells == [
        ["cat", "proposed", "proposal", "0.81"],
        ["dog", "accepted, difficult", "human", ""],
        ["no class", "rejected", "proposal", "0.30"],
    ]
    checks = [table.item(r, 0).checkState() for r in range(3)]
    assert checks == [Qt.CheckState.Checked, Qt.CheckState.Checked, Qt.CheckState.Unchecked]
    assert panel.selected_id() == 8 and panel.box_ids() == [7, 8, 9]
    assert state_text(VIEWS[1]) == "accepted, difficult"
    assert table.item(0, 1).font().italic() and not table.item(1, 1).font().italic()
    assert table.item(0, 1).toolTip() == "takes cat if accepted; the network's guess: tabby"


def test_a_click_chooses_a_box_and_the_check_box_toggles_it(qtbot):
    panel = BoxListPanel()
    qtbot.addWidget(panel)
    panel.resize(400, 200)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_boxes(VIEWS, hidden=set(), selected=None)
    table = panel.table
    with qtbot.waitSignal(panel.box_chosen) as chosen:
        rect = table.visualItemRect(table.item(2, 1))
        qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert chosen.args == [9]
    with qtbot.waitSignal(panel.visibility_toggled) as toggled:
        table.item(0, 0).setCheckState(Qt.CheckState.Unchecked)
    assert toggled.args == [7, False]
    with qtbot.assertNotEmitted(panel.box_chosen):
        panel.select(8)  # the canvas's selection is shown without being reported back
    assert panel.selected_id() == 8
