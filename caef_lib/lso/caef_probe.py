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
from ..engine import ALIGNER_SUFFIX, Process, oracle_answer
from ..generation import generate


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


def _limit(tokenizer, adapter: str, prompt: str) -> int:
    """Tokens a call may generate: the machine's own answer to this prompt plus slack (a prompt the machine
    cannot answer, i.e. a model's earlier mistake, gets room for one copy of itself)."""
    try:
        answer = oracle_answer(adapter, prompt)
    except ValueError:
        answer = prompt
    return len(tokenizer(answer, add_special_tokens=False)["input_ids"]) + 8


def run_caef(model, tokenizer, cells: Sequence[tuple[int, int]], op: str = "add", *, batch_size: int = 128,
             progress: bool = False) -> list[dict]:
    """Run CAEF's full process on every (a, b) with a peft model carrying `<op>` and `<op>_aligner`; all
    problems advance together, one mixed-adapter batch per round (`adapter_names`). Returns a dict per cell:
    a, b, correct, calls, error (None or the process's reason), first_wrong (the first call whose answer differs
    from the machine's own answer: its index and adapter, or None)."""
    from tqdm import tqdm

    processes = [Process(op, a, b) for a, b in cells]
    bar = tqdm(total=len(processes), desc="CAEF full process", disable=not progress, mininterval=5.0)
    finished = 0
    while True:
        live = [p for p in processes if not p.done]
        if not live:
            break
        requests = [p.pending() for p in live]
        answers = generate(model, tokenizer, [prompt for _, prompt in requests],
                           max_new_tokens=[_limit(tokenizer, a, q) for a, q in requests], batch_size=batch_size,
                           adapter_names=[adapter for adapter, _ in requests])
        for p, answer in zip(live, answers):
            p.feed(answer)
        now = sum(p.done for p in processes)
        bar.update(now - finished)
        finished = now
    bar.close()
    return [{"a": p.a, "b": p.b, "correct": p.correct, "calls": len(p.calls), "error": p.error,
             **_first_wrong(p)} for p in processes]


def _first_wrong(p: Process) -> dict:
    for i, call in enumerate(p.calls):
        try:
            right = oracle_answer(call["executor"], call["prompt"])
        except ValueError:
            right = None
        if call["answer"] != right:
            kind = "aligner" if call["executor"].endswith(ALIGNER_SUFFIX) else "executor"
            return {"first_wrong_call": i, "first_wrong_kind": kind}
    return {"first_wrong_call": None, "first_wrong_kind": None}


def caef_square_probe(split_name: str, base_folder: str, models_dir, *, executor_cfg, aligner_cfg, margin: int = 5,
                      device: str = "auto", batch_size: int = 128, progress: bool = True) -> dict:
    """CAEF on a Leave-Square-Out addition split: train `add` and `add_aligner` on the training cells (LoRA on
    the tiny base in `base_folder`), run the full process on the square(s) and `margin` cells around them.
    Returns {"cells": DataFrame (a, b, x, y, in_train, greedy, sampled=nan, calls, error, first_wrong_call,
    first_wrong_kind), "summary": rows as probe.region_summary, "train": [TrainResult, TrainResult]}."""
    from pathlib import Path

    import pandas as pd

    from ..models import load_base, load_trained
    from ..training import train
    from .probe import region_summary
    from .splits import build_split, parse_split

    split = parse_split("addition", split_name)
    if split.kind == "random":
        raise ValueError("the CAEF probe needs a square split")
    train_records, _ = build_split("addition", split.name)
    executor, aligner = caef_samples(train_records, seed=executor_cfg.seed)
    model, tokenizer = load_base(base_folder, device)
    out = Path(models_dir) / split.folder
    results = [train(executor_cfg, model, tokenizer, executor, out / "add", progress=progress, desc="CAEF add"),
               train(aligner_cfg, model, tokenizer, aligner, out / "add_aligner", progress=progress,
                     desc="CAEF add_aligner")]
    peft_model = load_trained(model, out / "add", "add", device)
    peft_model = load_trained(peft_model, out / "add_aligner", "add_aligner", device)
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
