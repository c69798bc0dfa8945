"""The results store: what each notebook computed, saved as data.

    run = NotebookRun("03_leave_square_out", P)    # P = the notebook's validated parameters
    run.save_table("accuracy", df, headline=True)  # results/<profile>/03_leave_square_out/accuracy.csv
    run.finish(extra={...})                        # metadata.json, written last

`metadata.json` is written last and atomically, and a new run removes the previous one's as it starts, so its
presence marks a complete result: a later notebook calls `require(paths, "01_traces")` and gets a clear error,
not a half-written table (or a mix of two runs' tables), when the upstream notebook has not finished. Headline
tables (`headline=True`: what this notebook measured) are listed in metadata.json and shown in the run's report
card, results/<profile>/report.md (`caef_lib.report`).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path
from typing import Any

from . import io
from .environment import device_report, git_commit, package_versions
from .paths import KitPaths

TABLE_FORMATS = ("csv", "parquet")


class MissingResults(RuntimeError):
    pass


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class NotebookRun:
    def __init__(self, notebook: str, params: Any):
        self.notebook = notebook
        self.params = params
        self.paths = KitPaths.of(params.profile, params.output_root)
        self.dir = self.paths.results(notebook)
        self.dir.mkdir(parents=True, exist_ok=True)
        # this folder holds a complete result again only when finish() writes metadata.json
        (self.dir / "metadata.json").unlink(missing_ok=True)
        self.started = _now()
        self._t0 = time.perf_counter()
        self.files: list[str] = []
        self.headline: list[str] = []

    def save_table(self, name: str, df, fmt: str = "csv", *, headline: bool = False) -> Path:
        """Save a table (atomically); `headline=True` puts it in the report card."""
        if fmt not in TABLE_FORMATS:
            raise ValueError(f"table format {fmt!r}: use one of {TABLE_FORMATS}")
        path = self.dir / f"{name}.{fmt}"
        with io.atomic_open(path, "wb") as f:
            if fmt == "csv":
                df.to_csv(f, index=False)
            else:
                df.to_parquet(f, index=False)
        self.files.append(path.name)
        if headline and name not in self.headline:
            self.headline.append(name)
        return path

    def save_text(self, name: str, text: str) -> Path:
        """Save a text file (a rendered table: `table1.md`, `table1.tex`) atomically; listed in metadata.json."""
        path = io.write_text(self.dir / name, text)
        self.files.append(path.name)
        return path

    def save_json(self, name: str, obj: Any) -> Path:
        path = io.write_json(self.dir / f"{name}.json", obj)
        self.files.append(path.name)
        return path

    def finish(self, extra: dict | None = None) -> dict:
        """Write metadata.json (parameters, seed, commit, versions, device, wall time) and return it."""
        params = dataclasses.asdict(self.params)
        meta = {
            "notebook": self.notebook,
            "profile": self.params.profile,
            "parameters": params,
            "seed": params.get("seed"),
            "git": git_commit(),
            "versions": package_versions(),
            "device": device_report(params.get("device", "auto")),
            "started": self.started,
            "finished": _now(),
            "wall_time_s": round(time.perf_counter() - self._t0, 3),
            "files": sorted(set(self.files)),
            "headline_tables": list(self.headline),
        }
        clash = sorted(set(extra or {}) & set(meta))
        if clash:
            raise ValueError(f"metadata keys {clash} are written by the kit; name the extra entries differently")
        meta.update(extra or {})
        io.write_json(self.dir / "metadata.json", meta)
        return meta


def require(paths: KitPaths, notebook: str) -> Path:
    """The results folder of an earlier notebook, or a clear error if that notebook has not completed."""
    folder = paths.results(notebook)
    if not (folder / "metadata.json").is_file():
        raise MissingResults(
            f"results of {notebook} for profile {paths.profile!r} are missing or incomplete ({folder}); "
            f"run it first: python -m caef_lib run --profile {paths.profile} --only {notebook[:2]}")
    return folder


def load_table(paths: KitPaths, notebook: str, name: str):
    import pandas as pd

    folder = require(paths, notebook)
    for fmt in TABLE_FORMATS:
        path = folder / f"{name}.{fmt}"
        if path.is_file():
            return pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    raise MissingResults(f"{notebook} has no table {name!r} in {folder}")


def load_metadata(paths: KitPaths, notebook: str) -> dict:
    return io.read_json(require(paths, notebook) / "metadata.json")
