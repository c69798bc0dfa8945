"""Tables and figures of notebook 01 (the notebook only calls these).

Figures are drawn from the tables the notebook saved under results/<profile>/01_traces/, so
``python -m caef_lib figures`` can redraw them without regenerating any data.
"""
from __future__ import annotations

import math
import random

from ..figures import figure, panel_grid
from ..machines import MACHINES, get
from ..paths import KitPaths
from ..results import MissingResults
from . import classes as C

NOTEBOOK = "01_traces"
CALL_OPS = ("mul", "div", "long_mul", "long_div")


# ----------------------------------------------------------------------------------- tables
def cards_table(cards: list[dict]):
    """One row per written file."""
    import pandas as pd

    rows = [{
        "op": c["op"], "split": c["split"], "role": c["role"], "problems": c["problems"],
        "unique_problems": c.get("unique_problems"), "samples": c["lines"], "MB": round(c["bytes"] / 1e6, 3),
        "overlap_with_train": c.get("overlap_with_train"), "rejected_for_overlap": c.get("rejected_for_overlap", 0),
        "shortfall": c.get("shortfall", 0), "sha256": c["sha256"][:16], "file": c["file"],
    } for c in cards]
    return pd.DataFrame(rows)


def classes_table(cards: list[dict]):
    """Problems and executor samples per (op, split, class), from the executor cards of the class-loop splits
    (and executor_only cards of the length test sets)."""
    import pandas as pd

    rows = []
    for c in cards:
        if c["role"] not in ("executor", "executor_only"):
            continue
        for r in c["classes"]:
            rows.append({"op": c["op"], "split": c["split"], "class": r["class"], "len_a": r["la"], "len_b": r["lb"],
                         "problems": r["problems"], "samples": r["samples"]})
    return pd.DataFrame(rows, columns=["op", "split", "class", "len_a", "len_b", "problems", "samples"])


def _call_operands(op: str, n: int, rng: random.Random) -> tuple[int, int]:
    if op in ("div", "long_div"):  # a with n digits, b with about half as many: quotient of ~n/2 digits
        b = 0
        while b == 0:
            b = C.number(rng, max(1, (n + 1) // 2))
        return C.number(rng, n), b
    return C.number(rng, n), C.number(rng, n) or 1


def calls_table(max_digits: int, ops: tuple[str, ...] = CALL_OPS, per_length: int = 5, seed: int = 0):
    """Model calls per problem versus operand length n: mul / long_mul with two n-digit operands, div / long_div
    with an n-digit dividend and a ceil(n/2)-digit divisor. ``composer_calls`` = ``num_calls`` (the composer's own
    steps), ``total_calls`` = with every callee (closed forms, so b = 10**99 costs nothing to count). Median over
    ``per_length`` random problems. Operators that are not registered are skipped."""
    import pandas as pd

    rows = []
    for op in ops:
        if op not in MACHINES:
            continue
        m = get(op)
        rng = C.stream(seed, op, "calls", "all", "operands")
        for n in range(1, max_digits + 1):
            probs = [_call_operands(op, n, rng) for _ in range(per_length)]
            comp = sorted(m.num_calls(a, b) for a, b in probs)
            tot = sorted(m.total_calls(a, b) for a, b in probs)
            mid = len(probs) // 2
            rows.append({"op": op, "digits": n, "composer_calls": float(comp[mid]), "total_calls": float(tot[mid]),
                         "log10_total_calls": math.log10(tot[mid])})
    return pd.DataFrame(rows, columns=["op", "digits", "composer_calls", "total_calls", "log10_total_calls"])


def trace_table(op: str, a: int, b: int | None, max_rows: int = 12):
    """Every model call of one problem answered by the perfect oracle (`caef_lib.engine.run_oracle`)."""
    import pandas as pd

    from ..engine import run_oracle

    out = run_oracle(op, a, b)
    rows = [{"#": i, "adapter": c.get("executor") or c.get("adapter"), "prompt": c["prompt"], "answer": c["answer"]}
            for i, c in enumerate(out["calls"])]
    df = pd.DataFrame(rows)
    if len(df) > max_rows:
        half = max_rows // 2
        df = pd.concat([df.head(half), df.tail(max_rows - half)])
    return out, df


def _read(paths: KitPaths, name: str):
    import pandas as pd

    path = paths.results(NOTEBOOK) / f"{name}.csv"
    if not path.is_file():
        raise MissingResults(f"{path} is missing; run notebook {NOTEBOOK} first")
    return pd.read_csv(path)


# ----------------------------------------------------------------------------------- figures
@figure("traces_class_histogram", notebook=NOTEBOOK)
def draw_class_histogram(paths: KitPaths):
    """Train problems per equivalence class (len a, len b), one panel per operator (log colour scale)."""
    import numpy as np
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import MaxNLocator

    df = _read(paths, "classes")
    df = df[df["split"] == "train"]
    ops = list(dict.fromkeys(df["op"]))
    fig, axes, _ = panel_grid(len(ops), size=(3.3, 2.8), extra_height=0.6, layout="constrained")
    vmax = max(1, int(df["problems"].max())) if len(df) else 1
    mesh = None
    for ax, op in zip(axes, ops):
        d = df[df["op"] == op]
        a0, a1 = int(d["len_a"].min()), int(d["len_a"].max())
        b0, b1 = int(d["len_b"].min()), int(d["len_b"].max())
        grid = np.full((b1 - b0 + 1, a1 - a0 + 1), np.nan)
        for la, lb, n in zip(d["len_a"], d["len_b"], d["problems"]):
            grid[int(lb) - b0, int(la) - a0] = n
        mesh = ax.pcolormesh(np.arange(a0, a1 + 2) - 0.5, np.arange(b0, b1 + 2) - 0.5, grid, cmap="viridis",
                             norm=LogNorm(vmin=1, vmax=vmax), shading="flat")
        ax.set_title(f"{op}: {int(d['problems'].sum()):,}", fontsize=9)
        for axis, lo, hi in ((ax.xaxis, a0, a1), (ax.yaxis, b0, b1)):
            if hi - lo < 6:
                axis.set_ticks(range(lo, hi + 1))
            else:
                axis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        ax.tick_params(labelsize=7)
        ax.set_xlabel("len a", fontsize=8)
        ax.set_ylabel("len b" if b1 > 0 else "(one operand)", fontsize=8)
    if mesh is not None:
        fig.colorbar(mesh, ax=axes, shrink=0.6, label="train problems per class")
    fig.suptitle("Equivalence classes (len a, len b) and their balanced problem counts", fontsize=11)
    return fig


@figure("traces_model_calls", notebook=NOTEBOOK)
def draw_model_calls(paths: KitPaths):
    """Model calls per problem versus operand length: repeated-addition MUL/DIV against digit-wise
    LONG_MUL/LONG_DIV (log scale)."""
    import matplotlib.pyplot as plt

    df = _read(paths, "calls_vs_length")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors = {"mul": "tab:red", "div": "tab:orange", "long_mul": "tab:blue", "long_div": "tab:cyan"}
    for op in dict.fromkeys(df["op"]):
        d = df[df["op"] == op]
        c = colors.get(op)
        ax.plot(d["digits"], d["total_calls"], "-", color=c, label=f"{op}: all calls")
        ax.plot(d["digits"], d["composer_calls"], "--", color=c, alpha=0.7, label=f"{op}: composer only")
    ax.set_yscale("log")
    ax.set_xlabel("operand length n (digits; divisor n/2)")
    ax.set_ylabel("model calls per problem (median)")
    ax.set_title("Cost of one problem: value-linear (mul, div) vs digit-wise (long_*)", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return fig
