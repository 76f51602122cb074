"""What every chart shares: the colours, one marker per candidate, axes and their finish.

Colours: the Okabe-Ito palette (safe for the common colour-vision deficiencies), one colour
and one marker per candidate, the same in every chart; baselines in grey. matplotlib is used
through its object API (`Figure`, no pyplot), so no display and no global state are involved.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchharness import schema

OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
BASELINE_GREY = "#777777"
LIMIT_RED = "#D55E00"
FIGSIZE = (8.6, 4.3)  # wide enough for the legend outside the plot, where it hides nothing


@dataclass(frozen=True)
class Style:
    color: str
    marker: str


def styles(results: dict) -> dict[str, Style]:
    """A stable colour and marker per candidate (by its position in the run)."""
    out, i = {}, 0
    for cand in schema.candidates(results):
        if cand.get("role") == "baseline":
            out[cand["name"]] = Style(BASELINE_GREY, "x")
        else:
            out[cand["name"]] = Style(OKABE_ITO[i % len(OKABE_ITO)], MARKERS[i % len(MARKERS)])
            i += 1
    return out


def new_axes(ax=None, figsize=FIGSIZE):
    """The given Axes, or the Axes of a new Agg figure."""
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def finish(ax, title: str, xlabel: str, ylabel: str, legend: bool = True) -> None:
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def measured(results: dict) -> list[dict]:
    """Candidates (and declared baselines) that ran."""
    return [c for c in schema.candidates(results) if c.get("status") == "ok"]
