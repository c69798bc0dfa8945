"""Rule-following fine-tuning (RFFT) on the Leave-Square-Out square: does the rule in the prompt remove the hole?

    probe = rfft_square_probe("1hole_(50, 50)_10_441_0-100", models_dir, cfg, arch={...})

Hu et al. test RFFT for length generalisation, not on the square. Here one model is trained from scratch on the
RFFT traces (`caef_lib.rfft.formats`: the rule's code in the prompt, executed line by line in the answer) of the
split's training cells only, with notebook 04's tokenizer and model size (`rfft.experiment.length_tokenizer`, a
tiny-llama), and answers the square and `margin` cells around it, scored by value as notebook 04 scores it. The
cells around the square are training cells of the split (region `outside`), so what is held out is the square.
"""
from __future__ import annotations

from pathlib import Path


def rfft_square_probe(split_name: str, models_dir, cfg, *, arch: dict | None = None, margin: int = 5, seed: int = 0,
                      device: str = "auto", batch_size: int = 64, progress: bool = True) -> dict:
    """Train RFFT on the training cells of a single- or three-square addition split (`cfg`: a full fine-tuning
    `TrainConfig`; the model is saved in `<models_dir>/<split folder>/rfft`, reused when identical) and answer the
    square(s) and `margin` cells around them.
    Returns {"cells": DataFrame (a, b, x, y, in_train, greedy, sampled=nan, first_wrong_line, iteration, task,
    split, format="rfft", vocabulary="rfft"), "summary": rows as probe.region_summary, "by_distance": rows as
    probe.accuracy_by_distance, "train": TrainResult}."""
    import pandas as pd

    from ..models import load_base
    from ..rfft import experiment as rx
    from .caef_probe import probe_cells
    from .probe import accuracy_by_distance, region_summary
    from .splits import build_split, parse_split

    split = parse_split("addition", split_name)
    if split.kind == "random":
        raise ValueError("the RFFT probe needs a square split")
    train_records, _ = build_split("addition", split.name)
    trained_on = [(r["a"], r["b"]) for r in train_records]
    out_dir = Path(models_dir) / split.folder / "rfft"
    result = rx.train_format("rfft", cfg, trained_on, out_dir, tokenizer=rx.length_tokenizer(), arch=arch,
                             seed=seed, device=device, progress=progress)
    model, tokenizer = load_base(str(out_dir), device)
    cells = probe_cells(split, margin)
    rows = rx.evaluate_format(model, tokenizer, "rfft", {2: cells}, batch_size=batch_size, progress=progress)
    seen = set(trained_on)
    frame = pd.DataFrame({"a": rows["a"], "b": rows["b"], "x": rows["a"], "y": rows["b"],
                          "in_train": [(a, b) in seen for a, b in cells], "greedy": rows["correct"].astype(float),
                          "sampled": float("nan"), "first_wrong_line": rows["first_wrong_line"],
                          "iteration": rows["iteration"]})
    labels = {"task": "addition", "split": split.name, "format": "rfft", "vocabulary": "rfft"}
    # region_summary's `outside` is here the training cells around the square, the only ones answered
    summary = region_summary(frame, split, 0, labels)
    return {"cells": frame.assign(**labels), "summary": summary, "by_distance": accuracy_by_distance(frame, labels),
            "train": result}
