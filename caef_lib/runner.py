"""Runs the numbered notebooks in order with Papermill.

    python -m caef_lib run --profile default [--only 03] [--from 02] [-p name=value ...] [-f params.yaml] [--force]

1. Plan: select the notebooks, merge each one's parameters (notebook defaults < profile `common` <
   profile section < `-f` file < `-p`) and validate all of them before anything runs.
2. Run: each notebook is executed by Papermill into runs/<profile>/<notebook>.ipynb with a log beside it,
   showing the cell it is in and its latest progress line (`caef_lib.progress`).
   A notebook whose completion record matches (same notebook source, parameters, library code and upstream
   results) is skipped, so a crash or Ctrl-C resumes where it stopped; --force re-runs.
3. Stop at the first failure with the notebook, the failing cell, the cause and the executed copy.
4. Write the report card, results/<profile>/report.md (`caef_lib.report`).
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from . import io
from .kernel_log import kernel_args
from .notebook_params import NOTEBOOK_PARAMS
from .params import ParameterError, fields_of, parse_cli_value, validate
from .paths import NOTEBOOKS_DIR, PROFILES_DIR, REPO_ROOT, KitPaths
from .progress import Progress, papermill_hooks
from .report import write_report

NOTEBOOK_RE = re.compile(r"^(\d\d)_[a-z0-9_]+$")


class RunFailed(RuntimeError):
    pass


@dataclass
class PlannedRun:
    name: str                    # e.g. "02_training"
    path: Path                   # the source notebook
    params: dict[str, Any]       # validated, JSON-serialisable


def discover_notebooks(folder: Path = NOTEBOOKS_DIR) -> list[tuple[str, Path]]:
    found = sorted((p.stem, p) for p in folder.glob("*.ipynb") if NOTEBOOK_RE.match(p.stem))
    for name, _ in found:
        if name not in NOTEBOOK_PARAMS:
            raise RunFailed(f"notebook {name} has no parameter class in caef_lib/notebook_params.py")
    return found


def available_profiles(folder: Path = PROFILES_DIR) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_profile(profile: str, folder: Path = PROFILES_DIR) -> dict:
    path = folder / f"{profile}.yaml"
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", profile) or not path.is_file():  # a name, not a path
        raise ParameterError(f"unknown profile {profile!r}; available: {', '.join(available_profiles(folder))}")
    data = yaml.safe_load(path.read_text()) or {}
    unknown = set(data) - {"description", "common", "notebooks"}
    if unknown:
        raise ParameterError(f"profile {profile}: unknown top-level keys {sorted(unknown)}; "
                             f"use description, common, notebooks")
    return data


def _select(notebooks: list[tuple[str, Path]], only: list[str], start: str | None) -> list[tuple[str, Path]]:
    def matches(key: str, name: str) -> bool:
        return name == key or name[:2] == key.zfill(2)

    for key in [*only, *([start] if start else [])]:
        if not any(matches(key, n) for n, _ in notebooks):
            raise ParameterError(f"no notebook {key!r}; available: {', '.join(n for n, _ in notebooks)}")
    if start:
        first = next(i for i, (n, _) in enumerate(notebooks) if matches(start, n))
        notebooks = notebooks[first:]
    if only:
        notebooks = [(n, p) for n, p in notebooks if any(matches(k, n) for k in only)]
    return notebooks


def _scoped(key: str, names: list[str]) -> tuple[str | None, str]:
    """'02.lr' or '02_training.lr' → ('02_training', 'lr'); 'lr' → (None, 'lr')."""
    if "." in key:
        scope, _, name = key.partition(".")
        for nb in names:
            if scope == nb or scope.zfill(2) == nb[:2]:
                return nb, name
        raise ParameterError(f"parameter {key!r}: no selected notebook {scope!r} ({', '.join(names)})")
    return None, key


def plan(profile: str, *, only: list[str] = (), start: str | None = None, overrides: list[str] = (),
         files: list[str | Path] = (), output_root: str | Path | None = None,
         notebooks_dir: Path = NOTEBOOKS_DIR, profiles_dir: Path = PROFILES_DIR) -> list[PlannedRun]:
    """Select notebooks and validate every parameter up front; raises ParameterError on the first problem."""
    prof = load_profile(profile, profiles_dir)
    all_notebooks = discover_notebooks(notebooks_dir)
    selected = _select(all_notebooks, list(only), start)
    names = [n for n, _ in selected]
    values: dict[str, dict[str, Any]] = {n: {} for n, _ in selected}

    def apply(source: str, mapping: dict[str, Any], strict: bool) -> None:
        """Give each key to the selected notebooks that declare it; strict: unknown keys are errors."""
        for key, value in mapping.items():
            nb, name = _scoped(key, names)
            targets = [nb] if nb else names
            takers = [n for n in targets if name in fields_of(NOTEBOOK_PARAMS[n])]
            if strict and not takers:
                accepted = sorted({f for n in targets for f in fields_of(NOTEBOOK_PARAMS[n])})
                close = difflib.get_close_matches(name, accepted, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ParameterError(f"unknown parameter {name!r} ({source}) for {', '.join(targets)}{hint}; "
                                     f"accepted: {', '.join(accepted)}")
            for n in takers:
                values[n][name] = value

    apply(f"profile {profile}: common", prof.get("common") or {}, strict=False)
    for nb, section in (prof.get("notebooks") or {}).items():
        if nb not in NOTEBOOK_PARAMS:
            raise ParameterError(f"profile {profile}: section for unknown notebook {nb!r}")
        if nb in values:
            apply(f"profile {profile}: {nb}", {f"{nb}.{k}": v for k, v in (section or {}).items()}, strict=True)
    for file in files:
        path = Path(file)
        if not path.is_file():
            raise ParameterError(f"parameter file {str(file)!r} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise ParameterError(f"parameter file {file} is not YAML: {' '.join(str(e).split())}") from None
        if not isinstance(data, dict):
            raise ParameterError(f"parameter file {file}: expected a mapping of name: value")
        sections = data.pop("notebooks", {}) or {}
        if not isinstance(sections, dict) or not all(isinstance(v, dict) or v is None for v in sections.values()):
            raise ParameterError(f"parameter file {file}: `notebooks:` maps notebook names to sections of "
                                 f"name: value")
        apply(f"file {file}", data, strict=True)
        for nb, section in sections.items():
            apply(f"file {file}", {f"{nb}.{k}": v for k, v in (section or {}).items()}, strict=True)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"-p {item!r}: write -p name=value (or -p 02.name=value for one notebook)")
        apply(f"-p {item}", {key.strip(): parse_cli_value(raw)}, strict=True)

    runs, validated = [], {}
    for name, path in selected:
        vals = values[name]
        vals["profile"] = profile
        if output_root is not None:
            vals["output_root"] = str(Path(output_root).resolve())
        validated[name] = validate(NOTEBOOK_PARAMS[name], vals, notebook=name)
        runs.append(PlannedRun(name, path, dataclasses.asdict(validated[name])))
    _add_model_checks(runs)
    _check_tables_against_training(validated.get("02_training"), validated.get("05_caef_tables"))
    return runs


def _check_tables_against_training(train, tables) -> None:
    """With notebooks 02 and 05 in one run (`train`, `tables`: their validated parameters), 05 evaluating 02's
    adapters must find every adapter it asks for (a composer's callees included: SUB CALLs REFLECTION and
    LEFT_MASK) trained by 02 in this run or already on disk from an earlier one, on 02's base; otherwise the run
    would stop at 05's adapter lookup after all of 02's training. Which adapters a run needs does not depend on the
    operands' length, so 3-digit problems stand in."""
    if train is None or tables is None or tables.model != "trained" or tables.adapters_dir or tables.adapter_map:
        return
    from . import batched_engine as be
    from .adapters import ADAPTER_KINDS
    from .caef_tables import needed_modes
    from .eval_cmd import needed_adapters
    from .models import model_root
    from .paths import KitPaths

    def same(base: str) -> str:
        return base if "/" not in base and "\\" not in base else str(Path(base).expanduser().resolve())

    if same(tables.base_model) != same(train.base_model):
        raise ParameterError(f"05_caef_tables evaluates base_model {tables.base_model!r} but 02_training trains "
                             f"{train.base_model!r}: give both with -p base_model=...")
    ops = tables.op_list()
    problems = [p for op in ops for p in be.draw_problems(op, min(3, *tables.lengths), 3, tables.seed)]
    needed = needed_adapters(problems, needed_modes(ops, tables.direct, tables.components))
    trained = {ADAPTER_KINDS[kind][0].format(op=op) for op in train.ops for kind in train.adapters}
    root = model_root(KitPaths.of(train.profile, train.output_root or None), train.base_model)
    missing = [n for n in needed if n not in trained and not (root / n / "adapter_config.json").is_file()]
    if missing:
        raise ParameterError(f"05_caef_tables (ops {ops}) needs adapter(s) {', '.join(missing)}, which 02_training "
                             f"(ops {train.ops}, adapters {train.adapters}) does not train and {root} does "
                             f"not hold; a composer needs its callees' executors too (sub: add, reflection, "
                             f"left_mask; mul: add, less_than; div: add, greater_than). Add them to 02's ops, "
                             f"narrow 05's (-p 05.ops=..., 05.direct=false), or run 05 on its own (--only 05)")


def _add_model_checks(runs: list[PlannedRun]) -> None:
    """Notebook 00 reports every local model path the other selected notebooks are configured with."""
    models = [f"{r.name}.{k}={v}" for r in runs for k, f in fields_of(NOTEBOOK_PARAMS[r.name]).items()
              if f.metadata.get("kind") == "model" for v in [r.params[k]]]
    for r in runs:
        if "check_models" in r.params:
            r.params["check_models"] = list(dict.fromkeys([*r.params["check_models"], *models]))


def _library_hash() -> str:
    h = hashlib.sha256()
    for path in sorted((REPO_ROOT / "caef_lib").rglob("*.py")):
        h.update(path.relative_to(REPO_ROOT).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def fingerprint(run: PlannedRun, upstream: list[str | None], library: str) -> str:
    blob = json.dumps({"notebook": io.sha256_file(run.path), "params": run.params, "library": library,
                       "upstream": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _done_record(runs_dir: Path, name: str) -> dict | None:
    path = runs_dir / f"{name}.done.json"
    try:
        return io.read_json(path)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _failure_message(name: str, err: Exception, out: Path, log: Path) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        first = next((line for line in (err.source or "").splitlines() if line.strip()), "")
        return (f"notebook {name} failed in cell {err.cell_index} of the executed copy, In [{err.exec_count}] "
                f"(`{first[:80]}`): {err.ename}: {err.evalue}\n"
                f"  executed copy: {out}\n  log: {log}")
    return f"notebook {name} failed: {type(err).__name__}: {err}\n  executed copy: {out}\n  log: {log}"


def execute(runs: list[PlannedRun], *, force: bool = False, echo: Callable[[str], None] = print,
            verbose: bool = False, kernel_name: str = "python3", notebooks_dir: Path = NOTEBOOKS_DIR,
            progress_interval: float = 30.0, tty: bool | None = None) -> list[dict]:
    """Run the planned notebooks in order, skipping completed ones, then write the report card. Returns one
    summary row per notebook.

    Progress: on a terminal (`tty`, default: stdout is one) one status line is updated in place; otherwise
    (or with `verbose`, which streams the notebooks' output) a line per cell and the notebook's latest
    progress line at most every `progress_interval` seconds are printed with `echo`.
    """
    import papermill as pm

    if not runs:
        return []
    paths = KitPaths.of(runs[0].params["profile"], runs[0].params.get("output_root") or None)
    runs_dir = paths.runs
    runs_dir.mkdir(parents=True, exist_ok=True)
    library = _library_hash()
    tty = sys.stdout.isatty() if tty is None else tty
    # Upstream = completion fingerprints of every earlier notebook, selected or not.
    order = [n for n, _ in discover_notebooks(notebooks_dir)]
    summary = []
    for run in runs:
        upstream = [(_done_record(runs_dir, n) or {}).get("fingerprint") for n in order[:order.index(run.name)]]
        fp = fingerprint(run, upstream, library)
        done = _done_record(runs_dir, run.name)
        out, log = runs_dir / f"{run.name}.ipynb", runs_dir / f"{run.name}.log"
        if done and done.get("fingerprint") == fp and not force:
            echo(f"[{run.name}] up to date, skipped (completed {done.get('finished')}; --force re-runs)")
            summary.append({"notebook": run.name, "status": "skipped", "seconds": 0.0})
            continue
        (runs_dir / f"{run.name}.done.json").unlink(missing_ok=True)
        echo(f"[{run.name}] running (log: {log})")
        handler = logging.FileHandler(log, mode="w", encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        pm_logger = logging.getLogger("papermill")
        pm_logger.addHandler(handler)
        pm_logger.setLevel(logging.INFO)
        if verbose:
            console = logging.StreamHandler()
            pm_logger.addHandler(console)
        progress = Progress(run.name, echo=echo, stream=sys.stdout if tty and not verbose else None,
                            interval=progress_interval)
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(run.path), str(out), parameters=run.params, kernel_name=kernel_name,
                                log_output=True, progress_bar=False, cwd=str(run.path.parent),
                                extra_arguments=kernel_args(kernel_name), **papermill_hooks(progress))
        except Exception as err:  # papermill wraps cell errors; anything else is a runner-level failure
            raise RunFailed(_failure_message(run.name, err, out, log)) from err
        finally:
            progress.close()
            pm_logger.removeHandler(handler)
            handler.close()
            if verbose:
                pm_logger.removeHandler(console)
        seconds = time.perf_counter() - t0
        io.write_json(runs_dir / f"{run.name}.done.json",
                      {"fingerprint": fp, "seconds": round(seconds, 2), "params": run.params,
                       "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
        echo(f"[{run.name}] done in {seconds:.1f} s")
        summary.append({"notebook": run.name, "status": "ran", "seconds": round(seconds, 2)})
    write_report(paths, log=echo, notebooks=order, summary=summary)
    return summary
