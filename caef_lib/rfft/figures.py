"""Notebook 04's figures, drawn from its saved results only (`make figures` redraws them without training).

`rfft_accuracy`: accuracy against the number of digits, one line per method with its 95 % Wilson band, the
training range shaded (the paper's length-generalisation figure). `rfft_first_error`: for the problems answered
wrong, where the first wrong line (scratchpad; RFFT: the loop iteration it belongs to) or the first wrong call
(CAEF, coloured by the adapter that made it) falls, per length.
"""
from __future__ import annotations

from ..figures import figure, load_result

NOTEBOOK = "04_rfft"
COLOURS = {"direct": "#7f7f7f", "scratchpad": "#1f77b4", "rfft": "#d62728", "caef": "#2ca02c"}
LABELS = {"direct": "direct answer", "scratchpad": "scratchpad", "rfft": "rule following (RFFT)",
          "caef": "CAEF (executor + aligner)"}


def _load(paths, name: str):
    return load_result(paths, NOTEBOOK, name)


def _contestants(paths) -> dict:
    """method -> {"model", "train_min_digits", "train_max_digits"} from contestants.csv."""
    table = _load(paths, "contestants.csv")
    return {r["method"]: r for r in table.to_dict("records")}


@figure("rfft_accuracy", notebook=NOTEBOOK)
def rfft_accuracy(paths):
    import matplotlib.pyplot as plt

    table = _load(paths, "accuracy_by_length.csv")
    who = _contestants(paths)
    formats = [m for m in ("direct", "scratchpad", "rfft") if m in who] or list(who)
    lo, hi = who[formats[0]]["train_min_digits"], who[formats[0]]["train_max_digits"]
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    ax.axvspan(lo - 0.5, hi + 0.5, color="#e8e8e8", zorder=0, label=f"training lengths ({lo}-{hi} digits)")
    for method, g in table.groupby("method", sort=False):
        g = g.sort_values("digits")
        colour = COLOURS.get(method, None)
        label = LABELS.get(method, method)
        c = who.get(method, {})
        if c and (c["train_min_digits"], c["train_max_digits"]) != (lo, hi):
            label += f", trained on {c['train_min_digits']}-{c['train_max_digits']} digits"
        ax.plot(g["digits"], 100 * g["accuracy"], marker="o", ms=4, color=colour, label=label)
        ax.fill_between(g["digits"], 100 * g["ci_low"], 100 * g["ci_high"], color=colour, alpha=0.12, lw=0)
    ax.set_xlabel("digits of the longer operand")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(-3, 103)
    ax.set_xticks(sorted(table["digits"].unique()))
    ax.grid(alpha=0.3)
    n = int(table["n"].max()) if len(table) else 0
    model = who[formats[0]]["model"]
    ax.set_title(f"Length generalisation: {model}, up to {n} test problems per length, 95 % Wilson bands",
                 fontsize=10, pad=10)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


@figure("rfft_first_error", notebook=NOTEBOOK)
def rfft_first_error(paths):
    """Scratchpad: the first wrong line; RFFT: the loop iteration of the first wrong line (0 = before the loop,
    where the operands are copied into lists); CAEF: the first wrong call, coloured by the adapter that made it."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rows = _load(paths, "problems.parquet")
    wrong = rows[~rows["correct"].astype(bool)]
    panels = [(m, y, label) for m, y, label in (
        ("scratchpad", "first_wrong_line", "first wrong line of the trace"),
        ("rfft", "iteration", "loop iteration of the first wrong line\n(0 = before the loop, last + 1 = after it)"),
        ("caef", "first_wrong_line", "first wrong call of the process"))
        if m in set(rows["method"])]
    if not panels:
        fig, ax = plt.subplots(figsize=(5, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, "no step-by-step contestant (scratchpad, RFFT, CAEF) in this run", ha="center",
                va="center", fontsize=9)
        return fig
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.6), squeeze=False)
    for ax, (method, y, label) in zip(axes[0], panels):
        g = wrong[(wrong["method"] == method) & wrong[y].notna()]
        if method == "caef" and "first_wrong_adapter" in g:
            aligner = g["first_wrong_adapter"].astype(str).str.endswith("_aligner")
            for who, colour, part in (("aligner", "#9467bd", g[aligner]), ("executor", COLOURS["caef"], g[~aligner])):
                ax.scatter(part["digits"], part[y], s=12, alpha=0.35, color=colour, label=who)
            ax.legend(fontsize=7, title="wrong call made by", title_fontsize=7)
        else:
            ax.scatter(g["digits"], g[y], s=12, alpha=0.35, color=COLOURS[method])
        med = g.groupby("digits")[y].median()
        ax.plot(med.index, med.values, color="black", lw=1)
        ax.set_title(LABELS[method], fontsize=9)
        ax.set_xlabel("digits of the longer operand")
        ax.set_ylabel(label, fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    fig.suptitle("Where wrong answers first go wrong (dots: problems; line: median)", fontsize=10)
    fig.tight_layout()
    return fig
