"""The report card of a run: results/<profile>/report.md.

One Markdown page that says what ran, on what, for how long, and what it measured:

* the environment (git commit, device, package versions) from the newest notebook's metadata.json;
* one row per notebook: ran / skipped / not run, its time (runs/<profile>/<nb>.done.json), commit;
* each notebook's headline tables (`run.save_table(..., headline=True)`) and the scalar entries it passed to
  `run.finish(extra=...)`.

It is built from saved files only, so the runner writes it at the end of `run` and `make figures` rewrites
it without running anything. Tables are rendered by a small renderer of its own (pandas' `to_markdown`
needs the `tabulate` package, which the kit does not install).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import numbers
from pathlib import Path
from typing import Callable, Iterable

from . import io
from .environment import PACKAGES
from .paths import KitPaths

MAX_ROWS = 30     # longer tables are cut, with a note pointing at the full file
MAX_CHARS = 60    # of one text cell
# metadata.json keys written by `NotebookRun.finish` (everything else came from `extra=`)
KIT_KEYS = {"notebook", "profile", "parameters", "seed", "git", "versions", "device", "started", "finished",
            "wall_time_s", "files", "headline_tables"}


# ----------------------------------------------------------------------------------------- Markdown helpers
def format_value(v) -> str:
    """A table cell: integers as integers, floats to 4 significant digits, empty for missing values."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, numbers.Integral):
        return str(int(v))
    if isinstance(v, numbers.Real):
        v = float(v)
        if math.isinf(v):
            return str(v)
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        if abs(v) >= 1000:
            return f"{v:.1f}"
        return f"{v:.4g}" if abs(v) >= 1e-3 else f"{v:.2e}"
    text = " ".join(str(v).split()).replace("|", "\\|")
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS - 3] + "..."


def markdown_table(df, max_rows: int = MAX_ROWS, source: str = "") -> str:
    """A pandas DataFrame as a Markdown table (no index); numeric columns right-aligned; at most
    `max_rows` rows, then a note naming `source`, the full table."""
    import pandas as pd

    if df.columns.empty:
        return "*(empty table)*\n"
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns]
    lines = ["| " + " | ".join(format_value(c) for c in df.columns) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    for row in df.head(max_rows).itertuples(index=False):
        lines.append("| " + " | ".join(format_value(v) for v in row) + " |")
    if len(df) > max_rows:
        lines.append(f"\n*first {max_rows} of {len(df)} rows" + (f"; all in `{source}`" if source else "") + "*")
    elif len(df) == 0:
        lines.append("\n*(no rows)*")
    return "\n".join(lines) + "\n"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def _commit(meta: dict | None) -> str:
    git = (meta or {}).get("git") or {}
    commit = str(git.get("commit") or "")
    if not commit:
        return ""
    return commit[:10] + (" (dirty)" if git.get("dirty") else "")


def _read(path: Path) -> dict | None:
    try:
        return io.read_json(path)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


# ----------------------------------------------------------------------------------------- sections
def _environment(meta: dict | None) -> list[str]:
    if meta is None:
        return ["## Environment", "", "*No notebook has results yet.*", ""]
    dev = meta.get("device") or {}
    gpus = ", ".join(f"{g['name']} ({g['memory_gib']} GiB)" for g in dev.get("gpus", []))
    rows = [("commit", _commit(meta)),
            ("device", dev.get("device", "") + (f": {gpus}" if gpus else "")),
            ("bf16", dev.get("bf16", "")),
            ("CPU cores / torch threads", f"{dev.get('cpu_count', '')} / {dev.get('torch_threads', '')}")]
    versions = meta.get("versions") or {}
    rows += [(name, versions[name]) for name in ("python", *PACKAGES) if name in versions]
    out = ["## Environment", "", f"From the metadata of {meta.get('notebook')}, finished {meta.get('finished')}.", "",
           "| item | value |", "|---|---|"]
    out += [f"| {k} | {format_value(v)} |" for k, v in rows]
    return out + [""]


def _times(paths: KitPaths, names: list[str], metas: dict, statuses: dict[str, str]) -> list[str]:
    out = ["## Notebooks", "", "| notebook | status | time | finished | commit |", "|---|---|---:|---|---|"]
    total = 0.0
    for name in names:
        done = _read(paths.runs / f"{name}.done.json")
        status = statuses.get(name) or ("done" if done else "results only" if name in metas else "not run")
        if status == "skipped":
            status = "skipped (up to date)"
        seconds = done.get("seconds") if done else None
        total += seconds or 0.0
        out.append(f"| {name} | {status} | {duration(seconds)} | {(done or {}).get('finished', '')} "
                   f"| {_commit(metas.get(name))} |")
    out.append(f"| total | | {duration(total)} | | |")
    return out + ["", "Times are those of the run that produced the results (also for skipped notebooks).", ""]


def _notebook(paths: KitPaths, name: str, meta: dict, log: Callable[[str], None]) -> list[str]:
    from .results import TABLE_FORMATS, MissingResults, load_table

    out = [f"## {name}", ""]
    extras = {k: v for k, v in meta.items() if k not in KIT_KEYS and isinstance(v, (str, numbers.Number))}
    if extras:
        out += [" · ".join(f"{k}: **{format_value(v)}**" for k, v in extras.items()), ""]
    headline = meta.get("headline_tables") or []
    if not headline:
        out += ["*No headline tables.*", ""]
    for table in headline:
        out += [f"### {table}", ""]
        try:
            df = load_table(paths, name, table)
        except (MissingResults, OSError, ValueError) as e:
            log(f"report: {name}/{table}: {e}")
            out += [f"*missing: {e}*", ""]
            continue
        source = next((f"results/{paths.profile}/{name}/{table}.{fmt}" for fmt in TABLE_FORMATS
                       if (paths.results(name) / f"{table}.{fmt}").is_file()), "")
        out += [markdown_table(df, source=source)]
    return out


def render(paths: KitPaths, names: list[str], statuses: dict[str, str] | None = None,
           log: Callable[[str], None] = print) -> str:
    """The report text. `statuses`: notebook -> 'ran' / 'skipped' from the runner (else read from disk)."""
    metas = {n: m for n in names if (m := _read(paths.results(n) / "metadata.json")) is not None}
    newest = max(metas.values(), key=lambda m: str(m.get("finished", "")), default=None)
    written = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Report card: profile `{paths.profile}`", "",
             f"Written {written} from the saved results (`make figures` rewrites it).", ""]
    lines += _environment(newest)
    lines += _times(paths, names, metas, statuses or {})
    for name in names:
        if name in metas:
            lines += _notebook(paths, name, metas[name], log)
    return "\n".join(lines).rstrip() + "\n"


def write_report(paths: KitPaths, log: Callable[[str], None] = print, notebooks: Iterable[str] | None = None,
                 summary: list[dict] | None = None) -> Path:
    """Write results/<profile>/report.md (atomically) and return its path.

    notebooks: every notebook of the study, in order (default: those in notebooks/);
    summary: the runner's rows ({'notebook', 'status', ...}) to tell 'ran' from 'skipped'.
    """
    if notebooks is None:
        from .runner import discover_notebooks

        notebooks = [n for n, _ in discover_notebooks()]
    statuses = {row["notebook"]: row["status"] for row in summary or []}
    text = render(paths, list(notebooks), statuses, log)
    io.write_text(paths.report, text)
    log(f"report card: {paths.report}")
    return paths.report
