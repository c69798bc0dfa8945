"""The question neither paper answers: does executing a rule step by step (CAEF) remove the Leave-Square-Out hole?

    executor, aligner = caef_samples(train_records)           # ADD steps and aligner pairs of the training cells
    rows = run_caef(peft_model, tok, [(45, 67), ...])         # the full process on each (a, b), batched

The ADD executor and aligner are LoRA adapters on the kit's pre-trained tiny base (notebook 02's), trained only
on the problems of the split's training cells; the held-out square is then run through CAEF's full process
(aligner(I), executor steps until halt, aligner(O)) and scored by result, as CAEF's reference scores it.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

from ..datasets.render import num_transitions
from ..datasets.samples import aligner_pairs, executor_pair
from ..engine import ALIGNER_SUFFIX


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


def run_caef(model, tokenizer, cells: Sequence[tuple[int, int]], op: str = "add", *, batch_size: int = 128,
             progress: bool = False, answer=None) -> list[dict]:
    """Run CAEF's full process on every (a, b) with a peft model carrying `<op>` and `<op>_aligner`, by the
    batched engine (`caef_lib.batched_engine`; `answer` replaces the model by any `model(requests) -> answers`).
    Returns a dict per cell: a, b, correct, calls, error (None or the process's reason), first_wrong_call (the
    first call whose answer differs from the machine's own answer, or None) and first_wrong_kind (the adapter
    that made it: "executor" or "aligner")."""
    from .. import batched_engine as be

    model_fn = answer or be.HFModel(model, tokenizer, batch_size=batch_size)
    rows = be.run([(op, a, b) for a, b in cells], model_fn, batch_size=batch_size, progress=progress,
                  desc="CAEF full process")
    out = []
    for (a, b), r in zip(cells, rows):
        who = r["first_wrong_adapter"]
        out.append({"a": a, "b": b, "correct": r["correct"], "calls": r["calls"], "error": r["error"],
                    "first_wrong_call": r["first_wrong_call"],
                    "first_wrong_kind": None if who is None else "aligner" if who.endswith(ALIGNER_SUFFIX)
                    else "executor"})
    return out


def caef_square_probe(split_name: str, base_folder: str, models_dir, *, executor_cfg, aligner_cfg, margin: int = 5,
                      device: str = "auto", batch_size: int = 128, progress: bool = True) -> dict:
    """CAEF on a Leave-Square-Out addition split: train `add` and `add_aligner` on the training cells (LoRA on
    the tiny base in `base_folder`), run the full process on the square(s) and `margin` cells around them.
    Returns {"cells": DataFrame (a, b, x, y, in_train, greedy, sampled=nan, calls, error, first_wrong_call,
    first_wrong_kind), "summary": rows as probe.region_summary, "train": [TrainResult, TrainResult]}."""
    from pathlib import Path

    import pandas as pd

    from .probe import region_summary
    from .splits import build_split, parse_split

    split = parse_split("addition", split_name)
    if split.kind == "random":
        raise ValueError("the CAEF probe needs a square split")
    train_records, _ = build_split("addition", split.name)
    out = Path(models_dir) / split.folder
    trained = train_caef(train_records, base_folder, out, executor_cfg=executor_cfg, aligner_cfg=aligner_cfg,
                         device=device, progress=progress)
    results = list(trained.values())
    peft_model, tokenizer = load_caef(base_folder, {k: r.out_dir for k, r in trained.items()}, device)
    in_train = {(r["a"], r["b"]) for r in train_records}
    cells = sorted({(a, b) for s in split.squares
                    for a in range(max(0, s.cx - s.half - margin), min(100, s.cx + s.half + margin + 1))
                    for b in range(max(0, s.cy - s.half - margin), min(100, s.cy + s.half + margin + 1))})
    rows = run_caef(peft_model, tokenizer, cells, batch_size=batch_size, progress=progress)
    frame = pd.DataFrame(rows)
    frame = frame.assign(x=frame["a"], y=frame["b"], in_train=[(a, b) in in_train for a, b in cells],
                         greedy=frame["correct"].astype(float), sampled=float("nan")).drop(columns="correct")
    labels = {"task": "addition", "split": split.name, "format": "caef", "vocabulary": "caef"}
    summary = region_summary(frame, split, 0, labels)
    for row in summary:  # CAEF ran on the training cells of the margin only, not on the whole grid
        row["region"] = "margin" if row["region"] == "outside" else row["region"]
    return {"cells": frame.assign(**labels), "summary": summary,
            "train": results}
