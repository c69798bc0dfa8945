"""Notebook 03's figures, drawn from its saved results only (`make figures` redraws them without training).

In the paper's style (spec.md c): full-grid heatmaps with the held-out squares outlined in red, a zoom on the
test square, the square-size ablation, and (not in the paper) accuracy against the distance to the nearest
training cell. Rows are the first operand a (legs/2 for rabbits and chickens), columns the second operand b.
"""
from __future__ import annotations

from ..figures import figure, load_result, panel_grid
from ..results import MissingResults

NOTEBOOK = "03_leave_square_out"
CMAP = "YlGnBu"  # the paper's test-square colours: 0 = pale yellow, 1 = dark blue
CAEF_NAMES = {"caef": "CAEF, whole process", "caef_executor": "CAEF, executor alone", "rfft": "RFFT (rule in prompt)"}
SQUARE_ONLY = {"caef", "rfft"}  # vocabularies of the probes run on the square and around it only, not the whole grid


def _load(paths, name: str):
    return load_result(paths, NOTEBOOK, name)


def _split_label(split: str) -> str:
    from .splits import _PATTERNS

    if split.startswith("random"):
        return "random 70/30"
    if split.startswith("3hole"):
        return "three squares"
    m = _PATTERNS["1hole"].fullmatch(split)
    return f"square side {2 * int(m[3])}" if m else split


def _squares(task: str, split: str):
    from .splits import parse_split

    return parse_split(task, split).squares


def _grid(cells, measure: str, shape):
    import numpy as np

    grid = np.full(shape, np.nan)
    values = cells.dropna(subset=[measure])
    grid[values["x"].to_numpy(), values["y"].to_numpy()] = values[measure].to_numpy()
    return grid


def _outline(ax, squares, offset=(0, 0)):
    from matplotlib.patches import Rectangle

    for s in squares:
        ax.add_patch(Rectangle((s.cy - s.half - 0.5 - offset[1], s.cx - s.half - 0.5 - offset[0]), 2 * s.half + 1,
                               2 * s.half + 1, fill=False, edgecolor="red", linewidth=1))


def _runs(cells):
    keys = ["task", "split", "format", "vocabulary"]
    return [(dict(zip(keys, k)), g) for k, g in cells.groupby(keys, sort=False)]


@figure("lso_heatmaps", notebook=NOTEBOOK)
def heatmaps(paths):
    """Greedy accuracy on every cell of the grid, one panel per trained model; held-out squares in red."""
    from .tasks import get_task

    runs = [(k, g) for k, g in _runs(_load(paths, "cells.parquet")) if k["vocabulary"] not in SQUARE_ONLY]
    if not runs:
        raise MissingResults("no probe run in the saved results")
    fig, axes, _ = panel_grid(len(runs), size=(3.6, 3.5))
    for ax, (k, g) in zip(axes, runs):
        task = get_task(k["task"])
        im = ax.imshow(_grid(g, "greedy", task.grid_shape), cmap=CMAP, vmin=0, vmax=1, interpolation="nearest")
        _outline(ax, _squares(k["task"], k["split"]))
        ax.set_title(f"{k['task']}\n{_split_label(k['split'])}, {k['format']} ({k['vocabulary']})", fontsize=8)
        ax.set_xlabel("b" if task.name != "rabbits_and_chickens" else "heads", fontsize=8)
        ax.set_ylabel("a" if task.name != "rabbits_and_chickens" else "legs / 2", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.colorbar(im, ax=axes, shrink=0.8, label="greedy accuracy")
    return fig


@figure("lso_square_zoom", notebook=NOTEBOOK)
def square_zoom(paths):
    """The first single square of each task and the cells around it, every format side by side (direct,
    scratchpad, CAEF's whole process, its executor alone, RFFT): greedy accuracy on top, the sampled protocol below
    (where measured: white = not sampled); the red outline is the held-out square, and a title's "square ...
    right" counts its held-out cells only (greedy: cells right of cells; sampled: the share of the answers)."""
    import matplotlib.pyplot as plt

    cells = _load(paths, "cells.parquet")
    panels = []
    for k, g in _runs(cells):
        if not k["split"].startswith("1hole"):
            continue
        first = next((p for p in panels if p[0]["task"] == k["task"]), None)
        if first is None or first[0]["split"] == k["split"]:
            panels.append((k, g))
    if not panels:
        raise MissingResults("no single-square run in the saved results")
    measures = ["greedy"] + (["sampled"] if cells["sampled"].notna().any() else [])
    fig, axes = plt.subplots(len(measures), len(panels), figsize=(3.3 * len(panels), 3.3 * len(measures)),
                             squeeze=False)
    for col, (k, g) in enumerate(panels):
        (s,) = _squares(k["task"], k["split"])
        span = s.half + 5
        lo = (s.cx - span, s.cy - span)
        part = g[(g["x"] - s.cx).abs().le(span) & (g["y"] - s.cy).abs().le(span)]
        inside = part[(part["x"] - s.cx).abs().le(s.half) & (part["y"] - s.cy).abs().le(s.half) & ~part["in_train"]]
        for row, measure in enumerate(measures):
            ax = axes[row][col]
            grid = _grid(part.assign(x=part["x"] - lo[0], y=part["y"] - lo[1]), measure,
                         (2 * span + 1, 2 * span + 1))
            im = ax.imshow(grid, cmap=CMAP, vmin=0, vmax=1, interpolation="nearest",
                           extent=(lo[1] - 0.5, lo[1] + 2 * span + 0.5, lo[0] + 2 * span + 0.5, lo[0] - 0.5))
            _outline(ax, [s])
            mean = inside[measure].mean()
            name = CAEF_NAMES.get(k["format"], f"{k['format']} ({k['vocabulary']} tokens)")
            if mean != mean:  # nothing measured here (CAEF and RFFT are driven greedily)
                ax.axis("off")
                ax.text(0.5, 0.5, f"{name}:\nno {measure} answers", ha="center", va="center", fontsize=8,
                        transform=ax.transAxes)
                continue
            right = (f"{int(inside[measure].sum())}/{inside[measure].notna().sum()}" if measure == "greedy"
                     else f"{mean:.1%}")  # a count: 440/441 is not "100 %"
            ax.set_title(f"{k['task']}: {name}\n{measure}, square {right} right", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.colorbar(im, ax=axes, shrink=0.8, label="accuracy")
    return fig


@figure("lso_ablation", notebook=NOTEBOOK)
def ablation(paths):
    """Mean accuracy inside a single square against its side length 2L (the paper's ablation), with 95 %
    Wilson intervals; sampled where measured, else greedy."""
    import matplotlib.pyplot as plt

    from .splits import _PATTERNS

    summary = _load(paths, "summary.csv")
    square = summary[(summary["region"] == "square") & summary["split"].str.startswith("1hole")].copy()
    if square.empty:
        raise MissingResults("no single-square run in the saved results")
    square["side"] = [2 * int(_PATTERNS["1hole"].fullmatch(s)[3]) for s in square["split"]]
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    for (task, fmt, vocab), g in square.groupby(["task", "format", "vocabulary"], sort=False):
        measure = "sampled" if (g["measure"] == "sampled").any() else "greedy"
        g = g[g["measure"] == measure].sort_values("side")
        ax.errorbar(g["side"], g["accuracy"], yerr=[g["accuracy"] - g["ci_low"], g["ci_high"] - g["accuracy"]],
                    ls="--", marker="o", ms=5, capsize=3, label=f"{task}, {fmt} ({vocab}, {measure})")
    ax.set_xlabel("side length of the test square (2L)")
    ax.set_ylabel("mean accuracy inside the square")
    ax.set_ylim(-0.03, 1.03)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


@figure("lso_distance", notebook=NOTEBOOK)
def distance(paths):
    """Greedy accuracy of held-out cells against their (Chebyshev) distance to the nearest training cell."""
    import matplotlib.pyplot as plt

    table = _load(paths, "by_distance.csv")
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    for (task, split, fmt, vocab), g in table.groupby(["task", "split", "format", "vocabulary"], sort=False):
        ax.plot(g["distance"], g["accuracy"], marker="o", ms=4, label=f"{task}, {_split_label(split)}, {fmt} ({vocab})")
        ax.fill_between(g["distance"], g["ci_low"], g["ci_high"], alpha=0.15)
    ax.set_xlabel("distance to the nearest training cell")
    ax.set_ylabel("greedy accuracy")
    ax.set_ylim(-0.03, 1.03)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


@figure("lso_caef_columns", notebook=NOTEBOOK)
def caef_columns(paths):
    """Is the CAEF executor's failure on the grid about the square? For each leading column (digits and carry in)
    it got wrong on a held-out cell: its accuracy on the square's cells with that column, on the cells around the
    square, and on longer additions with the same leading column, far from the square (95 % Wilson intervals)."""
    import matplotlib.pyplot as plt
    import numpy as np

    table = _load(paths, "caef_columns.csv")
    if table.empty:
        raise MissingResults("the CAEF executor got no held-out cell wrong: no column to show")
    columns = list(dict.fromkeys(table["column"]))
    wheres = [w for w in ("square", "margin") if w in set(table["where"])] + sorted(
        set(table["where"]) - {"square", "margin"}, key=lambda w: int(w.split()[0]))  # "3 digits", "4 digits", ...
    width = 0.8 / len(wheres)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.5 * len(columns) * len(wheres) + 2), 3.4))
    for j, where in enumerate(wheres):
        part = table[table["where"] == where].set_index("column").reindex(columns)
        x = np.arange(len(columns)) + (j - (len(wheres) - 1) / 2) * width
        ax.bar(x, part["accuracy"], width, label=where,
               yerr=[part["accuracy"] - part["ci_low"], part["ci_high"] - part["accuracy"]], capsize=2)
    ax.set_xticks(np.arange(len(columns)), columns, fontsize=8)
    ax.set_xlabel("leading column: digit of a + digit of b + carry in")
    ax.set_ylabel("CAEF executor accuracy")
    ax.set_ylim(0, 1.05)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, title="problems", title_fontsize=7)
    return fig
