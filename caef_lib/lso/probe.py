"""The Leave-Square-Out probe: train a model on a split, measure every cell of the grid, summarise by region.

    train, test = build_split("addition", "1hole_(50, 50)_10_441_0-100")
    tok = probe_tokenizer("addition", "number")
    result = train_probe(cfg, "tiny-gpt2", tok, train, out_dir, arch={...})       # a fresh model, full training
    cells = cell_accuracy(model, tok, "addition", train, test, samples=10, seed=0) # a row per cell
    regions = region_summary(cells, parse_split(...))                             # centre, ring, square, ...

Scoring follows the released evaluation (spec.md b.1-b.2): the answer is the last number of the generated text
(rabbits and chickens: the last two), compared as a string with the same extraction from the released answer;
for scratchpad traces that is the plain sum on their last line. Greedy answers and the paper's sampled protocol
(N samples per cell at temperature 1, top-k 50, seeded) are both measured.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from ..generation import answer_limits, generate, score
from ..stats import accuracy_row
from .splits import Split
from .tasks import get_task

NUMBER = re.compile(r"\d+(?:\.\d+)?")
VOCABULARIES = ("number", "digit")


def answer_extractor(task: str):
    """The value a generated text is scored by: its last number (rabbits and chickens: its last two)."""
    count = 2 if task == "rabbits_and_chickens" else 1

    def extract(text: str) -> str | None:
        found = NUMBER.findall(str(text))
        return ",".join(found[-count:]) if len(found) >= count else None

    return extract


def to_samples(records: Sequence[dict]) -> list[dict]:
    """{"prompt": question, "response": answer} pairs (the released integer answers become strings)."""
    return [{"prompt": r["question"], "response": str(r["answers"][0])} for r in records]


def probe_tokenizer(task: str, vocabulary: str = "number", scratchpad: bool = True):
    """The task tokenizer of a tiny model: `number` (every integer up to 520 is one token, as in GPT-2's BPE)
    or `digit` (every digit one token), with the words of every text of the task's grid."""
    from ..tokenization import digit_tokenizer, number_tokenizer

    if vocabulary not in VOCABULARIES:
        raise ValueError(f"vocabulary {vocabulary!r}: use one of {', '.join(VOCABULARIES)}")
    t = get_task(task)
    cells = t.cells()
    texts = [t.question(a, b) + str(t.answer(a, b)) for a, b in cells[::7]]
    if scratchpad and t.scratchpad is not None:
        texts += [t.scratchpad(a, b) for a, b in cells[::7]]
    return (number_tokenizer if vocabulary == "number" else digit_tokenizer)(texts)


def train_probe(cfg, arch_name: str, tokenizer, records: Sequence[dict], out_dir: str | os.PathLike, *,
                arch: dict | None = None, seed: int = 0, device: str = "auto", progress: bool = True,
                desc: str | None = None):
    """A fresh built-in model (`tiny-gpt2`, sized by `arch`), trained on `device` on the split's training records
    with `cfg` (method "full"); saved with its tokenizer in `out_dir` (reused when identical). Returns the
    TrainResult; `models.load_base(out_dir)` loads the model."""
    from ..environment import resolve_device
    from ..models import build_tiny
    from ..training import train

    model, tokenizer = build_tiny(arch_name, tokenizer, seed=seed, **(arch or {}))
    model = model.to(resolve_device(device))
    return train(cfg, model, tokenizer, to_samples(records), out_dir, in_place=True, progress=progress,
                 desc=desc or Path(out_dir).name)


def cell_accuracy(model, tokenizer, task: str, train: Sequence[dict], test: Sequence[dict], *, samples: int = 0,
                  sampled_cells: str = "test", temperature: float = 1.0, top_k: int = 50, seed: int = 0,
                  batch_size: int = 256, progress: bool = False):
    """A row per cell of the grid: a, b, x, y (the square plane's coordinates), in_train, greedy (0/1) and,
    with `samples` > 0, sampled (the fraction of `samples` sampled answers that are right) for the test cells
    (`sampled_cells="test"`) or every cell ("all"). Each answer may run to its expected length plus 2 tokens
    (greedy) or twice that plus 8 (sampled, which may wander)."""
    import numpy as np
    import pandas as pd

    t = get_task(task)
    extract = answer_extractor(task)
    records = [*train, *test]
    prompts = [r["question"] for r in records]
    expected = [str(r["answers"][0]) for r in records]
    limits = answer_limits(tokenizer, prompts, expected)
    greedy = score(generate(model, tokenizer, prompts, max_new_tokens=limits, batch_size=batch_size,
                            progress=progress, desc="greedy"), expected, extract)
    xy = [t.square_xy(r["a"], r["b"]) for r in records]
    frame = pd.DataFrame({"a": [r["a"] for r in records], "b": [r["b"] for r in records],
                          "x": [p[0] for p in xy], "y": [p[1] for p in xy],
                          "in_train": [True] * len(train) + [False] * len(test),
                          "greedy": np.array(greedy, dtype=float), "sampled": np.nan})
    if samples:
        if sampled_cells not in ("test", "all"):
            raise ValueError(f"sampled_cells {sampled_cells!r}: use 'test' or 'all'")
        rows = range(len(train), len(records)) if sampled_cells == "test" else range(len(records))
        rows = [i for i in rows for _ in range(samples)]
        answers = generate(model, tokenizer, [prompts[i] for i in rows],
                           max_new_tokens=[2 * limits[i] + 8 for i in rows], batch_size=batch_size,
                           do_sample=True, temperature=temperature, top_k=top_k, seed=seed, progress=progress,
                           desc=f"{samples} samples per cell")
        right = score(answers, [expected[i] for i in rows], extract)
        hits = np.zeros(len(records))
        np.add.at(hits, rows, right)
        done = sorted(set(rows))
        frame.loc[done, "sampled"] = hits[done] / samples
    return frame.sort_values(["a", "b"], ignore_index=True)


def regions(cells, split: Split):
    """The region of each cell (a Series): `centre` (the inner 5x5 of a square; 3x3 when L is 2), `ring` (a
    square's border), `inner` (the rest of a square), `outside` (training cells), `random_test` (a random split's
    test cells). A summary's `square` is centre, ring and inner together."""
    import numpy as np
    import pandas as pd

    if split.kind == "random":
        return pd.Series(np.where(cells["in_train"], "outside", "random_test"), index=cells.index)
    out = pd.Series("outside", index=cells.index)
    for s in split.squares:
        d = np.maximum((cells["x"] - s.cx).abs(), (cells["y"] - s.cy).abs())
        out[(d <= s.half) & (out == "outside")] = "inner"
        out[d == s.half] = "ring"
        out[(d <= 2) & (d < s.half)] = "centre"
    return out


def distance_to_train(cells):
    """Chebyshev distance from every cell to the nearest training cell (0 for training cells), in the square
    plane: how far a held-out cell lies from anything the model has seen."""
    import numpy as np

    train = cells.loc[cells["in_train"], ["x", "y"]].to_numpy()
    pts = cells[["x", "y"]].to_numpy()
    dist = np.zeros(len(cells), dtype=int)
    test = np.flatnonzero(~cells["in_train"].to_numpy())
    for start in range(0, len(test), 256):
        idx = test[start:start + 256]
        d = np.abs(pts[idx, None, :] - train[None, :, :]).max(axis=2)
        dist[idx] = d.min(axis=1)
    return dist


def region_summary(cells, split: Split, samples: int = 0, labels: dict | None = None) -> list[dict]:
    """Rows of summary.csv: one per region and measure (greedy; sampled where measured, `samples` per cell),
    with the cells, the answers counted (n; a sampled row counts every sample), correct, accuracy and a 95 % Wilson interval
    (cells are treated as independent, which the neighbouring cells of a heatmap are not: read the interval
    as a lower bound on the uncertainty)."""
    region = regions(cells, split)
    names = ["centre", "ring", "square", "outside"] if split.kind != "random" else ["random_test", "outside"]
    rows = []
    for name in names:
        part = cells[region.isin(["centre", "ring", "inner"])] if name == "square" else cells[region == name]
        for measure in ("greedy", "sampled"):
            values = part[measure].dropna()
            if not len(values):
                continue
            k = 1 if measure == "greedy" else samples
            rows.append({**(labels or {}), "measure": measure, "region": name, "cells": len(values),
                         **accuracy_row(int(round(values.sum() * k)), len(values) * k)})
    return rows


def accuracy_by_distance(cells, labels: dict | None = None) -> list[dict]:
    """Greedy accuracy of the held-out cells against their distance to the nearest training cell."""
    if not cells["in_train"].any() or cells["in_train"].all():
        return []
    d = distance_to_train(cells)
    test = cells.assign(distance=d)[~cells["in_train"]]
    return [{**(labels or {}), "distance": int(k), "cells": len(g), **accuracy_row(int(g["greedy"].sum()), len(g))}
            for k, g in test.groupby("distance")]


def probe_run(task: str, split_name: str, *, scratchpad: bool, vocabulary: str, base_model: str, cfg,
              models_dir, arch: dict | None = None, samples: int = 10, sampled_cells: str = "test",
              seed: int = 0, device: str = "auto", batch_size: int = 256, progress: bool = True) -> dict:
    """One probe: build the split, train a model on its training cells (a fresh built-in `tiny-gpt2` with the
    `vocabulary` tokenizer, or a local Hugging Face folder fine-tuned with its own tokenizer), measure every
    cell. The model is saved in `<models_dir>/<task>/<folder>/<vocabulary>/` (reused when identical).
    Returns {"cells": DataFrame, "summary": rows, "by_distance": rows, "train": TrainResult, "split": Split}."""
    from ..models import load_base
    from ..params import BUILTIN_MODELS
    from ..training import train
    from .splits import build_split, parse_split

    split = parse_split(task, split_name, scratchpad)
    train_records, test_records = build_split(task, split.name, split.scratchpad)
    builtin = base_model in BUILTIN_MODELS
    label = vocabulary if builtin else "model"
    out_dir = Path(models_dir) / task / split.folder / label
    desc = f"{task} {split.folder} ({label})"
    if builtin:
        result = train_probe(cfg, base_model, probe_tokenizer(task, vocabulary), train_records, out_dir, arch=arch,
                             seed=seed, device=device, progress=progress, desc=desc)
    else:  # every weight is trained: in float32 (bf16 weights would round small updates away), autocast on a GPU
        import torch

        model, tokenizer = load_base(base_model, device, dtype=torch.float32)
        result = train(cfg, model, tokenizer, to_samples(train_records), out_dir, in_place=True, progress=progress,
                       desc=desc)
    model, tokenizer = load_base(str(out_dir), device)
    cells = cell_accuracy(model, tokenizer, task, train_records, test_records, samples=samples,
                          sampled_cells=sampled_cells, seed=seed, batch_size=batch_size, progress=progress)
    labels = {"task": task, "split": split.name, "format": "scratchpad" if split.scratchpad else "direct",
              "vocabulary": label}
    return {"cells": cells.assign(**labels), "summary": region_summary(cells, split, samples, labels),
            "by_distance": accuracy_by_distance(cells, labels), "train": result, "split": split}


def control_verdicts(summary, threshold: float = 0.95) -> list[str]:
    """A line per random-split run: its greedy held-out accuracy and whether the control passes (below
    `threshold` a hole in a square split says nothing about case-based reasoning)."""
    control = summary[(summary["region"] == "random_test") & (summary["measure"] == "greedy")]
    return [f"{r['task']} ({r['vocabulary']}): random split {r['accuracy']:.1%} [{r['ci_low']:.1%}, "
            f"{r['ci_high']:.1%}] -> the control "
            + ("passes" if r["accuracy"] >= threshold else "FAILS: nothing about the hole can be concluded for it")
            for _, r in control.iterrows()]
