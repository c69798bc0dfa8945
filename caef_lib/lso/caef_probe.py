"""The question neither paper answers: does executing a rule step by step (CAEF) remove the Leave-Square-Out hole?

    probe = caef_square_probe("1hole_(50, 50)_10_441_0-100", base, adapters={"add": ..., "add_aligner": ...},
                              trained_on=problems_the_adapters_saw)        # or: train them here (executor_cfg, ...)

CAEF's ADD executor and aligner (LoRA adapters on notebook 02's base: the kit's pre-trained tiny one, or the
paper profile's LLaMA) are run on the held-out square and the cells around it, by the whole process (aligner(I),
executor steps until halt, aligner(O); scored by result, as the probe scores every format: the reference's loop
would instead end a problem at its first call that differs from the machine's, which `first_wrong_call` records)
and by the executor alone (from the true first state). The adapters are either notebook 02's (trained on
notebook 01's 1-8 digit problems; the few square cells among them count as trained on) or trained here on the
split's training cells only (`caef_samples`, `train_caef`).
"""
from __future__ import annotations

import random
from collections.abc import Sequence

from ..datasets.render import num_transitions
from ..datasets.samples import aligner_pairs, executor_pair
from ..engine import ALIGNER_SUFFIX
from ..stats import accuracy_row


def caef_samples(records: Sequence[dict], op: str = "add", seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Executor samples (every transition of every problem) and aligner samples (both directions) of the
    problems (a, b) of `records`, shuffled with `seed`."""
    executor, aligner = [], []
    for r in records:
        a, b = r["a"], r["b"]
        for j in range(num_transitions(op, a, b)):
            prompt, response = executor_pair(op, a, b, j)
            executor.append({"prompt": prompt, "response": response})
        for prompt, response in aligner_pairs(op, a, b):
            aligner.append({"prompt": prompt, "response": response})
    rng = random.Random(f"lso-caef-{seed}")
    rng.shuffle(executor)
    rng.shuffle(aligner)
    return executor, aligner


def train_caef(records: Sequence[dict], base_folder: str, out_dir, *, executor_cfg, aligner_cfg,
               op: str = "add", device: str = "auto", progress: bool = True) -> dict:
    """`<op>` and `<op>_aligner` LoRA adapters on the base in `base_folder`, trained only on the problems (a, b)
    of `records` (every executor step and both aligner directions), saved in `out_dir/<op>` and
    `out_dir/<op>_aligner`. Returns {name: TrainResult}."""
    from pathlib import Path

    from ..models import load_base
    from ..training import train

    executor, aligner = caef_samples(records, op=op, seed=executor_cfg.seed)
    model, tokenizer = load_base(base_folder, device)
    out = Path(out_dir)
    return {name: train(cfg, model, tokenizer, data, out / name, progress=progress, desc=f"CAEF {name}")
            for name, cfg, data in ((op, executor_cfg, executor), (op + ALIGNER_SUFFIX, aligner_cfg, aligner))}


def load_caef(base_folder: str, adapters: dict, device: str = "auto", op: str = "add"):
    """(peft model, tokenizer): the base in `base_folder` carrying `<op>` and `<op>_aligner` from
    `adapters` ({name: folder})."""
    from ..models import load_base, load_trained

    model, tokenizer = load_base(base_folder, device)
    for name in (op, op + ALIGNER_SUFFIX):
        model = load_trained(model, adapters[name], name, device)
    return model, tokenizer


def run_caef(model, tokenizer, cells: Sequence[tuple[int, int]], op: str = "add", *, mode: str = "full",
             batch_size: int = 128, progress: bool = False, answer=None) -> list[dict]:
    """Run CAEF on every (a, b) with a peft model carrying `<op>` and `<op>_aligner`, by the batched engine
    (`caef_lib.batched_engine`; `answer` replaces the model by any `model(requests) -> answers`). `mode` "full"
    is the whole process (aligner(I), executor steps, aligner(O)); "executor" starts from the true first state and
    scores the halt state (the reference's `--execute`), so the aligner cannot fail. Returns a dict per cell:
    a, b, correct, calls, error (None or the process's reason), first_wrong_call (the first call whose answer
    differs from the machine's own answer, or None) and first_wrong_kind (the adapter that made it: "executor" or
    "aligner")."""
    from .. import batched_engine as be

    model_fn = answer or be.HFModel(model, tokenizer, batch_size=batch_size)
    rows = be.run([(op, a, b) for a, b in cells], model_fn, mode=mode, batch_size=batch_size, progress=progress,
                  desc=f"CAEF {mode}")
    out = []
    for (a, b), r in zip(cells, rows):
        who = r["first_wrong_adapter"]
        out.append({"a": a, "b": b, "correct": r["correct"], "calls": r["calls"], "error": r["error"],
                    "first_wrong_call": r["first_wrong_call"],
                    "first_wrong_kind": None if who is None else "aligner" if who.endswith(ALIGNER_SUFFIX)
                    else "executor"})
    return out


# the probe's formats: CAEF's whole process, and its executor alone (from the true first state)
MODES = {"caef": "full", "caef_executor": "executor"}


def probe_cells(split, margin: int) -> list[tuple[int, int]]:
    """The cells CAEF is run on: the square(s) of `split` and `margin` cells around them, inside the 0-99 grid."""
    return sorted({(a, b) for s in split.squares
                   for a in range(max(0, s.cx - s.half - margin), min(100, s.cx + s.half + margin + 1))
                   for b in range(max(0, s.cy - s.half - margin), min(100, s.cy + s.half + margin + 1))})


def caef_square_probe(split_name: str, base_folder: str, models_dir=None, *, adapters: dict | None = None,
                      trained_on=None, executor_cfg=None, aligner_cfg=None, margin: int = 5,
                      formats: Sequence[str] = ("caef", "caef_executor"), device: str = "auto",
                      batch_size: int = 128, progress: bool = True, answer=None) -> dict:
    """CAEF on a Leave-Square-Out addition split, run on the square(s) and `margin` cells around them.

    Either `adapters` ({"add": folder, "add_aligner": folder}: adapters trained elsewhere, e.g. notebook 02's, with
    `trained_on` the problems they were trained on) or, without it, `add` and `add_aligner` trained here on the
    split's training cells (`executor_cfg`, `aligner_cfg`; saved under `models_dir`). A cell counts as held out
    when the adapters were never trained on it; held-out cells outside the square are the region `margin`, cells
    trained on (inside the square too) the region `outside`, so no trained cell is ever scored as held out.
    `formats`: "caef" (the full process) and/or "caef_executor" (the executor alone, from the true first state);
    `answer` replaces the adapters by any `model(requests) -> answers` (tests).
    Returns {"cells": DataFrame (a, b, x, y, in_train, greedy, sampled=nan, calls, error, first_wrong_call,
    first_wrong_kind, format), "summary": rows as probe.region_summary, "by_distance": rows as
    probe.accuracy_by_distance (only for adapters trained here: the distance to scattered problems of another
    training set would mean something else), "train": [TrainResult, ...] (empty when `adapters` is given), "model"
    and "tokenizer" (the peft model carrying both adapters; None with `answer`)}."""
    from pathlib import Path

    import pandas as pd

    from .probe import accuracy_by_distance, region_summary, regions
    from .splits import build_split, parse_split

    split = parse_split("addition", split_name)
    if split.kind == "random":
        raise ValueError("the CAEF probe needs a square split")
    unknown = sorted(set(formats) - set(MODES))
    if unknown or not formats:
        raise ValueError(f"formats {list(formats)!r}: use some of {', '.join(MODES)}")
    if adapters is not None and trained_on is None:
        raise ValueError("adapters trained elsewhere need trained_on, the problems they were trained on (set() if "
                         "none of the grid's)")
    cells = probe_cells(split, margin)
    results = []
    if adapters is None and answer is None:
        if executor_cfg is None or aligner_cfg is None or models_dir is None:
            raise ValueError("give adapters (and trained_on), or executor_cfg, aligner_cfg and models_dir to train")
        train_records, _ = build_split("addition", split.name)
        trained = train_caef(train_records, base_folder, Path(models_dir) / split.folder,
                             executor_cfg=executor_cfg, aligner_cfg=aligner_cfg, device=device, progress=progress)
        results = list(trained.values())
        adapters = {k: r.out_dir for k, r in trained.items()}
        trained_on = {(r["a"], r["b"]) for r in train_records}
    trained_on = set(map(tuple, trained_on or ()))
    peft_model, tokenizer = (None, None) if answer else load_caef(base_folder, adapters, device)
    frames, summary, by_distance = [], [], []
    for fmt in formats:
        rows = run_caef(peft_model, tokenizer, cells, mode=MODES[fmt], batch_size=batch_size, progress=progress,
                        answer=answer)
        frame = pd.DataFrame(rows)
        frame = frame.assign(x=frame["a"], y=frame["b"], in_train=[c in trained_on for c in cells],
                             greedy=frame["correct"].astype(float), sampled=float("nan")).drop(columns="correct")
        labels = {"task": "addition", "split": split.name, "format": fmt, "vocabulary": "caef"}
        region = regions(frame, split)
        held_out = frame[~frame["in_train"]]
        for row in region_summary(held_out[region[held_out.index] != "outside"], split, 0, labels):
            if row["region"] != "outside":
                summary.append(row)
        for name, part in (("margin", held_out[region[held_out.index] == "outside"]),
                           ("outside", frame[frame["in_train"]])):
            if len(part):
                summary.append({**labels, "measure": "greedy", "region": name, "cells": len(part),
                                **accuracy_row(int(part["greedy"].sum()), len(part))})
        frames.append(frame.assign(**labels))
        if results:
            by_distance += accuracy_by_distance(frame, labels)
    return {"cells": pd.concat(frames, ignore_index=True), "summary": summary, "by_distance": by_distance,
            "train": results, "model": peft_model, "tokenizer": tokenizer}


def notebook02_probe(paths, split_name: str, source: dict, *, margin: int = 5, device: str = "auto",
                     batch_size: int = 128, progress: bool = True) -> dict:
    """`caef_square_probe` with notebook 02's adapters (`source`: `adapters.notebook02_caef(paths)`); the probed
    cells among notebook 01's training problems of ADD count as trained on."""
    from ..adapters import trained_problems
    from .splits import parse_split

    seen = trained_problems(paths, "add", probe_cells(parse_split("addition", split_name), margin))
    return caef_square_probe(split_name, source["base"], adapters=source["adapters"], trained_on=seen, margin=margin,
                             device=device, batch_size=batch_size, progress=progress)


# ----------------------------------------------------------------------------------- is a failure about the square?
def top_column(a: int, b: int) -> tuple[int, int, int] | None:
    """The leading column of a + b for operands of the same length: (a's leading digit, b's, the carry into that
    column), or None when the lengths differ. The last step an executor writes before the halt is this column."""
    sa, sb = str(a), str(b)
    if len(sa) != len(sb):
        return None
    rest = 10 ** (len(sa) - 1)
    return int(sa[0]), int(sb[0]), int(a % rest + b % rest >= rest) if len(sa) > 1 else 0


def column_problems(column: tuple[int, int, int], digits: int, n: int, seed: int = 0) -> list[tuple[int, int]]:
    """`n` additions of two `digits`-digit operands whose leading column is `column` (digits and carry in),
    seeded: the same digit fact as a square cell's, in problems far from the square."""
    x, y, carry = column
    if digits < 2 or carry not in (0, 1):
        raise ValueError("column problems need >= 2 digits and a carry of 0 or 1")
    rest = 10 ** (digits - 1)
    rng = random.Random(f"lso-column-{column}-{digits}-{seed}")
    out: list[tuple[int, int]] = []
    while len(out) < n:
        ra, rb = rng.randrange(rest), rng.randrange(rest)
        if (ra + rb >= rest) == bool(carry):
            out.append((x * rest + ra, y * rest + rb))
    return out


def columns_elsewhere(model, tokenizer, cells, split, *, lengths: Sequence[int] = (3, 4), n: int = 30, seed: int = 0,
                      mode: str = "executor", batch_size: int = 128, answer=None) -> list[dict]:
    """Whether the executor's failures on the grid are about the square or about a digit fact: for every leading
    column among the held-out two-digit cells it got wrong (`cells`: one format's rows of the probe on `split`,
    with a, b, x, y, in_train, greedy), its accuracy on the held-out cells with that column inside the square and
    outside it, and on `n` problems of each of `lengths` digits with the same leading column (`column_problems`,
    run in `mode`).
    Rows: column ("5+5+0": digits and carry in), where ("square", "margin", "3 digits", ...), n, correct, accuracy,
    ci_low, ci_high."""
    import pandas as pd

    from .probe import regions

    held = cells[~cells["in_train"]]
    off_square = regions(held, split) == "outside"
    cols = [top_column(a, b) if a >= 10 and b >= 10 else None for a, b in zip(held["a"], held["b"])]
    wrong = sorted({c for c, ok in zip(cols, held["greedy"]) if c is not None and not ok})
    rows = []
    for column in wrong:
        name = "{}+{}+{}".format(*column)
        mine = pd.Series([c == column for c in cols], index=held.index)
        for where, part in (("square", held[mine & ~off_square]), ("margin", held[mine & off_square])):
            if len(part):
                rows.append({"column": name, "where": where, **accuracy_row(int(part["greedy"].sum()), len(part))})
        for digits in lengths:
            problems = column_problems(column, digits, n, seed)
            result = run_caef(model, tokenizer, problems, mode=mode, batch_size=batch_size, answer=answer)
            right = sum(r["correct"] for r in result)
            rows.append({"column": name, "where": f"{digits} digits", **accuracy_row(right, n)})
    return rows
