"""Notebook 05's tables: CAEF's Table 1 (accuracy per operator and length, CAEF against direct answers) and Table 2
(executor and aligners alone), measured by the batched engine, written as CSV, Markdown and LaTeX.

    rows = measure(model, ["add"], [1, 5, 8, 16], n=30, seed=0)   # a row per problem and mode (batched_engine.run)
    t1, t2 = table1(rows), table2(rows)                           # op, digits, method/component, n, correct, ...

Table 1 (the seven operators with an aligner) `method`: `caef` (the full process: aligner(I), executors with
CALLs, aligner(O), scored as the reference scores it: a call whose answer differs from the machine's ends the
problem as wrong, the last answer is compared with the result; `scoring="result"` instead runs every problem to
its end and counts it right whenever its final answer is, `caef_by_result`) and `direct` (the `<op>_direct`
adapter's answer to the expression). Table 2 `component`:
`executor` (from the true q0 text, every step right: the first wrong call ends the problem; reflection and
left_mask too), `aligner_input`, `aligner_output`. Every cell carries a 95 %
Wilson interval. Models the kit cannot run (the paper's LLaMA-3.1-8B-Instruct and GPT-4o baselines) get a row
`not known`: the kit has no source for their numbers and never fills a cell with a guess.
"""
from __future__ import annotations

from collections.abc import Sequence

from . import batched_engine as be
from .machines import get

TABLE_COLUMNS = ["op", "digits", "method", "n", "correct", "accuracy", "ci_low", "ci_high"]
NOT_MEASURED = ("LLaMA-3.1-8B-Instruct", "GPT-4o")  # the paper's baselines (no numbers in the kit's sources)
SCORINGS = ("reference", "result")


def modes_for(op: str, direct: bool = True, components: bool = True) -> list[str]:
    """The engine modes one operator is measured in (reflection and left_mask: the executor only, which is a Table 2
    component, so none without `components`)."""
    if get(op).symbol is None:
        return ["executor"] if components else []
    return ["full"] + (["direct"] if direct else []) + (["executor", "aligner_input", "aligner_output"]
                                                         if components else [])


def needed_modes(ops: Sequence[str], direct: bool = True, components: bool = True) -> list[str]:
    """Every engine mode `measure` will run for these operators (to look up the adapters they need first)."""
    return sorted({m for op in ops for m in modes_for(op, direct, components)})


def measure(model, ops: Sequence[str], lengths: Sequence[int], n: int, *, seed: int = 0, direct: bool = True,
            components: bool = True, batch_size: int = 128, progress: bool = False,
            scoring: str = "reference") -> list[dict]:
    """Every operator at every length in every mode it has (`modes_for`), the same `n` problems for all modes.
    `scoring` (the full process): "reference" ends a problem at its first wrong call, as the reference's loop ends
    a sample at its first mismatch; "result" runs it on to its end or its step limit and scores the result alone
    (a wrong step can be followed by a right answer, by chance for a True/False one; in the default profile most
    calls of the full process then go to problems already wrong). The executor alone always ends at its first
    wrong call.
    One engine run per mode holds the problems of every operator and length: a problem that runs long (a
    composer looping to its step limit) shares its rounds with the others' instead of leaving one cell's run
    waiting for it with a nearly empty batch. Rows come back ordered by operator, length, mode."""
    if scoring not in SCORINGS:
        raise ValueError(f"scoring {scoring!r}: use one of {', '.join(SCORINGS)}")
    problems = {(op, d): be.draw_problems(op, d, n, seed) for op in ops for d in lengths}
    modes = {op: modes_for(op, direct, components) for op in ops}
    rows = []
    for mode in dict.fromkeys(m for op in ops for m in modes[op]):
        cells = [(op, d) for op in ops for d in lengths if mode in modes[op]]
        if not cells:
            continue
        todo = [p for cell in cells for p in problems[cell]]
        stop = mode == "executor" or (mode == "full" and scoring == "reference")
        out = be.run(todo, model, mode=mode, batch_size=batch_size, progress=progress, stop_at_first_error=stop,
                     desc=f"{mode} ({len(cells)} cells)")
        digits = [d for op, d in cells for _ in problems[(op, d)]]
        extra = {"scoring": scoring} if mode == "full" else {}
        rows += [{**r, "digits": d, **extra} for r, d in zip(out, digits, strict=True)]
    rank = {(op, d, m): i for i, (op, d, m) in enumerate((op, d, m) for op in ops for d in lengths for m in modes[op])}
    return sorted(rows, key=lambda r: rank[(r["op"], r["digits"], r["mode"])])


def _table(rows: Sequence[dict], modes: dict[str, str], column: str):
    import pandas as pd

    from .stats import accuracy_row

    out = []
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["mode"] in modes:
            groups.setdefault((r["op"], r["digits"], modes[r["mode"]]), []).append(r)
    for (op, digits, name), g in groups.items():
        out.append({"op": op, "digits": digits, column: name, **accuracy_row(sum(r["correct"] for r in g), len(g))})
    return pd.DataFrame(out, columns=["op", "digits", column, "n", "correct", "accuracy", "ci_low", "ci_high"])


def table1(rows: Sequence[dict], not_measured: Sequence[str] = NOT_MEASURED):
    """CAEF's full process and the direct-answer baseline per operator and length (the operators with an aligner,
    as the paper's Table 1), plus a `not known` row for each model the kit cannot run."""
    import pandas as pd

    by_result = any(r.get("scoring") == "result" for r in rows if r["mode"] == "full")
    measured = _table(rows, {"full": "caef_by_result" if by_result else "caef", "direct": "direct"}, "method")
    cells = measured[["op", "digits"]].drop_duplicates()
    unknown = [{"op": op, "digits": d, "method": f"{name}: not known"} for op, d in cells.itertuples(index=False)
               for name in not_measured]
    out = pd.concat([measured, pd.DataFrame(unknown, columns=["op", "digits", "method"])], ignore_index=True)
    return out.astype({"n": "Int64", "correct": "Int64"})[TABLE_COLUMNS]


def table2(rows: Sequence[dict]):
    """Executor (every step right) and aligner(I) / aligner(O) accuracy per operator and length."""
    t = _table(rows, {"executor": "executor", "aligner_input": "aligner_input", "aligner_output": "aligner_output"},
               "component")
    t.insert(2, "method", "caef")
    return t


def first_errors(rows: Sequence[dict]):
    """The wrong problems of the full process (the executor run for operators without an aligner): op, digits,
    first_wrong_call, first_wrong_kind, first_wrong_field, first_wrong_adapter, calls."""
    import pandas as pd

    keep = [r for r in rows if not r["correct"] and (r["mode"] == "full" or (r["mode"] == "executor"
                                                                                 and get(r["op"]).symbol is None))]
    columns = ["op", "digits", "first_wrong_call", "first_wrong_kind", "first_wrong_field", "first_wrong_adapter",
               "calls"]
    return pd.DataFrame(keep, columns=columns) if keep else pd.DataFrame(columns=columns)


def _cell(row) -> str:
    import math

    if row["n"] is None or (isinstance(row["n"], float) and math.isnan(row["n"])):
        return "not known"
    return f"{100 * row['accuracy']:.1f} [{100 * row['ci_low']:.0f}, {100 * row['ci_high']:.0f}] (n={int(row['n'])})"


def wide(table, column: str = "method"):
    """One row per operator and `column` value, one column per length, each cell `acc [low, high] (n=N)`."""
    t = table.assign(cell=[_cell(r) for r in table.to_dict("records")])
    return t.pivot_table(index=["op", column], columns="digits", values="cell", aggfunc="first", sort=False)


def to_markdown(table, column: str = "method") -> str:
    w = wide(table, column)
    header = ["op", column] + [f"{d} digits" for d in w.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (op, name), cells in w.iterrows():
        lines.append("| " + " | ".join([op, name] + [str(c) if isinstance(c, str) else "" for c in cells]) + " |")
    return "\n".join(lines) + "\n"


def to_latex(table, column: str = "method") -> str:
    """A booktabs tabular (no pandas Styler, so no jinja2 needed): accuracy % with the 95 % interval."""
    w = wide(table, column)
    esc = lambda s: str(s).replace("_", r"\_").replace("%", r"\%")
    lines = [r"\begin{tabular}{ll" + "r" * len(w.columns) + "}", r"\toprule",
             " & ".join(["op", esc(column)] + [f"{d} digits" for d in w.columns]) + r" \\", r"\midrule"]
    for (op, name), cells in w.iterrows():
        lines.append(" & ".join([esc(op), esc(name)] + [esc(c) if isinstance(c, str) else "" for c in cells])
                     + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def save_tables(run, t1, t2) -> None:
    """table1 and table2 as CSV (in the report card), Markdown and LaTeX, in the notebook's results folder."""
    for name, table, column in (("table1", t1, "method"), ("table2", t2, "component")):
        run.save_table(name, table, headline=True)
        run.save_text(f"{name}.md", to_markdown(table, column))
        run.save_text(f"{name}.tex", to_latex(table, column))


# ----------------------------------------------------------------------------------------------- figure
from .figures import figure, label_edges, load_result, panel_grid  # noqa: E402  (registers at import)

NOTEBOOK = "05_caef_tables"
KIND_COLOURS = {"malformed": "#7f7f7f", "state": "#1f77b4", "command": "#ff7f0e", "call": "#9467bd",
                "return": "#8c564b", "aligner_input": "#d62728", "aligner_output": "#e377c2", "direct": "#bcbd22",
                "step_limit": "#000000"}


@figure("caef_first_error", notebook=NOTEBOOK)
def caef_first_error(paths):
    """Where the first wrong call falls (its index in the process) against operand length, coloured by its kind,
    one panel per operator (four to a row), one legend for the kinds: from first_errors.parquet."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    wrong = load_result(paths, NOTEBOOK, "first_errors.parquet")
    ops = list(dict.fromkeys(wrong["op"])) or ["(none)"]
    fig, axes, columns = panel_grid(len(ops), size=(3.6, 3.0), extra_height=0.6)
    lengths = sorted(wrong["digits"].unique())
    kinds = [k for k in KIND_COLOURS if k in set(wrong["first_wrong_kind"].dropna())]
    for ax, op in zip(axes, ops):
        g = wrong[(wrong["op"] == op) & wrong["first_wrong_call"].notna()]
        counts = g.groupby(["first_wrong_kind", "digits", "first_wrong_call"]).size().rename("n").reset_index()
        for kind, part in counts.groupby("first_wrong_kind"):
            ax.scatter(part["digits"], part["first_wrong_call"], s=12 + 6 * part["n"], alpha=0.6,
                       color=KIND_COLOURS.get(kind))
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths, [str(d) for d in lengths])
        ax.minorticks_off()
        ax.set_title(f"{op}: {len(g)} wrong problems" if len(g) else f"{op}: no wrong call", fontsize=9)
        ax.grid(alpha=0.3)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    label_edges(axes, columns, "operand digits", "first wrong call (index)")
    handles = [Line2D([], [], marker="o", linestyle="", color=KIND_COLOURS[k], alpha=0.6, label=k) for k in kinds]
    bottom = 0.0
    if handles:
        ncol = min(len(handles), 2 * columns)
        fig.legend(handles=handles, title="kind of the first wrong call (marker area: problems)", loc="lower center",
                   ncol=ncol, fontsize=8, title_fontsize=8, frameon=False)
        bottom = 0.25 * (1 + -(-len(handles) // ncol)) / fig.get_figheight()  # the legend's rows, in inches
    fig.suptitle("CAEF: where wrong problems first go wrong", fontsize=10)
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig
