"""The statistics panel: a line of figures over a matplotlib canvas, for a dock.

The panel draws nothing itself: the application draws the charts into :attr:`figure`
(with ``core.evaluation.plots``) and calls :meth:`StatisticsPanel.redraw`; the summary
lines take plain numbers. Importing this module imports matplotlib (about a second), so
the application imports it only when the view is first opened.
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget


def _percent(part: int, whole: int) -> str:
    return f"{part / whole:.0%}" if whole else "–"


def _count(n: int, noun: str, plural: str = "") -> str:
    """``"1 image"``, ``"2 images"``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def summary_lines(
    images_per_status: Mapping[str, int],
    boxes_per_class: Mapping[str, int],
    outcomes: Mapping[str, int],
) -> tuple[str, str, str]:
    """The three summary lines: images (per status), accepted boxes (per class), and what
    became of the reviewed proposals (``outcomes``: accepted, edited, rejected, drawn)."""
    total = sum(images_per_status.values())
    statuses = ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in images_per_status.items() if n)
    images = _count(total, "image") + (f": {statuses}" if statuses else "")
    boxes = sum(boxes_per_class.values())
    classes = ", ".join(f"{name} {n}" for name, n in boxes_per_class.items())
    labels = _count(boxes, "accepted box", "accepted boxes") + (f": {classes}" if classes else "")
    accepted, edited = outcomes.get("accepted", 0), outcomes.get("edited", 0)
    rejected, drawn = outcomes.get("rejected", 0), outcomes.get("drawn", 0)
    reviewed = accepted + edited + rejected
    review = (
        f"{_count(reviewed, 'proposal')} reviewed: {_percent(accepted, reviewed)} accepted as "
        f"is, {_percent(edited, reviewed)} edited, {_percent(rejected, reviewed)} rejected; "
        f"{_count(drawn, 'box', 'boxes')} drawn"
    )
    return images, labels, review


class StatisticsPanel(QWidget):
    """Summary labels and a matplotlib canvas; never takes the keyboard focus."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.images_label, self.boxes_label, self.review_label = (QLabel(self) for _ in "abc")
        self.figure = Figure(figsize=(7.5, 5.0), dpi=100, layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setParent(self)
        self.canvas.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumSize(360, 260)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        for label in (self.images_label, self.boxes_label, self.review_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            layout.addWidget(label)
        layout.addWidget(self.canvas, 1)
        self.draws = 0  # how many times the charts were drawn (for tests and benchmarks)

    def set_summary(
        self,
        images_per_status: Mapping[str, int],
        boxes_per_class: Mapping[str, int],
        outcomes: Mapping[str, int],
    ) -> None:
        """Show the summary lines (see :func:`summary_lines`)."""
        lines = summary_lines(images_per_status, boxes_per_class, outcomes)
        for label, text in zip(
            (self.images_label, self.boxes_label, self.review_label), lines, strict=True
        ):
            label.setText(text)

    def redraw(self) -> None:
        """Paint the figure again after the application drew into it."""
        self.canvas.draw_idle()
        self.draws += 1
