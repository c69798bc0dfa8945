"""Figures are drawn from saved results only, so `make figures` can redraw all of them without training.

A plotting function takes the `KitPaths` of a profile and returns a matplotlib figure; it is registered with
`@figure("name", notebook="01_traces")`. The notebook calls `draw("name", paths)`, which saves the figure as
PDF and PNG under figures/<profile>/ and returns it for display; `redraw_all` redraws every registered
figure whose notebook has results.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import io
from .paths import KitPaths
from .results import MissingResults

# Modules that register figures (imported by `redraw_all`).
FIGURE_MODULES: list[str] = ["caef_lib.datasets.report", "caef_lib.adapters", "caef_lib.lso.figures",
                             "caef_lib.rfft.figures", "caef_lib.caef_tables"]


@dataclass(frozen=True)
class FigureSpec:
    name: str
    notebook: str
    draw: Callable


FIGURES: dict[str, FigureSpec] = {}


def figure(name: str, notebook: str):
    def register(fn: Callable) -> Callable:
        FIGURES[name] = FigureSpec(name, notebook, fn)
        return fn
    return register


def panel_grid(n: int, *, columns: int = 4, size: tuple[float, float] = (3.6, 3.0), extra_height: float = 0.0,
               **subplots):
    """A figure of `n` panels (at least one), at most `columns` to a row, each `size` inches (plus
    `extra_height` for titles and legends); the unused places of the last row removed. Returns (fig, the n axes
    in reading order, the number of columns); `subplots` goes to plt.subplots (e.g. layout="constrained")."""
    import matplotlib.pyplot as plt

    n = max(1, n)
    columns = min(columns, n)
    rows = -(-n // columns)
    fig, grid = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows + extra_height),
                             squeeze=False, **subplots)
    for ax in grid.flat[n:]:
        ax.remove()
    return fig, list(grid.flat[:n]), columns


def label_edges(axes, columns: int, xlabel: str, ylabel: str) -> None:
    """Axis labels of a `panel_grid` on its edges only: `ylabel` on the first column, `xlabel` on the panels with
    no panel below them (the others' labels are cleared)."""
    for k, ax in enumerate(axes):
        ax.set_ylabel(ylabel if k % columns == 0 else "")
        ax.set_xlabel(xlabel if k + columns >= len(axes) else "")


def save(fig, paths: KitPaths, name: str, dpi: int = 150) -> list[Path]:
    import io as _io

    written = []
    for fmt in ("pdf", "png"):
        buf = _io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", metadata={"CreationDate": None} if fmt == "pdf" else None)
        written.append(io.write_bytes(paths.figures / f"{name}.{fmt}", buf.getvalue()))
    return written


def load_result(paths: KitPaths, notebook: str, name: str):
    """A table a notebook saved (CSV or Parquet), or MissingResults saying which notebook to run."""
    import pandas as pd

    path = paths.results(notebook) / name
    if not path.is_file():
        raise MissingResults(f"{path} is missing; run notebook {notebook} first")
    return pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)


def draw(name: str, paths: KitPaths):
    """Draw a registered figure from saved results, save it (PDF + PNG) and return it."""
    import matplotlib
    import matplotlib.pyplot as plt

    if FIGURES.get(name) is None:
        for module in FIGURE_MODULES:  # a figure registers when its module is imported
            importlib.import_module(module)
    if FIGURES.get(name) is None:
        raise KeyError(f"no figure named {name!r}; known: {', '.join(sorted(FIGURES))}")
    fig = FIGURES[name].draw(paths)
    save(fig, paths, name)
    if matplotlib.get_backend().lower() == "agg":
        plt.close(fig)
    return fig


def redraw_all(paths: KitPaths, log: Callable[[str], None] = print) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    for module in FIGURE_MODULES:
        importlib.import_module(module)
    drawn = []
    for name, spec in sorted(FIGURES.items()):
        try:
            draw(name, paths)
        except MissingResults as e:
            log(f"skip {name}: {e}")
            continue
        drawn.append(name)
        log(f"drew {name} -> {paths.figures / name}.{{pdf,png}}")
    return drawn
