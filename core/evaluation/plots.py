"""Charts of the statistics view and of ``simulate --plot``, drawn with matplotlib.

Each ``plot_*`` function draws into a matplotlib ``Axes`` it is given; :func:`draw_statistics`
lays them out in a ``Figure`` (the app's dock gives the figure of its Qt canvas), and
:func:`learning_curve_png` writes the simulated annotator's curve with the Agg backend.
Only ``matplotlib.figure`` and the Agg canvas are used (never pyplot), so nothing here
touches a global backend, Qt or torch. Shares are fractions from 0 to 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.services.statistics import (
    BLOCK,
    BlockShare,
    ProposalFates,
    Statistics,
    VersionScores,
)

#: Colours of the two learning-curve series and of the three proposal outcomes.
CORLOC_COLOUR = "#1f6fb4"
ACCEPTED_COLOUR = "#2a9d3a"
EDITED_COLOUR = "#e0a800"
REJECTED_COLOUR = "#c0392b"
#: Size of the ``simulate --plot`` PNG in pixels (width, height), as before matplotlib.
PNG_SIZE = (640, 400)


def _empty(ax: Axes, text: str) -> None:
    """An axes that says why it has nothing to show."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def _share_axis(ax: Axes, top: float = 1.06) -> None:
    """The y axis of a share: 0 to 1 with ticks every 0.25 and a light grid; ``top``
    leaves room above 1 for markers and labels."""
    ax.set_ylim(0, top)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.grid(True, axis="y", color="#dddddd", linewidth=0.8)


def plot_counts(
    ax: Axes,
    counts: Mapping[str, int],
    title: str,
    colours: Mapping[str, str] | None = None,
    empty: str = "nothing yet",
) -> None:
    """Horizontal bars, one per key in order (first at the top), labelled with the count."""
    ax.set_title(title, fontsize=9)
    if not counts:
        _empty(ax, empty)
        return
    names = list(counts)
    values = [counts[n] for n in names]
    colour = [(colours or {}).get(n, CORLOC_COLOUR) for n in names]
    bars = ax.barh(range(len(names)), values, color=colour, edgecolor="#555555", linewidth=0.5)
    ax.set_yticks(range(len(names)), labels=names, fontsize=8)
    ax.invert_yaxis()
    ax.bar_label(bars, padding=2, fontsize=8)
    ax.set_xlim(0, max(max(values), 1) * 1.2)
    ax.tick_params(axis="x", labelsize=8)


def plot_fates(ax: Axes, fates: ProposalFates) -> None:
    """Bars of the shares of the reviewed proposals accepted as is, edited and rejected."""
    ax.set_title(f"Proposals reviewed ({fates.reviewed})", fontsize=9)
    if not fates.reviewed:
        _empty(ax, "no proposal reviewed yet")
        return
    outcomes = ("accepted", "edited", "rejected")
    shares = [fates.share(k) or 0.0 for k in outcomes]
    colours = (ACCEPTED_COLOUR, EDITED_COLOUR, REJECTED_COLOUR)
    bars = ax.bar(range(3), shares, color=colours)
    ax.set_xticks(range(3), labels=["accepted\nas is", "edited", "rejected"], fontsize=8)
    ax.bar_label(bars, labels=[f"{s:.0%}" for s in shares], padding=2, fontsize=8)
    _share_axis(ax, top=1.18)  # a bar's label above 100%
    ax.tick_params(axis="y", labelsize=8)


def plot_version_corloc(
    ax: Axes, versions: Sequence[VersionScores], colours: Mapping[str, str] | None = None
) -> None:
    """Cross-validated CorLoc per class (one line each) against the model version."""
    ax.set_title("Cross-validated CorLoc per model version", fontsize=9)
    if not versions:
        _empty(ax, "no model version yet")
        return
    classes = sorted({name for v in versions for name in v.corloc})
    for name in classes:
        points = [(v.number, v.corloc[name]) for v in versions if name in v.corloc]
        colour = (colours or {}).get(name)
        ax.plot(*zip(*points, strict=True), marker="o", markersize=4, label=name, color=colour)
    ax.set_xticks([v.number for v in versions], labels=[f"v{v.version_id}" for v in versions])
    ax.set_xlim(0.5, len(versions) + 0.5)
    ax.set_xlabel("model version", fontsize=8)
    _share_axis(ax)
    ax.tick_params(labelsize=8)
    if classes:
        ax.legend(fontsize=7, loc="lower right")


def plot_block_shares(ax: Axes, blocks: Sequence[BlockShare], size: int = BLOCK) -> None:
    """Share of labels accepted as is per ``size`` reviewed images, at the block's last
    image (the last block may hold fewer)."""
    ax.set_title(f"Accepted as is, per {size} reviewed images", fontsize=9)
    points = [(b.last, b.accepted_share) for b in blocks if b.accepted_share is not None]
    if not points:
        _empty(ax, "no image reviewed yet")
        return
    xs, ys = zip(*points, strict=True)
    ax.plot(xs, ys, marker="o", markersize=4, color=ACCEPTED_COLOUR)
    ax.set_xlim(0, max(*xs, size) * 1.05)
    ax.set_xlabel("images reviewed", fontsize=8)
    _share_axis(ax)
    ax.tick_params(labelsize=8)


def plot_learning_curve(
    ax: Axes,
    reviewed: Sequence[int],
    corloc: Sequence[float | None],
    accepted: Sequence[float | None],
    title: str = "",
) -> None:
    """The simulated annotator's curve against images reviewed: CorLoc of the current
    model on the images not yet reviewed, and the share of boxes accepted as is so far."""
    series = (
        ("CorLoc on the rest", corloc, CORLOC_COLOUR),
        ("accepted as is", accepted, ACCEPTED_COLOUR),
    )
    for label, values, colour in series:
        points = [(x, y) for x, y in zip(reviewed, values, strict=True) if y is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", markersize=4, label=label, color=colour)
    ax.set_xlim(0, max(reviewed, default=1) * 1.03)
    ax.set_xlabel("images reviewed")
    ax.set_ylabel("share")
    _share_axis(ax)
    if title:
        ax.set_title(title, fontsize=10)
    if ax.lines:
        ax.legend(loc="lower right", fontsize=9)


def draw_statistics(
    figure: Figure,
    stats: Statistics,
    colours: Mapping[str, str] | None = None,
    status_colours: Mapping[str, str] | None = None,
) -> None:
    """Clear ``figure`` and draw the statistics view into it: images per status, boxes
    per class and the proposals' outcomes on top; the learning curves below.
    ``colours``: class name → matplotlib colour (the app's class colours);
    ``status_colours``: status → colour (the image list's)."""
    figure.clear()
    grid = figure.add_gridspec(2, 3)
    shown = {status.replace("_", " "): n for status, n in stats.images_per_status.items()}
    by_label = {k.replace("_", " "): c for k, c in (status_colours or {}).items()}
    plot_counts(figure.add_subplot(grid[0, 0]), shown, "Images per status", by_label)
    plot_counts(
        figure.add_subplot(grid[0, 1]),
        stats.boxes_per_class,
        "Accepted boxes per class",
        colours,
        "no class yet",
    )
    plot_fates(figure.add_subplot(grid[0, 2]), stats.fates)
    plot_version_corloc(figure.add_subplot(grid[1, :2]), stats.versions, colours)
    plot_block_shares(figure.add_subplot(grid[1, 2]), stats.blocks)


def learning_curve_png(
    path: str | Path,
    reviewed: Sequence[int],
    corloc: Sequence[float | None],
    accepted: Sequence[float | None],
    title: str = "",
) -> None:
    """Write :func:`plot_learning_curve` as a PNG of :data:`PNG_SIZE` pixels (Agg)."""
    dpi = 100
    figure = Figure(figsize=(PNG_SIZE[0] / dpi, PNG_SIZE[1] / dpi), dpi=dpi, layout="tight")
    FigureCanvasAgg(figure)
    plot_learning_curve(figure.add_subplot(), reviewed, corloc, accepted, title)
    figure.savefig(str(path), dpi=dpi)
