"""CAEF's adapters in notebook 02: which to train from which files, training them, their held-out tables.

    jobs, skipped = adapter_jobs(paths, ["add"], ["executor", "aligner", "direct"])
    for job in jobs:
        pairs += train_job(job, P.train_config(job.name), model, tokenizer, paths, base_model="tiny-llama")
    by_kind, by_length, model = held_out_tables(pairs, model, tokenizer, eval_samples=100)

Every function takes explicit arguments (no notebook parameter object): a `TrainConfig` says how an adapter is
trained, `paths` where data and models live.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .datasets import dataset_path, read_samples
from .figures import figure, label_edges, panel_grid
from .generation import exact_match
from .training import LOG_COLUMNS, TrainConfig, TrainResult, train

# kind -> (adapter name pattern, dataset role). The names are CAEF's adapter names (`add`, `add_aligner`,
# `reflection`, ...); `<op>_direct` are the direct-answer baselines (`45+67=` -> `112`).
ADAPTER_KINDS = {"executor": ("{op}", "executor"), "aligner": ("{op}_aligner", "aligner"),
                 "direct": ("{op}_direct", "raw")}


@dataclass
class AdapterJob:
    name: str
    op: str
    kind: str
    train_file: Path
    test_file: Path
    stage1_file: Path | None = None   # executors with stage1=True: the prompted stage-1 training data


def adapter_jobs(paths, ops: Sequence[str], kinds: Sequence[str], stage1: bool = False
                 ) -> tuple[list[AdapterJob], list[str]]:
    """The adapters to train and, separately, the ones skipped because notebook 01 wrote no data for them
    (REFLECTION and LEFT_MASK have no aligner and no direct-answer data). With `stage1`, every executor also
    needs notebook 01's executor_stage1 file; a missing one is an error here, before any training."""
    jobs, skipped, missing = [], [], []
    for op in ops:
        for kind in kinds:
            pattern, role = ADAPTER_KINDS[kind]
            job = AdapterJob(pattern.format(op=op), op, kind, dataset_path(paths, op, role, "train"),
                             dataset_path(paths, op, role, "test"))
            if not job.train_file.is_file():
                skipped.append(f"{job.name}: no {job.train_file.relative_to(paths.root)}")
                continue
            if stage1 and kind == "executor":
                job.stage1_file = dataset_path(paths, op, "executor_stage1", "train")
                if not job.stage1_file.is_file():
                    missing.append(str(job.stage1_file.relative_to(paths.root)))
            jobs.append(job)
    if missing:
        raise FileNotFoundError(f"stage1=True needs the prompted executor data of notebook 01 (its parameter "
                                f"stage1=true): missing {', '.join(missing)}")
    return jobs, skipped


def held_out(test_file: Path, limit: int) -> list[dict]:
    """The first `limit` samples of a test file ([] when limit is 0 or the file is missing)."""
    return list(read_samples(test_file, limit=limit)) if limit and test_file.is_file() else []


def train_job(job: AdapterJob, cfg: TrainConfig, model, tokenizer, paths, *, base_model: str,
              eval_samples: int = 100, max_train_samples: int = 0, stage1_steps: int = 0,
              progress: bool = True, on_step=None, init_from: str | Path | None = None
              ) -> list[tuple[AdapterJob, TrainResult]]:
    """Train one adapter into data/models/<profile>/<base>/<adapter>/; return (job, result) pairs: one, or two
    for an executor in CAEF's two stages (`job.stage1_file`).

    cfg: how to train this adapter (its max_steps included). eval_samples: held-out samples of the adapter's
    test file for the loss and greedy exact match at the end. max_train_samples: the first N training samples
    (0 = all). Two stages: first the prompted data (instruction preamble + state) into `<adapter>_stage1/` for
    `stage1_steps` steps (0 = as many as stage 2; its pair has kind `executor_stage1`), then the plain data
    starting from those weights (CAEF's repository does not say whether its stage 2 starts from stage 1; we
    assume it does). The CAEF loop uses the stage-2 adapter. With `cfg.stop_at_exact` the (stage-2) adapter is
    evaluated every `cfg.eval_every` steps on `eval_samples` validation samples taken out of its training file
    (`validation_split`) and stops once their greedy exact match reaches it. on_step(name, step, row): called
    after every optimizer step (`name` is `<adapter>_stage1` during stage 1). init_from: an adapter folder of
    the same rank to start from instead of a fresh LoRA (a warm start, `adapter_init` in notebook 02); not with
    two stages.
    """
    from .models import adapter_dir

    done, init = [], init_from
    if job.stage1_file is not None and init_from is not None:
        raise ValueError(f"{job.name}: a warm start (init_from) and two stages (stage1) do not go together")
    if job.stage1_file is not None:
        first = AdapterJob(f"{job.name}_stage1", job.op, "executor_stage1", job.stage1_file,
                           job.stage1_file.with_name(job.stage1_file.name.replace(".train.", ".test.")))
        test = held_out(first.test_file, eval_samples)
        result = train(dataclasses.replace(cfg, max_steps=stage1_steps or cfg.max_steps, stop_at_exact=0.0),
                       model, tokenizer,
                       list(read_samples(first.train_file, limit=max_train_samples)),
                       adapter_dir(paths, base_model, first.name), eval_samples=test or None,
                       eval_exact=len(test), progress=progress, desc=first.name,
                       on_step=_named(on_step, first.name))
        done.append((first, result))
        init = result.out_dir
    samples = list(read_samples(job.train_file, limit=max_train_samples))
    if cfg.stop_at_exact:  # stop on a validation split drawn from the training file, never on the test set
        if eval_samples < 1:
            raise ValueError(f"{job.name}: stop_at_exact needs eval_samples >= 1 validation samples")
        samples, test = validation_split(samples, eval_samples, cfg.seed)
    else:
        test = held_out(job.test_file, eval_samples)
    result = train(cfg, model, tokenizer, samples, adapter_dir(paths, base_model, job.name),
                   eval_samples=test or None, eval_exact=len(test), progress=progress, desc=job.name,
                   init_from=init, on_step=_named(on_step, job.name))
    return done + [(job, result)]


def _named(on_step, name: str):
    return None if on_step is None else (lambda step, row: on_step(name, step, row))


def validation_split(samples: Sequence[dict], n: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """(training samples, validation samples): `n` samples (at most a tenth) drawn with `seed` and taken out of
    the training samples, for early stopping. A problem's steps can fall on both sides; the test file stays
    untouched for the held-out tables."""
    import random

    n = min(n, len(samples) // 10)
    if n < 1:
        raise ValueError(f"{len(samples)} training samples are too few to draw validation samples from (10 needed)")
    chosen = set(random.Random(f"validation-{seed}").sample(range(len(samples)), n))
    return ([s for i, s in enumerate(samples) if i not in chosen], [s for i, s in enumerate(samples) if i in chosen])


def _worker_setup() -> None:
    """A training worker: one thread, and no loading bars of transformers' own (a worker's stderr goes straight
    to the runner's log, one bar per base loaded; the parent's bar reports the workers' progress)."""
    import torch
    from transformers.utils import logging

    torch.set_num_threads(1)
    logging.disable_progress_bar()


def _train_in_worker(job: AdapterJob, cfg: TrainConfig, base_folder: str, paths, kwargs: dict, queue=None):
    """A worker process: load the base, train one job (no progress bar of its own: every step is reported on
    `queue` as (name, step, validation exact match or nan) for the parent's bar), return its (job, result)
    pairs."""
    from .models import load_base

    model, tokenizer = load_base(base_folder, kwargs.pop("device"))
    report = None if queue is None else (lambda name, step, row: queue.put((name, step,
                                                                             row.get("eval_exact_match"))))
    return train_job(job, cfg, model, tokenizer, paths, progress=False, on_step=report, **kwargs)


def _job_steps(job: AdapterJob, cfg: TrainConfig, stage1_steps: int) -> dict[str, int]:
    """The optimizer steps a job may take, per training run (its cap when it can stop early)."""
    steps = {job.name: cfg.max_steps}
    if job.stage1_file is not None:
        steps[f"{job.name}_stage1"] = stage1_steps or cfg.max_steps
    return steps


def job_order(jobs: Sequence[AdapterJob], configs: dict[str, TrainConfig], inits: dict[str, str]) -> list[int]:
    """Indices of `jobs` in the order they are started: every job after the job it starts from (`inits`: name ->
    name), and among the jobs that could start, the one heading the most steps first (its own cap plus the
    longest chain of jobs that start from it), so that the chains that decide the end start early."""
    index = {job.name: i for i, job in enumerate(jobs)}
    for name, source in inits.items():
        if name in index and source not in index:
            raise ValueError(f"{name} starts from {source} (adapter_init), which this run does not train")
    source_of = {index[n]: index[s] for n, s in inits.items() if n in index}
    chain: dict[int, int] = {}

    def heads(i: int) -> int:  # only asked of jobs whose sources have started: no cycle below them
        if i not in chain:
            below = [heads(d) for d, s in source_of.items() if s == i]
            chain[i] = (configs[jobs[i].name].max_steps or 0) + max(below, default=0)
        return chain[i]

    order, started = [], set()
    while len(order) < len(jobs):
        ready = [i for i in range(len(jobs)) if i not in started and source_of.get(i, -1) in started | {-1}]
        if not ready:
            raise ValueError(f"adapter_init: a cycle among {sorted(jobs[i].name for i in source_of)}")
        i = min(ready, key=lambda i: (-heads(i), i))
        order.append(i)
        started.add(i)
    return order


def train_jobs(jobs: Sequence[AdapterJob], configs: dict[str, TrainConfig], base_folder: str, paths, *,
               base_model: str, device: str = "auto", workers: int = 1, model=None, tokenizer=None,
               eval_samples: int = 100, max_train_samples: int = 0, stage1_steps: int = 0,
               inits: dict[str, str] | None = None, progress: bool = True) -> list[tuple[AdapterJob, TrainResult]]:
    """Train every job (`train_job`, `configs[job.name]`); the pairs come back in the order of `jobs`.

    inits: adapter name -> the name of another job whose trained weights it starts from (a warm start); that
    job is trained first. The order is `job_order`'s. workers 1: one after another in this process, on `model`
    (loaded from `base_folder` when not given), with torch's threads. workers N > 1: N worker processes of one
    thread each, every one loading the base from `base_folder` and training one job at a time; a job is handed
    to a free worker once the job it starts from has finished. A job's weights depend on its seed, data,
    settings and starting weights and on the threads it runs with, not on the other jobs: N workers give the
    same weights as one worker with one thread (`torch.set_num_threads(1)`), byte for byte (tested). Finished
    jobs found on disk are reused either way (`training.train`)."""
    import math
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from contextlib import nullcontext
    from multiprocessing import get_context

    kwargs = dict(base_model=base_model, eval_samples=eval_samples, max_train_samples=max_train_samples,
                  stage1_steps=stage1_steps)
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if not jobs:
        return []
    inits = dict(inits or {})
    order = job_order(jobs, configs, inits)
    index = {job.name: i for i, job in enumerate(jobs)}
    done: dict[int, list] = {}

    def init_from(i: int):
        source = inits.get(jobs[i].name)
        return None if source is None else str(done[index[source]][-1][1].out_dir)

    if workers == 1 or len(jobs) <= 1:
        if model is None:
            from .models import load_base

            model, tokenizer = load_base(base_folder, device)
        for i in order:
            done[i] = train_job(jobs[i], configs[jobs[i].name], model, tokenizer, paths, progress=progress,
                                init_from=init_from(i), **kwargs)
        return [pair for i in range(len(jobs)) for pair in done[i]]
    from tqdm import tqdm

    caps = {i: _job_steps(jobs[i], configs[jobs[i].name], stage1_steps) for i in range(len(jobs))}
    cap_of = {name: cap for job_caps in caps.values() for name, cap in job_caps.items()}
    steps = dict.fromkeys(cap_of, 0)
    running: dict[str, str] = {}  # training run -> " exact x %" of its latest evaluation ("" before the first)
    context = get_context("spawn")
    # One bar over the steps of all jobs (a job that stops early jumps to its cap when it ends), fed by the
    # workers' per-step reports; a finished job's line says its steps, whether it stopped early, its wall time.
    # At most `workers` jobs are handed to the pool at a time, so that a job becoming ready (its source done)
    # is not queued behind jobs of lower priority.
    with (context.Manager() if progress else nullcontext()) as manager, ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)), mp_context=context, initializer=_worker_setup) as pool:
        reports = manager.Queue() if progress else None
        bar = tqdm(total=sum(cap_of.values()), unit="step", desc=f"adapters ({workers} workers)",
                   disable=not progress)
        futures, waiting = {}, list(order)
        while waiting or futures:
            for i in [i for i in waiting if inits.get(jobs[i].name) is None or index[inits[jobs[i].name]] in done]:
                if len(futures) >= workers:
                    break
                waiting.remove(i)
                futures[pool.submit(_train_in_worker, jobs[i], configs[jobs[i].name], str(base_folder), paths,
                                    {**kwargs, "device": device, "init_from": init_from(i)}, reports)] = i
            finished, _ = wait(set(futures), timeout=1.0, return_when=FIRST_COMPLETED)
            while reports is not None and not reports.empty():
                name, step, exact = reports.get()
                steps[name] = step
                running.setdefault(name, "")
                if exact is not None and not math.isnan(exact):
                    running[name] = f" exact {exact:.0%}"
            for future in finished:
                i = futures.pop(future)
                done[i] = future.result()
                steps.update(caps[i])
                for name in caps[i]:
                    running.pop(name, None)
                result = done[i][-1][1].summary
                bar.write(f"{jobs[i].name}: done, {result.get('steps', '?')} steps"
                          f"{' (stopped early)' if result.get('stopped_early') else ''}, "
                          f"{result.get('wall_time_s', '?')} s")
            bar.n = sum(steps.values())
            bar.set_postfix_str("; ".join(f"{name} {steps[name]}{f'/{cap_of[name]}' if cap_of[name] else ''}{exact}"
                                          for name, exact in running.items()), refresh=False)
            bar.refresh()
        bar.close()
    return [pair for i in range(len(jobs)) for pair in done[i]]


def exact_match_by_kind(model, tokenizer, samples: Sequence[dict], *, batch_size: int = 32):
    """Greedy exact match of executor steps per kind of step (`machines.step_kind`: `q1->q1`, `halt`, ...).

    One number for all steps hides what a model has learnt: for ADD a third of the steps only copy the state
    (`halt`) or write the last carry (`q1->qH`), and a model that has not learnt to add still gets those
    right. A composer's steps include its CALLs (`q1->q2 CALL`) and the steps that take a callee's result back
    (`... (return)`). Returns a DataFrame: kind, steps, exact_match (a row `all` first).
    """
    import pandas as pd

    from .machines import step_kind

    _, answers = exact_match(model, tokenizer, samples, batch_size=batch_size)
    frame = pd.DataFrame({"kind": [step_kind(s["response"], s["prompt"]) for s in samples],
                          "correct": [a == s["response"] for a, s in zip(answers, samples)]})
    overall = frame["correct"].mean() if len(frame) else float("nan")
    rows = [{"kind": "all", "steps": len(frame), "exact_match": overall}]
    for kind, group in sorted(frame.groupby("kind"), key=lambda kg: -len(kg[1])):
        rows.append({"kind": kind, "steps": len(group), "exact_match": group["correct"].mean()})
    return pd.DataFrame(rows, columns=["kind", "steps", "exact_match"])


def aligner_exact_match_by_length(model, tokenizer, samples: Sequence[dict], *, batch_size: int = 32):
    """Greedy exact match of aligner samples per direction (`to state`: `45+67=` -> first state; `to answer`:
    halt state -> `45+67=112`) and digits of the longer operand (`machines.aligner_sample_kind`): a small
    model's aligner fails on reversing long operands first, which one overall number hides. Returns a DataFrame:
    direction, digits, samples, exact_match, sorted by direction and digits.
    """
    import pandas as pd

    from .machines import aligner_sample_kind

    _, answers = exact_match(model, tokenizer, samples, batch_size=batch_size)
    kinds = [aligner_sample_kind(s["prompt"], s["response"]) for s in samples]
    frame = pd.DataFrame({"direction": [d for d, _ in kinds], "digits": [n for _, n in kinds],
                          "correct": [a == s["response"] for a, s in zip(answers, samples)]})
    columns = ["direction", "digits", "samples", "exact_match"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    table = frame.groupby(["direction", "digits"], sort=True).agg(samples=("correct", "size"),
                                                                   exact_match=("correct", "mean"))
    return table.reset_index()[columns]


def held_out_tables(pairs: Sequence[tuple[AdapterJob, TrainResult]], model, tokenizer, *, eval_samples: int = 100,
                    device: str = "auto"):
    """Held-out greedy exact match of every trained executor per kind of step (`exact_match_by_kind`) and of
    every aligner per direction and operand length (`aligner_exact_match_by_length`), on the first
    `eval_samples` samples of each test file.

    `model` is the shared base or a peft model already carrying some adapters; each result is loaded with
    `models.load_trained` (a LoRA adapter is attached and made active, a fully fine-tuned model loaded from its
    folder). Returns (executor DataFrame adapter/kind/steps/exact_match, aligner DataFrame
    adapter/direction/digits/samples/exact_match, the model with the LoRA adapters attached).
    """
    import pandas as pd
    from peft import PeftModel

    from .models import load_trained

    scorers = {"executor": exact_match_by_kind, "aligner": aligner_exact_match_by_length}
    tables = {kind: [] for kind in scorers}
    for job, result in pairs:
        test = held_out(job.test_file, eval_samples) if job.kind in scorers else []
        if not test:
            continue
        evaluated = load_trained(model, result.out_dir, job.name, device)
        if isinstance(evaluated, PeftModel):
            model = evaluated
        tables[job.kind].append(scorers[job.kind](evaluated, tokenizer, test).assign(adapter=job.name))
    columns = {"executor": ["adapter", "kind", "steps", "exact_match"],
               "aligner": ["adapter", "direction", "digits", "samples", "exact_match"]}
    executor, aligner = (pd.concat(tables[k], ignore_index=True)[columns[k]] if tables[k]
                         else pd.DataFrame(columns=columns[k]) for k in ("executor", "aligner"))
    return executor, aligner, model


def summary_row(result: TrainResult, job: AdapterJob | None = None) -> dict:
    """One row of notebook 02's summary table (the tiny base's pre-training has kind 'base'). `eval_loss` and
    `eval_exact_match` are the last evaluation's, on what `evaluated_on` says: `validation` (samples drawn out of
    the training file, for an adapter trained to a target) or `held-out` (the test file's first samples)."""
    s = result.summary
    target = (s.get("config") or {}).get("stop_at_exact") or 0
    return {"adapter": job.name if job else "base", "op": job.op if job else "", "kind": job.kind if job else "base",
            "method": s.get("method"), "steps": s.get("steps"), "stopped_early": s.get("stopped_early", False),
            "samples": s.get("samples"),
            "tokens": s.get("tokens"), "final_loss": s.get("final_loss"),
            "eval_loss": s.get("final_eval_loss"), "eval_exact_match": s.get("final_eval_exact_match"),
            "evaluated_on": "validation" if target else "held-out",
            "wall_time_s": s.get("wall_time_s"), "tokens_per_s": s.get("tokens_per_s"),
            "trainable_parameters": s.get("trainable_parameters"), "parameters": s.get("parameters"),
            "reused": result.skipped}


def curves_table(results: Sequence[tuple[str, str, TrainResult]]):
    """All loss curves in one long table: adapter, kind, then the training log columns."""
    import pandas as pd

    frames = [r.log.assign(adapter=name, kind=kind) for name, kind, r in results if len(r.log)]
    if not frames:
        return pd.DataFrame(columns=["adapter", "kind", *LOG_COLUMNS])
    return pd.concat(frames, ignore_index=True)[["adapter", "kind", *LOG_COLUMNS]]


# --------------------------------------------------------------------------------------------------------
# Figures

ROLE_COLOURS = {"base": "#1f77b4", "executor": "#1f77b4", "executor stage 1": "#17becf", "aligner": "#ff7f0e",
                "direct": "#7f7f7f"}


def adapter_role(name: str, kind: str) -> tuple[str, str]:
    """(operator, role) of a loss curve: `add_aligner` -> ("add", "aligner"), `add_stage1` -> ("add", "executor
    stage 1"), `reflection` -> ("reflection", "executor"); the role picks the curve's colour in `training_loss`."""
    if name.endswith("_stage1"):
        return name[:-len("_stage1")], "executor stage 1"
    for suffix in ("_aligner", "_direct"):
        if name.endswith(suffix):
            return name[:-len(suffix)], suffix[1:]
    return name, kind


def plot_loss(curves, ax=None, title: str = "training loss", colours: dict | None = None):
    """Loss against optimizer step, one line per adapter (`curves`: DataFrame with adapter, step, loss; optional
    eval_loss, drawn as dots). `colours`: adapter -> colour (default: matplotlib's cycle)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    for name, df in curves.groupby("adapter", sort=False):
        # per-step losses jump with the length bucket of the batch: draw them faintly, and a running mean
        window = max(1, len(df) // 40)
        line, = ax.plot(df["step"], df["loss"].rolling(window, min_periods=1).mean(), lw=1.3, label=name,
                        color=(colours or {}).get(name))
        if window > 1:
            ax.plot(df["step"], df["loss"], lw=0.5, alpha=0.25, color=line.get_color())
        ev = df.dropna(subset=["eval_loss"]) if "eval_loss" in df else df.iloc[:0]
        if len(ev):
            ax.plot(ev["step"], ev["eval_loss"], "o", ms=3, color=line.get_color())
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss per answer token")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return ax


@figure("training_loss", notebook="02_training")
def training_loss_figure(paths):
    """Notebook 02: loss curves of the tiny base's generic pre-training (if any), then one panel per operator
    with its executor, aligner and direct-answer adapters (colours by role; dots: held-out loss)."""
    import pandas as pd

    from .results import MissingResults

    path = paths.results("02_training") / "loss_curves.csv"  # drawn before the notebook finishes
    if not path.is_file():
        raise MissingResults(f"{path} is missing; run notebook 02_training first")
    curves = pd.read_csv(path)
    roles = {name: adapter_role(name, kind) for name, kind in
             curves[["adapter", "kind"]].drop_duplicates().itertuples(index=False)}
    colours = {name: ROLE_COLOURS.get(role, "#2ca02c") for name, (_, role) in roles.items()}
    base = curves[curves["kind"] == "base"]
    adapters = curves[curves["kind"] != "base"]
    panels = [(base, "tiny base: generic pre-training")] if len(base) else []
    panels += [(df, op) for op, df in adapters.groupby(adapters["adapter"].map(lambda n: roles[n][0]), sort=False)]
    fig, axes, columns = panel_grid(len(panels), columns=5, size=(3.4, 2.8), extra_height=0.4)
    for ax, (df, title) in zip(axes, panels):
        plot_loss(df, ax, title, colours)
    label_edges(axes, columns, "optimizer step", "loss per answer token")
    fig.suptitle("Notebook 02: training loss (faint: per step; line: running mean; dots: held-out loss)",
                 fontsize=10)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------- notebook 02's adapters elsewhere
def notebook02_caef(paths, op: str = "add") -> dict:
    """Notebook 02's `<op>` executor and `<op>_aligner`, for the notebooks that reuse them (03's CAEF probe, 04's
    CAEF contestant): {"base": its base folder, "adapters": {name: folder}, "train_digits": [min, max] of
    notebook 01's training lengths}. A clear error when notebook 02 has not run or did not train them."""
    import json

    from .results import require

    folder02, folder01 = require(paths, "02_training"), require(paths, "01_traces")
    meta02 = json.loads((folder02 / "metadata.json").read_text())
    names = (op, op + "_aligner")
    missing = set(names) - set(meta02.get("adapters", {}))
    if missing:
        raise RuntimeError(f"notebook 02 did not train {', '.join(sorted(missing))}: add {op!r} to its ops, or run "
                           f"this notebook with caef_adapters=train or caef=false")
    params01 = json.loads((folder01 / "metadata.json").read_text())["parameters"]
    return {"base": meta02["base_folder"], "adapters": {k: meta02["adapters"][k] for k in names},
            "train_digits": [params01["min_digits"], params01["max_digits"]]}


def trained_problems(paths, op: str, problems: Sequence[tuple]) -> set[tuple]:
    """The problems among `problems` that are in notebook 01's training split of `op` (what notebook 02's
    executor, aligner and direct adapters of `op` were trained on), by the split's problem digests."""
    from .datasets.builder import digest, digests_path, read_digests

    path = digests_path(paths, op, "train")
    if not path.exists():
        raise FileNotFoundError(f"{path}: notebook 01's training problems of {op} are missing; run notebook 01")
    seen = read_digests(path)
    return {p for p in problems if digest(op, tuple(p)) in seen}
