"""Notebook 04's figures, drawn from its saved results only (`make figures` redraws them without training).

`rfft_accuracy`: accuracy against the number of digits, one line per method with its 95 % Wilson band, the
training range shaded (the paper's length-generalisation figure). `rfft_first_error`: where the first wrong line
(direct, scratchpad, RFFT: its line in the trace, as a fraction of the trace) or the first wrong call (CAEF: its
place among the process's calls) falls, per length, for the problems answered wrong.
"""
from __future__ import annotations

from ..figures import figure
from ..results import MissingResults

NOTEBOOK = "04_rfft"
COLOURS = {"direct": "#7f7f7f", "scratchpad": "#1f77b4", "rfft": "#d62728", "caef": "#2ca02c"}
LABELS = {"direct": "direct answer", "scratchpad": "scratchpad", "rfft": "rule following (RFFT)",
          "caef": "CAEF (executor + aligner)"}


def _load(paths, name: str):
    import pandas as pd

    path = paths.results(NOTEBOOK) / name
    if not path.is_file():
        raise MissingResults(f"{path} is missing; run notebook {NOTEBOOK} first")
    return pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)


def _meta(paths) -> dict:
    from .. import io

    path = paths.results(NOTEBOOK) / "metadata.json"
    return io.read_json(path) if path.is_file() else {}


@figure("rfft_accuracy", notebook=NOTEBOOK)
def rfft_accuracy(paths):
    import matplotlib.pyplot as plt

    table = _load(paths, "accuracy_by_length.csv")
    extra = _meta(paths)
    lo, hi = extra.get("train_digits", [1, 5])
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    ax.axvspan(lo - 0.5, hi + 0.5, color="#f2f2f2", zorder=0)
    ax.text((lo + hi) / 2, 1.02, "training lengths", ha="center", va="bottom", fontsize=8, color="#555555",
            transform=ax.get_xaxis_transform())
    for method, g in table.groupby("method", sort=False):
        g = g.sort_values("digits")
        colour = COLOURS.get(method, None)
        label = LABELS.get(method, method)
        caef_range = extra.get("caef_train_digits")
        if method == "caef" and caef_range and list(caef_range) != [lo, hi]:
            label += f" (trained on {caef_range[0]}-{caef_range[1]} digits)"
        ax.plot(g["digits"], 100 * g["accuracy"], marker="o", ms=4, color=colour, label=label)
        ax.fill_between(g["digits"], 100 * g["ci_low"], 100 * g["ci_high"], color=colour, alpha=0.15, lw=0)
    ax.set_xlabel("digits of the longer operand")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-3, 103)
    ax.set_xticks(sorted(table["digits"].unique()))
    ax.grid(alpha=0.3)
    n = int(table["n"].max()) if len(table) else 0
    ax.set_title(f"Length generalisation ({extra.get('model', '')}; {n} problems per length, 95 % CI)",
                 fontsize=10)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


@figure("rfft_first_error", notebook=NOTEBOOK)
def rfft_first_error(paths):
    import matplotlib.pyplot as plt

    rows = _load(paths, "problems.parquet")
    wrong = rows[~rows["correct"] & rows["first_wrong_fraction"].notna()]
    methods = [m for m in COLOURS if m in set(rows["method"])]
    fig, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.4), sharey=True, squeeze=False)
    for ax, method in zip(axes[0], methods):
        g = wrong[wrong["method"] == method]
        ax.scatter(g["digits"], g["first_wrong_fraction"], s=10, alpha=0.4, color=COLOURS[method])
        med = g.groupby("digits")["first_wrong_fraction"].median()
        ax.plot(med.index, med.values, color="black", lw=1, label="median")
        ax.set_title(LABELS[method], fontsize=9)
        ax.set_xlabel("digits")
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("first wrong line / call\n(fraction of the way through)")
    fig.suptitle("Where wrong answers first go wrong", fontsize=10)
    fig.tight_layout()
    return fig
