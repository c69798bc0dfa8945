"""The length-generalisation experiment: train on 1-5 digit additions, test every length separately.

    tests = test_problems(range(1, 16), 50, seed=0)                  # {digits: [(a, b), ...]}
    train = train_problems(1, 5, 2000, seed=0, exclude=tests)        # [(a, b), ...]
    tok = length_tokenizer()                                         # one tokenizer for the three formats
    result = train_format("rfft", cfg, train, out_dir, tokenizer=tok, arch={...})
    rows = evaluate_format(model, tok, "rfft", tests)                # a row per problem: correct, first wrong line

Problems are drawn as the paper's released length test (icl_learning.py, spec.md e.3): for N digits the longer
operand has exactly N digits, the other a random length from 1 to N, the order random; numbers have no leading
zero (a 1-digit operand may be 0). Training problems draw N uniformly from the training range the same way, and
never include a test problem (the released repository's splits do not guarantee that).
"""
from __future__ import annotations

import os
import random
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .formats import FORMATS, get_format

METHODS = ("direct", "scratchpad", "rfft", "caef")


def _number(rng: random.Random, digits: int) -> int:
    return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10 ** digits - 1)


def draw_pair(rng: random.Random, digits: int) -> tuple[int, int]:
    """One problem of `digits` digits: the longer operand has exactly that many, the other 1..digits."""
    a, b = _number(rng, digits), _number(rng, rng.randint(1, digits))
    return (a, b) if rng.random() < 0.5 else (b, a)


def problems_of_length(digits: int) -> int:
    """How many (a, b) have a longer operand of exactly `digits` digits: 10^(2d) - 10^(2d-2) (1 digit: 100)."""
    return 100 if digits == 1 else 10 ** (2 * digits) - 10 ** (2 * digits - 2)


def test_problems(lengths: Iterable[int], n: int, seed: int = 0) -> dict[int, list[tuple[int, int]]]:
    """`n` distinct problems per length (at most half of the length's problems: 1 digit gets 50), one seeded
    generator per length, so a length's problems do not depend on which other lengths are asked for."""
    out = {}
    for digits in sorted(set(lengths)):
        if digits < 1:
            raise ValueError(f"test length {digits}: lengths are >= 1")
        rng = random.Random(f"rfft-test-{seed}-{digits}")
        seen: dict[tuple[int, int], None] = {}
        while len(seen) < min(n, problems_of_length(digits) // 2):
            seen.setdefault(draw_pair(rng, digits))
        out[digits] = list(seen)
    return out


def train_problems(min_digits: int, max_digits: int, n: int, seed: int = 0,
                   exclude: dict[int, list] | Iterable[tuple[int, int]] = ()) -> list[tuple[int, int]]:
    """`n` training problems, the length uniform in min..max digits, none of them in `exclude` (the test sets);
    repeats are allowed (1-digit additions are only 100)."""
    if not 1 <= min_digits <= max_digits:
        raise ValueError(f"training lengths {min_digits}..{max_digits}: need 1 <= min <= max")
    banned = {p for ps in exclude.values() for p in ps} if isinstance(exclude, dict) else set(exclude)
    rng = random.Random(f"rfft-train-{seed}")
    out: list[tuple[int, int]] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 100 * n + 1000:
            raise ValueError("the test sets leave too few training problems in that range")
        pair = draw_pair(rng, rng.randint(min_digits, max_digits))
        if pair not in banned:
            out.append(pair)
    return out


# A trace's variable fields: digit lists, booleans, and numbers that are values (not part of a name like num1,
# a section number like 2.1, or the constants of %10 and //10). What lies between them is constant text.
VALUE_FIELD = re.compile(r"\[(?:\d, )*\d?\]|True|False|(?<![A-Za-z0-9.%/(])\d+(?![0-9.])")
EXAMPLE_PROBLEMS = ((59, 13), (95, 8), (8, 95), (0, 0), (999, 1), (5, 5), (12345, 678))


def constant_phrases() -> set[str]:
    """The constant text between the variable fields of the three formats (each becomes one token), plus `[` and
    `d, ` (a list `[5, 9, 3]` is `[`, `5, `, `9, `, `3`, `]`: two tokens a digit, whatever the list's length)."""
    phrases = {"[", *(f"{d}, " for d in range(10))}
    for a, b in EXAMPLE_PROBLEMS:
        for fmt in FORMATS.values():
            for text in (fmt.prompt(a, b), fmt.target(a, b)):
                phrases.update(g for g in VALUE_FIELD.split(text) if g)
    return phrases


def length_tokenizer():
    """The tiny models' tokenizer for this experiment: digit tokens, and each constant stretch of the RFFT
    trace or the rule's code one token (a 5-digit RFFT trace is ~460 tokens instead of ~2,000 with one token
    per character; the code, identical in every prompt, is ~20 tokens)."""
    from ..tokenization import build_tokenizer

    from .generic import KINDS, generic_sample

    texts = [fmt.prompt(a, b) + fmt.target(a, b) for a, b in EXAMPLE_PROBLEMS for fmt in FORMATS.values()]
    texts += [(lambda s: s["prompt"] + s["response"])(generic_sample(k, [1, 2])) for k in KINDS]
    return build_tokenizer(texts, "digit", phrases=constant_phrases(), model_max_length=8192)


def samples(fmt: str, problems: Sequence[tuple[int, int]]) -> list[dict]:
    f = get_format(fmt)
    return [f.sample(a, b) for a, b in problems]


def train_format(fmt: str, cfg, problems: Sequence[tuple[int, int]], out_dir: str | os.PathLike, *,
                 tokenizer=None, arch_name: str = "tiny-llama", arch: dict | None = None,
                 base_folder: str | None = None, extra_samples: Sequence[dict] = (), seed: int = 0,
                 device: str = "auto", progress: bool = True):
    """Train one contestant on `fmt` samples of `problems` (plus `extra_samples`, shuffled in) with `cfg`:
    a fresh built-in model (`arch_name` sized by `arch`, seeded, with `tokenizer`), or the model in
    `base_folder` (a local Hugging Face folder such as Llama-2-7B, or a pre-trained tiny base). Saved in
    `out_dir` (reused when identical). Returns the TrainResult; `models.load_base(out_dir)` loads a fully
    fine-tuned model."""
    from ..environment import resolve_device
    from ..models import build_tiny, load_base
    from ..training import train

    if base_folder:
        model, tokenizer = load_base(base_folder, device)
    else:
        model, tokenizer = build_tiny(arch_name, tokenizer, seed=seed, **(arch or {}))
        model = model.to(resolve_device(device))
    data = samples(fmt, problems) + [{"prompt": s["prompt"], "response": s["response"]} for s in extra_samples]
    random.Random(f"rfft-mix-{seed}").shuffle(data)
    return train(cfg, model, tokenizer, data, out_dir, in_place=cfg.method == "full", progress=progress,
                 desc=f"{fmt} ({Path(out_dir).name})")


def load_contestant(out_dir: str | os.PathLike, method: str, base_folder: str | None = None, device: str = "auto"):
    """(model, tokenizer) of a trained contestant: the saved model (full fine-tuning) or `base_folder` with the
    LoRA adapter in `out_dir`."""
    from ..models import load_base, load_trained

    if method == "full":
        return load_base(str(out_dir), device)
    model, tokenizer = load_base(base_folder, device)
    return load_trained(model, out_dir, Path(out_dir).name, device), tokenizer


def first_wrong_line(answer: str, target: str) -> int | None:
    """Index of the first line of `answer` that differs from `target`'s (a missing line counts), or None."""
    got, want = answer.split("\n"), target.split("\n")
    for i, line in enumerate(want):
        if i >= len(got) or got[i] != line:
            return i
    return None if len(got) == len(want) else len(want)


def iteration_of_line(target: str, line: int | None) -> int | None:
    """Which loop iteration (1 = the last digits) a line of an RFFT trace belongs to: 0 before the first
    iteration (the operands copied into lists, the first stop check), one more than the last iteration after the
    loop (the final stop check, the carry block, the return)."""
    if line is None:
        return None
    lines = target.split("\n")
    before = lines[:line + 1]
    if "end the loop" in lines[:line]:
        return before.count("2.2 one iteration") + 1
    return before.count("2.2 one iteration")


def evaluate_format(model, tokenizer, fmt: str, problems: dict[int, Sequence[tuple[int, int]]], *,
                    slack: int = 8, batch_size: int = 32, progress: bool = False, stats: dict | None = None):
    """Greedy answers to every test problem, scored by value (`Format.extract`). A DataFrame, a row per problem:
    method, digits, a, b, correct, first_wrong_line (against the exact target), iteration (RFFT: the loop
    iteration of that line), answer_tokens. Each answer may run to its target's length plus `slack` tokens."""
    import pandas as pd

    from ..generation import answer_limits, generate, score

    f = get_format(fmt)
    pairs = [(d, a, b) for d in sorted(problems) for a, b in problems[d]]
    prompts = [f.prompt(a, b) for _, a, b in pairs]
    targets = [f.target(a, b) for _, a, b in pairs]
    limits = answer_limits(tokenizer, prompts, targets, slack=slack)
    answers = generate(model, tokenizer, prompts, max_new_tokens=limits, batch_size=batch_size, progress=progress,
                       desc=f"{fmt} answers", stats=stats)
    right = score(answers, targets, f.extract)
    rows = []
    for (d, a, b), answer, target, ok in zip(pairs, answers, targets, right):
        line = first_wrong_line(answer, target)
        rows.append({"method": fmt, "digits": d, "a": a, "b": b, "correct": bool(ok), "first_wrong_line": line,
                     "iteration": iteration_of_line(target, line) if fmt == "rfft" else None,
                     "first_list_len": first_list_length(answer) if fmt == "rfft" else None, "answer": answer})
    return pd.DataFrame(rows)


def first_list_length(text: str) -> int | None:
    """Elements of the first list an RFFT answer writes (its `num1=[...]`): a model that has never written a
    list longer than its training operands stops there."""
    m = re.search(r"\[([^\]\n]*)\]", str(text))
    if m is None:
        return None
    return len([x for x in m.group(1).split(",") if x.strip()])


def train_caef(problems: Sequence[tuple[int, int]], base_folder: str, out_dir: str | os.PathLike, *,
               executor_cfg, aligner_cfg, device: str = "auto", progress: bool = True) -> dict:
    """`add` and `add_aligner` LoRA adapters trained on `problems` only (`lso.caef_probe.train_caef`), saved
    under `out_dir`. Returns {"add": TrainResult, "add_aligner": TrainResult}."""
    from ..lso.caef_probe import train_caef as train_adapters

    return train_adapters([{"a": a, "b": b} for a, b in dict.fromkeys(problems)], base_folder, out_dir,
                          executor_cfg=executor_cfg, aligner_cfg=aligner_cfg, device=device, progress=progress)


def evaluate_caef(model, tokenizer, problems: dict[int, Sequence[tuple[int, int]]], *, batch_size: int = 128,
                  progress: bool = False, stats: dict | None = None):
    """CAEF's full process (aligner(I), ADD executor steps until halt, aligner(O)) on every test problem, by the
    batched engine (`caef_lib.batched_engine`), scored by result. Rows as `evaluate_format`'s; `first_wrong_line`
    is the first call whose answer differs from the machine's own, `first_wrong_kind` its kind and
    `first_wrong_adapter` who made it. `stats` receives prompts, new_tokens and seconds of generation."""
    import pandas as pd

    from .. import batched_engine as be

    pairs = [(d, a, b) for d in sorted(problems) for a, b in problems[d]]
    hf = be.HFModel(model, tokenizer, batch_size=batch_size)
    out = be.run([("add", a, b) for _, a, b in pairs], hf, batch_size=batch_size, progress=progress,
                 desc="CAEF full process")
    if stats is not None:
        stats.update(hf.stats)
    rows = []
    for (d, a, b), r in zip(pairs, out):
        line = r["first_wrong_call"]
        rows.append({"method": "caef", "digits": d, "a": a, "b": b, "correct": bool(r["correct"]),
                     "first_wrong_line": line,
                     "first_wrong_kind": r["first_wrong_kind"] if line is not None else None,
                     "first_wrong_adapter": r["first_wrong_adapter"], "calls": r["calls"], "error": r["error"]})
    return pd.DataFrame(rows)


def model_row(contestant: str, result) -> dict:
    """A row of models.csv: the training summary of one contestant (`method` = the contestant, `train_method` =
    full or lora)."""
    from ..adapters import summary_row

    row = {k: v for k, v in summary_row(result).items() if k not in ("op", "kind")}
    return {**row, "train_method": row.get("method"), "method": contestant}


def generation_row(contestant: str, stats: dict) -> dict:
    """A row of generation.csv: prompts, generated tokens, seconds and tokens/s of one contestant's answers."""
    seconds = stats.get("seconds") or float("nan")
    return {"method": contestant, "prompts": stats.get("prompts"), "new_tokens": stats.get("new_tokens"),
            "seconds": round(seconds, 3), "tokens_per_s": round(stats.get("new_tokens", 0) / seconds, 1)}


def contestants_table(formats: Sequence[str], model: str, train_digits: Sequence[int],
                      caef: tuple[str, Sequence[int]] | None = None):
    """contestants.csv: method, model, train_min_digits, train_max_digits (what the figures label)."""
    import pandas as pd

    rows = [{"method": f, "model": model, "train_min_digits": train_digits[0], "train_max_digits": train_digits[1]}
            for f in formats]
    if caef is not None:
        rows.append({"method": "caef", "model": caef[0], "train_min_digits": caef[1][0],
                     "train_max_digits": caef[1][1]})
    return pd.DataFrame(rows)


def list_length_evidence(rows, train_max: int):
    """Does RFFT fail because it cannot write a list longer than it was trained on? For the RFFT test problems
    whose first operand has more than `train_max` digits, per length: problems, right (answered right), and how
    long the first list of the answer (`num1=[...]`, the first operand's copy) was: first_list_right_length and
    first_list_at_most_trained (counts of problems). A last row `all` sums over lengths."""
    import pandas as pd

    r = rows[rows["method"] == "rfft"].copy()
    r = r[r["a"].astype(str).str.len() > train_max]
    columns = ["digits", "problems", "right", "first_list_right_length", "first_list_at_most_trained"]
    if r.empty:
        return pd.DataFrame(columns=columns)
    r["same"] = r["first_list_len"] == r["a"].astype(str).str.len()
    r["short"] = r["first_list_len"] <= train_max
    table = r.groupby("digits").agg(problems=("correct", "size"), right=("correct", "sum"),
                                    first_list_right_length=("same", "sum"),
                                    first_list_at_most_trained=("short", "sum")).reset_index()
    total = table.drop(columns="digits").sum().to_dict()
    table = pd.concat([table, pd.DataFrame([{"digits": "all", **total}])], ignore_index=True)
    return table[columns]


def accuracy_by_length(rows) -> "pd.DataFrame":
    """`method, digits, n, correct, accuracy, ci_low, ci_high` (95 % Wilson) from per-problem rows."""
    import pandas as pd

    from ..stats import accuracy_row

    out = [{"method": m, "digits": int(d), **accuracy_row(int(g["correct"].sum()), len(g))}
           for (m, d), g in rows.groupby(["method", "digits"], sort=False)]
    order = {m: i for i, m in enumerate(METHODS)}
    frame = pd.DataFrame(out)
    return frame.sort_values(["method", "digits"], key=lambda s: s.map(order) if s.name == "method" else s,
                             ignore_index=True)
