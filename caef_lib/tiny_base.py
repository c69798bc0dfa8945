"""The built-in tiny base: generic pre-training that stands in for what a pre-trained LLM brings.

    folder, result = tiny_base_from_traces("tiny-llama", paths, steps=5000)   # notebook 02
    result = prepare_tiny_base("tiny-llama", folder, tokenizer, steps=5000)   # any tokenizer
    generic_exact_match_by_kind(model, tokenizer)                             # what the base can do

Why and how the generic task was chosen, with the measurements: docs/tiny-models.md and benchmarks/RESULTS.md.
"""
from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

from . import io
from .datasets.writer import read_samples
from .generation import exact_match
from .training import LOG_COLUMNS, TrainResult, preset, train

# A LoRA adapter on random weights learns nothing that deserves the name "adapter": CAEF's premise is a base
# model that already reads, copies and knows elementary arithmetic facts (Llama-3.1-8B), and adapters that add
# one machine each. So the built-in tiny model is first pre-trained, once per profile, on a GENERIC task
# written in the CAEF vocabulary, and only then do the executors/aligners get their adapters. The generic
# task teaches what every machine needs and no machine's rule:
#   * tokens (10 %): echo of a random string of vocabulary tokens, so that every token (ADD, CMD:, +, =, ...)
#            gets a trained embedding; LoRA adapters leave the embeddings frozen.
#   * echo   (15 %): the answer is the prompt (a machine-like state + command, below), copied exactly.
#            Copying long texts is the bulk of every CAEF step (the next state repeats the current one).
#   * apply  (15 %): prompt = a random configuration of a made-up machine (TAPE, SCAN, ...: 1-3 tapes with
#            heads, an optional [C]/[COUNT] register, an output tape) + a random command; answer = the state
#            line after the command (heads moved right, register set, digit appended or erased, new state).
#            It teaches the meaning of the command words, which all CAEF machines share.
#   * read   (30 %): as apply, and the answer goes on with the made-up machine's next command, which copies
#            the digit under a head to the output (READ: the first head, SCAN: the last; 0 past the tape's
#            end). It teaches finding "the digit after [HEAD1] in the newest state line", which every CAEF
#            executor step needs (measured without it and without "facts": docs/tiny-models.md).
#   * peek   (15 %): prompt = a state line alone, answer = the digit after each head (`[HEAD1] 7, [HEAD2] 0`),
#            heads anywhere on their tapes, past the end too. The same skill as read's, with the loss on the
#            digits only: in a read sample one answer token of ~60 is the digit read, and a base that had
#            not learnt to read took the digit next to the right one (measured with and without peek:
#            docs/tiny-models.md, benchmarks/RESULTS.md).
#   * facts  (15 %): single-digit addition facts, `7+8=` -> `15`, `7+8+1=` -> `16`: what any pre-trained
#            LLM knows.
# What it does NOT contain: any real machine's state/command text (machine names occur only as random
# tokens), the aligners' raw expressions, sums of numbers of more than one digit, carrying across digits,
# comparing, calling. Choosing the next command, combining the digits under the heads with a carry, carrying,
# halting, calling other machines and converting `45+67=` to a tape are left to the adapters.

GENERIC_NAMES = ("TAPE", "COPY", "SCAN", "MOVE", "WRITE", "READ", "STEP", "MARK")
GENERIC_MIX = (("tokens", 0.10), ("echo", 0.15), ("apply", 0.15), ("read", 0.30), ("peek", 0.15),
               ("facts", 0.15))


def _generic_state(rng: random.Random) -> dict:
    k = rng.choice((1, 2, 2, 3))
    heads = ["[HEAD]"] if k == 1 else [f"[HEAD{j + 1}]" for j in range(k)]
    tapes = ["".join(f"|{rng.randint(0, 9)}" for _ in range(rng.randint(1, 8))) for _ in heads]
    return {"name": rng.choice(GENERIC_NAMES), "q": f"q{rng.randint(0, 4)}", "sep": rng.choice((" ", "  ")),
            "heads": heads, "tapes": tapes, "pos": [rng.randint(0, len(t) // 4) for t in tapes],
            "reg": rng.choice((None, "[C]", "[COUNT]")), "regval": str(rng.randint(0, 9)),
            "out": "".join(f"|{rng.randint(0, 9)}" for _ in range(rng.randint(0, 6)))}


def _generic_render(s: dict) -> str:
    fields = [t[:2 * p] + h + t[2 * p:] for h, t, p in zip(s["heads"], s["tapes"], s["pos"])]
    if s["reg"]:
        fields.append(s["reg"] + s["regval"])
    fields.append(s["out"] + "[OUTPUT]")
    return f"{s['name']}, {s['q']},{s['sep']}" + " ".join(fields)


def _generic_command(rng: random.Random, s: dict) -> tuple[str, dict]:
    """A random command and the state it leads to."""
    new = {**s, "pos": list(s["pos"])}
    units = []
    if s["reg"] and rng.random() < 0.5:
        new["regval"] = str(rng.randint(0, 9))
        units.append(f"{s['reg']} {new['regval']}")
    r = rng.random()
    if r < 0.5:
        d = rng.randint(0, 9)
        new["out"] = s["out"] + f"|{d}"
        units.append(f"[OUTPUT] {d}, [OUTPUT] RIGHT")
    elif r < 0.6 and s["out"]:
        new["out"] = s["out"][:-2]
        units.append("[OUTPUT] LEFT")
    for j, (h, t, p) in enumerate(zip(s["heads"], s["tapes"], s["pos"])):
        if p < len(t) // 2 and rng.random() < 0.8:
            new["pos"][j] += 1
            units.append(f"{h} RIGHT")
    rng.shuffle(units)
    new["q"] = f"q{rng.randint(0, 4)}"
    return "CMD " + ", ".join(units + [new["q"]]), new


def _digit_after(s: dict, j: int) -> str:
    """The digit right after head j (0 past the tape's end, as in CAEF's machines)."""
    tape, pos = s["tapes"][j], s["pos"][j]
    return tape[2 * pos + 1] if 2 * pos < len(tape) else "0"


def _read_command(s: dict) -> str:
    """READ/SCAN's next command: write the digit under the first/last head to the output, move that head right."""
    j = 0 if s["name"] == "READ" else len(s["heads"]) - 1
    digit = _digit_after(s, j)
    return f"CMD [OUTPUT] {digit}, [OUTPUT] RIGHT, {s['heads'][j]} RIGHT, {s['q']}"


def generic_tape_samples(n: int, seed: int = 0, vocabulary: Sequence[str] = (),
                         mix: Sequence[tuple[str, float]] = GENERIC_MIX) -> list[dict]:
    """`n` {"prompt", "response"} samples of the generic pre-training task (see the comment above), kinds in
    the proportions of `mix` (GENERIC_MIX; an ablation passes another, e.g. without "read"). Without a
    `vocabulary` (token strings) the "tokens" share goes to "echo"."""
    known = {k for k, _ in GENERIC_MIX}
    if not mix or any(k not in known or w < 0 for k, w in mix) or sum(w for _, w in mix) <= 0:
        raise ValueError(f"generic mix {mix!r}: (kind, weight >= 0) pairs, kinds among {sorted(known)}")
    rng = random.Random(f"caef-generic-{seed}")
    vocabulary = sorted(vocabulary)
    kinds, weights = zip(*mix)
    out = []
    for _ in range(n):
        kind = rng.choices(kinds, weights)[0]
        if kind == "tokens" and vocabulary:
            text = "".join(rng.choice(vocabulary) for _ in range(rng.randint(4, 40))) + "\n"
            out.append({"prompt": text, "response": text})
        elif kind == "facts":
            a, b, c = rng.randint(0, 9), rng.randint(0, 9), rng.choice(("", "+0", "+1"))
            out.append({"prompt": f"{a}+{b}{c}=", "response": f"{a + b + int(c or 0)}\n"})
        else:
            s = _generic_state(rng)
            if kind == "peek":  # any head position, past the tape's end too (reads 0 there)
                s["pos"] = [rng.randint(0, len(t) // 2) for t in s["tapes"]]
                answer = ", ".join(f"{h} {_digit_after(s, j)}" for j, h in enumerate(s["heads"]))
                out.append({"prompt": _generic_render(s) + "\n", "response": answer + "\n"})
                continue
            if kind == "read":
                s["name"] = rng.choice(("READ", "SCAN"))
            cmd, new = _generic_command(rng, s)
            prompt = f"{_generic_render(s)}\n{cmd}\n"
            if kind == "apply":
                response = _generic_render(new) + "\n"
            elif kind == "read":
                response = f"{_generic_render(new)}\n{_read_command(new)}\n"
            else:
                response = prompt
            out.append({"prompt": prompt, "response": response})
    return out


def generic_exact_match_by_kind(model, tokenizer, n: int = 100, seed: int = 0):
    """Greedy exact match of a (pre-trained) base on `n` held-out generic samples of each kind of GENERIC_MIX.

    The token-level loss of the pre-training hides whether the base can copy a whole state or read a digit
    under a head (a copier right on 98 % of the tokens gets a 60-token state wholly right 30 % of the time);
    this is what the adapters inherit. Held-out: a seed the pre-training never uses. Returns a DataFrame: kind,
    samples, exact_match.
    """
    import pandas as pd

    vocab = plain_vocabulary(tokenizer)
    rows = []
    for kind, _ in GENERIC_MIX:
        samples = generic_tape_samples(n, seed + 20_000, vocab, mix=((kind, 1.0),)) if n else []
        rows.append({"kind": kind, "samples": len(samples), "exact_match": exact_match(model, tokenizer, samples)[0]})
    return pd.DataFrame(rows, columns=["kind", "samples", "exact_match"])


def plain_vocabulary(tokenizer) -> list[str]:
    """The tokens of a task tokenizer that stand for text (no special or byte-fallback tokens)."""
    special = set(tokenizer.all_special_tokens)
    return [t for t in tokenizer.get_vocab() if t not in special and not (t.startswith("<0x") and t.endswith(">"))]


def prepare_tiny_base(name: str, folder: str | os.PathLike, tokenizer, *, steps: int, lr: float = 3e-3,
                      seed: int = 0, eval_samples: int = 100, progress: bool = True,
                      arch: dict | None = None, mix: Sequence[tuple[str, float]] = GENERIC_MIX,
                      pack: bool = False) -> TrainResult:
    """Build the built-in model `name`, pre-train it on `generic_tape_samples` and save it to `folder`.

    The folder is an ordinary Hugging Face model folder (config.json, model.safetensors, tokenizer files,
    training_log.csv, train_summary.json); `models.load_base(folder)` loads it. A folder from an identical
    earlier run (same architecture, tokenizer, steps, lr, seed and data) is reused. `steps=0` saves the random
    initialisation (the "no pre-training" ablation). `arch` overrides the architecture (tests use a smaller one);
    `mix` the proportions of the generic task's kinds (benchmarks/tiny_learning.py ablates them); `pack` packs
    several samples per row (`collate_packed`).
    """
    from .models import build_tiny, save_base

    model, tokenizer = build_tiny(name, tokenizer, seed=seed, **(arch or {}))
    cfg = preset("tiny_pretrain", max_steps=max(steps, 1), lr=lr, seed=seed, pack=pack)
    if steps == 0:
        save_base(model, tokenizer, folder)
        summary = {"adapter": Path(folder).name, "method": "none", "steps": 0, "tokens": 0,
                   "wall_time_s": 0.0, "parameters": sum(p.numel() for p in model.parameters())}
        io.write_json(Path(folder) / "train_summary.json", summary)
        import pandas as pd
        return TrainResult(Path(folder), summary, pd.DataFrame(columns=LOG_COLUMNS))
    vocab = plain_vocabulary(tokenizer)
    samples = generic_tape_samples(steps * cfg.batch_size * cfg.grad_accum, seed, vocab, mix)
    held_out = generic_tape_samples(eval_samples, seed + 10_000, vocab, mix) if eval_samples else None
    cfg.eval_every = max(steps // 4, 50)
    return train(cfg, model, tokenizer, samples, folder, eval_samples=held_out,
                 eval_exact=min(eval_samples, 50), progress=progress, desc=f"{name} pre-training")


def tiny_base_from_traces(name: str, paths, *, steps: int, lr: float = 3e-3, seed: int = 0, pack: bool = True,
                          progress: bool = True) -> tuple[Path, TrainResult]:
    """Notebook 02's base for a built-in name: the profile's pre-trained tiny base, built and pre-trained here
    when missing (an identical earlier one is reused), in `data/models/<profile>/<name>/base/`.

    The task tokenizer's vocabulary comes from the texts of every dataset notebook 01 wrote for the profile
    (except the stage-1 preambles, whose English words only lengthen the generic pre-training), so it does not
    change with the operators a notebook trains.
    """
    from .datasets import traces_dir
    from .models import tiny_base_dir
    from .tokenization import caef_tokenizer

    texts = []
    for f in sorted(traces_dir(paths).glob("*/*.train.jsonl")):
        if f.name.startswith("executor_stage1."):
            continue
        texts += [s["prompt"] + s["response"] for s in read_samples(f, limit=300)]
    folder = tiny_base_dir(paths, name)
    result = prepare_tiny_base(name, folder, caef_tokenizer(texts), steps=steps, lr=lr, seed=seed,
                               progress=progress, pack=pack)
    return folder, result
