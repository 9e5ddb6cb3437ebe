"""The charts of the statistics view and of ``simulate --plot``: axes, ticks, line data."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from core.evaluation import plots
from core.services.statistics import BlockShare, ProposalFates, Statistics, VersionScores


def statistics(versions=(), blocks=(), fates: ProposalFates | None = None) -> Statistics:
    return Statistics(
        images_per_status={"new": 3, "in_review": 5, "done": 2},
        boxes_per_class={"raccoon": 4, "cat": 1},
        fates=fates or ProposalFates(),
        reviewed_images=sum(b.last - b.first + 1 for b in blocks),
        blocks=tuple(blocks),
        versions=tuple(versions),
    )


VERSIONS = [
    VersionScores(1, 7, 8, {"raccoon": 0.5}),
    VersionScores(2, 9, 20, {"raccoon": 0.8, "cat": 0.6}),
]
BLOCKS = [BlockShare(1, 20, 0.55), BlockShare(21, 40, 0.7), BlockShare(41, 45, None)]


def test_the_statistics_figure_has_five_charts_with_their_data():
    figure = Figure()
    fates = ProposalFates(accepted=6, edited=3, rejected=1, drawn=2)
    colours = {"raccoon": "#aa0000"}
    stats = statistics(VERSIONS, BLOCKS, fates)
    plots.draw_statistics(figure, stats, colours, {"in_review": "#00aa00"})
    status, classes, shares, corloc, accepted = figure.axes
    assert [t.get_text() for t in status.get_yticklabels()] == ["new", "in review", "done"]
    assert to_hex(status.patches[1].get_facecolor()) == "#00aa00"  # the status's colour
    assert [p.get_width() for p in status.patches] == [3, 5, 2]
    assert to_hex(classes.patches[0].get_facecolor()) == "#aa0000"  # the class's own colour
    assert [p.get_height() for p in shares.patches] == pytest.approx([0.6, 0.3, 0.1])
    assert "10" in shares.get_title()
    lines = {line.get_label(): line for line in corloc.get_lines()}
    assert set(lines) == {"raccoon", "cat"}
    assert list(lines["raccoon"].get_xdata()) == [1, 2]
    assert list(lines["raccoon"].get_ydata()) == [0.5, 0.8]
    assert list(lines["cat"].get_xdata()) == [2]
    assert [t.get_text() for t in corloc.get_xticklabels()] == ["v7", "v9"]
    assert list(corloc.get_yticks()) == [0, 0.25, 0.5, 0.75, 1.0]
    (curve,) = accepted.get_lines()
    assert list(curve.get_xdata()) == [20, 40]  # the block without labels has no point
    assert list(curve.get_ydata()) == [0.55, 0.7]
    assert accepted.get_xlabel() == "images reviewed"
    assert accepted.get_title() == "Accepted as is, per 20 reviewed images"


def test_a_new_project_says_what_is_missing_instead_of_drawing_empty_axes():
    figure = Figure()
    plots.draw_statistics(figure, statistics())
    texts = {t.get_text() for ax in figure.axes for t in ax.texts}
    assert {"no model version yet", "no image reviewed yet", "no proposal reviewed yet"} <= texts
    figure.canvas.draw()  # draws without error


def test_drawing_again_replaces_the_charts():
    figure = Figure()
    plots.draw_statistics(figure, statistics(VERSIONS, BLOCKS))
    plots.draw_statistics(figure, statistics(VERSIONS[:1], BLOCKS[:1]))
    assert len(figure.axes) == 5
    assert [t.get_text() for t in figure.axes[3].get_xticklabels()] == ["v7"]


def test_learning_curve_png_has_ticks_both_series_and_the_old_size(tmp_path):
    path = tmp_path / "curve.png"
    plots.learning_curve_png(path, [10, 20, 30], [0.7, 0.8, None], [0.5, 0.6, 0.65], "raccoon")
    image = cv2.imread(str(path))
    assert image is not None and image.shape == (plots.PNG_SIZE[1], plots.PNG_SIZE[0], 3)
    rgb = image[..., ::-1].astype(int)
    for colour in (plots.CORLOC_COLOUR, plots.ACCEPTED_COLOUR):
        target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(rgb - target).sum(axis=2) < 30).sum() > 100  # each line is drawn

    figure = Figure()
    ax = figure.add_subplot()
    plots.plot_learning_curve(ax, [10, 20, 30], [0.7, 0.8, None], [0.5, 0.6, 0.65])
    corloc, accepted = ax.get_lines()
    assert list(corloc.get_xdata()) == [10, 20]  # None (nothing left) is not a point
    assert list(accepted.get_ydata()) == [0.5, 0.6, 0.65]
    assert ax.get_xlabel() == "images reviewed" and len(ax.get_yticks()) == 5
