"""CAEF at scale: thousands of `engine.Process`es driven together, every call checked against the machine.

    problems = draw_problems("add", 10, 100, seed=0)                     # [(op, a, b), ...]
    rows = run(problems, oracle_model, mode="full", batch_size=256)      # a dict per problem
    table = summarise(rows)                                              # a row per (op, digits, mode)

The driver keeps up to `batch_size` problems in flight and refills the batch from the queue as problems finish: no
lock-step, no batch waiting for its slowest member, no finished problem carried along. The queue starts with the
problems whose step limit is highest (longest first): a problem that runs long is a chain of calls that no batch
can shorten, so it starts while the others keep the batch full, not at the end with a batch of one. Each round asks
the model for the pending call of every live problem at once (`model(requests) -> answers`; a real model answers
them in one batch per adapter or one mixed-adapter batch, `HFModel`), feeds the answers back, and compares each
answer with the machine's own answer to the same prompt (`engine.oracle_answer`): the first call that differs is
recorded with its kind (`call_errors.classify`). With `stop_at_first_error` a problem ends at its first wrong call
(what "every step right" needs, what the reference's own loop does to a sample at its first mismatch, and much
cheaper). Without it a problem runs on and is scored by its result, so it can be right with a wrong call on the way
(its `first_wrong_kind` is then kept, but it counts as correct).

Modes: `full` (aligner(I), executors with CALLs, aligner(O)); `step` (single transitions from a test file,
`run_steps`); `executor` (from the true q0 text, scored by the
final state: the reference's `--execute`); `aligner_input` and `aligner_output` (one aligner call each, scored by
exact match with the rule-based aligner); `direct` (the direct-answer baseline: one `<op>_direct` call on the
expression, right when it answers the result).

Whatever a model answers, every problem ends: a malformed answer ends it with an error, and the process's own
step limit (twice the calls of a perfect run, plus slack) and call-depth limit bound the rest.
"""
from __future__ import annotations

import random
import time
from collections import deque
from functools import lru_cache
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .call_errors import KINDS, classify  # noqa: F401 (KINDS: the error table's columns)
from .engine import ALIGNER_SUFFIX, Process, default_max_steps, oracle_answer
from .machines import expression, get
from .machines.tape import MalformedText

MODES = ("full", "executor", "aligner_input", "aligner_output", "direct")
SINGLE_CALL_MODES = ("aligner_input", "aligner_output", "direct")  # one call: `SingleCall`, operators with a symbol


@lru_cache(maxsize=1 << 14)
def expected_answer(adapter: str, prompt: str) -> str | None:
    """The machine's own answer to a call (`engine.oracle_answer`), or None when the prompt has none. Cached:
    `HFModel` needs it for the call's token limit and `run` again to check the answer."""
    try:
        return oracle_answer(adapter, prompt)
    except (MalformedText, ValueError):
        return None
DIRECT_SUFFIX = "_direct"


@dataclass(frozen=True)
class Request:
    """One model call: which problem (`key`, its `call` index), which adapter, which prompt."""
    key: int
    call: int
    adapter: str
    prompt: str


class SingleCall:
    """A one-call problem: aligner(I) on the expression, aligner(O) on the true halt text, or the direct-answer
    baseline (`<op>_direct` on the expression, right when its answer is the result). Scored by exact match after
    strip; `result` is the answer."""

    def __init__(self, op: str, a: int, b: int | None, mode: str):
        machine = get(op)
        machine.check(a, b)
        if machine.symbol is None:
            raise ValueError(f"{op} has no aligner and no direct-answer baseline")
        self.op, self.a, self.b = op, a, b
        if mode == "direct":
            self.adapter, self.prompt = op + DIRECT_SUFFIX, expression(op, a, b)
            self.expected_answer = machine.python_result(a, b)
        else:
            self.adapter = op + ALIGNER_SUFFIX
            if mode == "aligner_input":
                self.prompt = expression(op, a, b)
            else:
                from .engine import run_oracle

                self.prompt = run_oracle(op, a, b)["calls"][-1]["prompt"]
            self.expected_answer = oracle_answer(self.adapter, self.prompt)
        self.calls: list[dict] = []
        self.done, self.error, self.result = False, None, None

    def pending(self):
        return None if self.done else (self.adapter, self.prompt)

    def feed(self, answer: str) -> None:
        self.calls.append({"executor": self.adapter, "prompt": self.prompt, "answer": answer})
        self.result, self.done = answer.strip(), True

    def fail(self, reason: str) -> None:
        self.done, self.error = True, reason

    @property
    def correct(self) -> bool:
        return bool(self.calls) and self.calls[0]["answer"].strip() == self.expected_answer.strip()


def make_process(op: str, a: int, b: int | None, mode: str):
    if mode == "full":
        return Process(op, a, b, alignment=True)
    if mode == "executor":
        return Process(op, a, b, alignment=False)
    if mode in SINGLE_CALL_MODES:
        return SingleCall(op, a, b, mode)
    raise ValueError(f"mode {mode!r}: use one of {', '.join(MODES)}")


def step_limit(op: str, a: int, b: int | None, mode: str) -> int:
    """The most calls a problem can take in `mode` (the process's own step limit; 1 for a single call)."""
    return default_max_steps(op, a, b) if mode in ("full", "executor") else 1


def run(problems: Sequence[tuple[str, int, int | None]], model: Callable[[list[Request]], list[str]], *,
        mode: str = "full", batch_size: int = 256, stop_at_first_error: bool = False, progress: bool = False,
        desc: str = "CAEF") -> list[dict]:
    """Run every (op, a, b) to its end with `model`; a dict per problem, in the order of `problems`: op, a, b,
    digits (of a), mode, correct, result, error, calls, first_wrong_call, first_wrong_kind, first_wrong_field,
    first_wrong_adapter, first_wrong_depth. `first_wrong_kind` is "direct" for a wrong direct answer and
    "step_limit" for a wrong problem none of whose calls differed from the machine's (it ran out of calls or
    depth)."""
    from tqdm import tqdm

    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: use one of {', '.join(MODES)}")
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    queue = deque(sorted(range(len(problems)), key=lambda k: -step_limit(*problems[k], mode)))
    live: dict[int, object] = {}
    first: dict[int, dict] = {}
    rows: list[dict | None] = [None] * len(problems)
    bar = tqdm(total=len(problems), desc=desc, disable=not progress, mininterval=5.0)
    while queue or live:
        while queue and len(live) < batch_size:
            k = queue.popleft()
            op, a, b = problems[k]
            live[k] = make_process(op, a, b, mode)
        keys = list(live)
        requests = [Request(k, len(live[k].calls), *live[k].pending()) for k in keys]
        answers = model(requests)
        if len(answers) != len(requests):
            raise RuntimeError(f"the model gave {len(answers)} answers to {len(requests)} requests")
        for k, req, answer in zip(keys, requests, answers):
            p = live[k]
            depth = getattr(p, "depth", 0)
            answer = answer if isinstance(answer, str) else ""
            p.feed(answer)
            if k not in first:
                wrong = _check(req, answer, depth)
                if wrong is not None:
                    first[k] = wrong
                    if stop_at_first_error and not p.done:
                        p.fail(f"stopped at the first wrong call ({wrong['first_wrong_kind']})")
            if p.done:
                rows[k] = _row(problems[k], p, mode, first.get(k))
                del live[k]
                bar.update(1)
    bar.close()
    return rows  # type: ignore[return-value]


def _check(req: Request, answer: str, depth: int) -> dict | None:
    if req.adapter.endswith(DIRECT_SUFFIX):
        return None  # a direct answer is scored by its result alone; it has no steps to check
    expected = expected_answer(req.adapter, req.prompt)  # None cannot happen before the first wrong call
    if expected is not None and answer == expected:
        return None
    if req.adapter.endswith(ALIGNER_SUFFIX) and expected is not None and answer.strip() == expected.strip():
        return None  # aligners are scored after strip, as the reference does
    kind, field = ("malformed", None) if expected is None else classify(req.adapter, req.prompt, answer, expected,
                                                                        depth)
    return {"first_wrong_call": req.call, "first_wrong_kind": kind, "first_wrong_field": field,
            "first_wrong_adapter": req.adapter, "first_wrong_depth": depth}


def _row(problem, p, mode: str, wrong: dict | None) -> dict:
    op, a, b = problem
    correct = bool(p.correct)
    wrong = wrong or {}
    if mode == "direct" and not correct:  # one call with no steps to check: its answer is the wrong part
        wrong = {"first_wrong_call": 0, "first_wrong_kind": "direct", "first_wrong_adapter": p.adapter,
                 "first_wrong_depth": 0}
    kind = wrong.get("first_wrong_kind")
    if not correct and kind is None:
        kind = "step_limit"
    return {"op": op, "a": str(a), "b": None if b is None else str(b), "digits": len(str(a)), "mode": mode,
            "correct": correct, "result": getattr(p, "result", None), "error": p.error, "calls": len(p.calls),
            "first_wrong_call": wrong.get("first_wrong_call"), "first_wrong_kind": kind,
            "first_wrong_field": wrong.get("first_wrong_field"), "first_wrong_adapter": wrong.get("first_wrong_adapter"),
            "first_wrong_depth": wrong.get("first_wrong_depth")}


def run_steps(adapter: str, samples: Sequence[dict], model: Callable[[list[Request]], list[str]], *,
              batch_size: int = 256) -> list[dict]:
    """Single transitions (the reference's one-step mode): each {"prompt", "response"} of a test file is one call
    of `adapter`, right when the answer equals the response (after strip, as the reference scores it); a wrong one
    is classified like any wrong call. Rows as `run`'s, mode "step", digits None."""
    rows = []
    for s0 in range(0, len(samples), batch_size):
        chunk = samples[s0:s0 + batch_size]
        requests = [Request(s0 + i, 0, adapter, x["prompt"]) for i, x in enumerate(chunk)]
        for x, answer in zip(chunk, model(requests)):
            answer = answer if isinstance(answer, str) else ""
            ok = answer.strip() == x["response"].strip()
            kind, field = (None, None) if ok else classify(adapter, x["prompt"], answer, x["response"])
            rows.append({"op": adapter, "a": None, "b": None, "digits": None, "mode": "step", "correct": ok,
                         "result": answer, "error": None, "calls": 1, "first_wrong_call": None if ok else 0,
                         "first_wrong_kind": kind, "first_wrong_field": field, "first_wrong_adapter": None if ok
                         else adapter, "first_wrong_depth": None if ok else 0})
    return rows


def summarise(rows: Iterable[dict], keys: Sequence[str] = ("op", "digits", "mode")) -> list[dict]:
    """A row per (op, digits, mode): n, correct, accuracy, ci_low, ci_high, errors {kind: wrong problems whose
    first wrong call was of that kind} (so correct + sum(errors) == n), calls."""
    from .stats import accuracy_row

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    out = []
    for key, g in groups.items():
        errors = {k: 0 for k in KINDS}
        for r in g:
            if not r["correct"]:
                errors[r["first_wrong_kind"]] += 1
        out.append({**dict(zip(keys, key)), **accuracy_row(sum(r["correct"] for r in g), len(g)),
                    "errors": {k: v for k, v in errors.items() if v}, "calls": sum(r["calls"] for r in g)})
    return out


# ----------------------------------------------------------------------------------------------- models
def oracle_model(requests: Sequence[Request]) -> list[str]:
    """The symbolic machines answer (a prompt the machine cannot answer gets an empty answer; a direct-answer
    call gets the result)."""
    out = []
    for r in requests:
        try:
            if r.adapter.endswith(DIRECT_SUFFIX):
                from .machines.aligner import parse_expression

                _, a, b = parse_expression(r.prompt)
                out.append(get(r.adapter[: -len(DIRECT_SUFFIX)]).python_result(a, b))
                continue
            out.append(oracle_answer(r.adapter, r.prompt))
        except (MalformedText, ValueError):
            out.append("")
    return out


CORRUPTIONS = ("digit", "drop_line", "duplicate_line", "truncate", "empty", "random_text", "call_unknown",
               "call_wrong")


def corrupt(answer: str, kind: str, rng: random.Random) -> str:
    """`answer` corrupted by one `kind` of CORRUPTIONS (seeded by `rng`); the result always differs from it."""
    lines = answer.split("\n")
    if kind == "digit":
        spots = [i for i, c in enumerate(answer) if c.isdigit()]
        if spots:
            i = rng.choice(spots)
            return answer[:i] + str((int(answer[i]) + rng.randint(1, 9)) % 10) + answer[i + 1:]
        kind = "random_text"
    if kind == "drop_line" and len([x for x in lines if x]) > 1:
        i = rng.choice([j for j, x in enumerate(lines) if x])
        return "\n".join(lines[:i] + lines[i + 1:])
    if kind == "duplicate_line" and any(lines):
        i = rng.choice([j for j, x in enumerate(lines) if x])
        return "\n".join(lines[:i + 1] + lines[i:])
    if kind == "truncate" and len(answer) > 1:
        return answer[:rng.randint(1, len(answer) - 1)]
    if kind == "empty":
        return ""
    if kind in ("call_unknown", "call_wrong") and len(lines) >= 2 and lines[0]:
        callee = "NO_SUCH_MACHINE" if kind == "call_unknown" else rng.choice(
            [m for m in ("ADD", "SUB", "MUL", "DIV", "EQUAL", "LESS_THAN") if f"[CALL] {m}," not in lines[1]])
        return f"{lines[0]}\nCMD [CALL] {callee}, q1\n{callee}, q0, [HEAD1] |1\nCMD [HEAD1] RIGHT, q1"
    text = "".join(rng.choice("abc |[]0123456789,\n") for _ in range(rng.randint(1, 40)))
    return text if text != answer else text + "x"


class NoisyOracle:
    """The oracle with fault injection: with probability `noise` a call's answer is corrupted by a kind drawn from
    `kinds`. Seeded per (problem, call, prompt), so the answers do not depend on how problems are batched. `injected`
    counts the corruptions made, by kind."""

    def __init__(self, noise: float, seed: int = 0, kinds: Sequence[str] = CORRUPTIONS):
        if not 0 <= noise <= 1:
            raise ValueError(f"noise {noise}: a probability in [0, 1]")
        unknown = set(kinds) - set(CORRUPTIONS)
        if unknown:
            raise ValueError(f"unknown corruptions {sorted(unknown)}; known: {', '.join(CORRUPTIONS)}")
        self.noise, self.seed, self.kinds = noise, seed, tuple(kinds)
        self.injected: dict[str, int] = {}
        self.log: dict[tuple[int, int], str] = {}

    def __call__(self, requests: Sequence[Request]) -> list[str]:
        answers = oracle_model(requests)
        for i, r in enumerate(requests):
            # the prompt too: problem k of one (op, digits) run and problem k of another get independent faults
            rng = random.Random(f"noisy-oracle/{self.seed}/{r.key}/{r.call}/{r.prompt}")
            if rng.random() < self.noise:
                kind = rng.choice(self.kinds)
                answers[i] = corrupt(answers[i], kind, rng)
                self.injected[kind] = self.injected.get(kind, 0) + 1
                self.log[(r.key, r.call)] = kind
        return answers


MERGE_MAX_PARAMETERS = 50_000_000  # merge="auto": a merged copy of the base per adapter only for bases this small


def should_merge(model, grouping: str, merge: bool | str) -> bool:
    """Whether `HFModel` answers each adapter's batches with a merged copy (see there). "auto": yes for a peft model
    in one-batch-per-adapter grouping whose weights are all float32 (merging bf16/fp16 weights rounds the LoRA
    update away in part) and whose base has at most MERGE_MAX_PARAMETERS parameters (a copy per adapter)."""
    if merge not in (True, False, "auto"):
        raise ValueError(f"merge {merge!r}: True, False or 'auto'")
    if merge is False or model is None:
        return False
    from peft import PeftModel

    if not isinstance(model, PeftModel) or grouping != "adapter":
        if merge is True:
            raise ValueError("merge=True needs a peft model and grouping='adapter'")
        return False
    if merge is True:
        return True
    import torch

    base = model.get_base_model()
    weights = [p for n, p in base.named_parameters() if "lora_" not in n]
    return all(p.dtype == torch.float32 for p in weights) and sum(p.numel() for p in weights) <= MERGE_MAX_PARAMETERS


def merged_copy(model, adapter: str):
    """A plain transformers model: a copy of peft `model`'s base with `adapter`'s LoRA update added into its
    weights (peft's `merge_and_unload`), `model` itself untouched. The same function as the base with the adapter,
    one matrix product per layer instead of three."""
    import copy

    return copy.deepcopy(model).merge_and_unload(adapter_names=[adapter]).eval()


class HFModel:
    """A transformers/peft model carrying the adapters, answering greedily with the KV cache, each call bounded by
    the longest answer the machine can give to its prompt (plus `slack` tokens; a prompt the machine cannot answer
    gets the prompt's own length). `grouping`: "adapter" runs one batch per adapter (`set_adapter`), "mixed" one
    batch for the whole round (peft `adapter_names`); benchmarks/executor_throughput.py measures both.

    `merge`: answer each adapter's batches with a copy of the base that has the adapter merged into its weights
    (`merged_copy`, made at the adapter's first call and kept). On a CPU a small model's decoding costs about in
    proportion to its matrix products, and an unmerged LoRA layer runs three where a merged one runs one (1.2-1.7x
    faster decoding for the tiny model, depending on OMP_WAIT_POLICY; benchmarks/RESULTS.md). "auto" (default)
    merges where `should_merge` says it is safe and cheap. The merged copies are taken at first use: build a new
    HFModel after changing the adapters."""

    def __init__(self, model, tokenizer, *, batch_size: int = 128, slack: int = 8, grouping: str = "adapter",
                 decoding: str = "generate", draft: int = 8, merge: bool | str = "auto"):
        if grouping not in ("adapter", "mixed"):
            raise ValueError(f"grouping {grouping!r}: 'adapter' or 'mixed'")
        if decoding not in ("generate", "lookup"):
            raise ValueError(f"decoding {decoding!r}: 'generate' or 'lookup'")
        if decoding == "lookup" and grouping == "mixed":
            raise ValueError("decoding='lookup' runs one batch per adapter: use grouping='adapter'")
        self.model, self.tokenizer, self.batch_size, self.slack = model, tokenizer, batch_size, slack
        self.grouping, self.decoding, self.draft = grouping, decoding, draft
        self.merge = should_merge(model, grouping, merge)
        self._merged: dict = {}
        self.stats = {"prompts": 0, "new_tokens": 0, "seconds": 0.0}

    def model_for(self, adapter: str):
        """The model that answers `adapter`'s calls: its merged copy, or the peft model with it set active."""
        if not self.merge:
            self.model.set_adapter(adapter)
            return self.model
        if adapter not in self._merged:
            if adapter not in self.model.peft_config:
                raise ValueError(f"adapter {adapter!r} is not loaded (loaded: {sorted(self.model.peft_config)})")
            self._merged[adapter] = merged_copy(self.model, adapter)
        return self._merged[adapter]

    def limit(self, adapter: str, prompt: str) -> int:
        answer = expected_answer(adapter, prompt)
        return len(self.tokenizer(prompt if answer is None else answer, add_special_tokens=False)["input_ids"]) \
            + self.slack

    def _generate(self, model, requests: Sequence[Request], adapter_names) -> list[str]:
        from .generation import generate

        stats: dict = {}
        limits = [self.limit(r.adapter, r.prompt) for r in requests]
        if self.decoding == "lookup":
            from .lookup_decoding import lookup_generate

            out = lookup_generate(model, self.tokenizer, [r.prompt for r in requests], max_new_tokens=limits,
                                  draft=self.draft, batch_size=self.batch_size, stats=stats)
        else:
            out = generate(model, self.tokenizer, [r.prompt for r in requests], max_new_tokens=limits,
                           batch_size=self.batch_size, adapter_names=adapter_names, stats=stats)
        for key in ("prompts", "new_tokens", "forward_passes", "greedy_passes"):  # the last two: lookup decoding
            if key in stats:
                self.stats[key] = self.stats.get(key, 0) + stats[key]
        return out

    def __call__(self, requests: Sequence[Request]) -> list[str]:
        t0 = time.perf_counter()
        if self.grouping == "mixed":
            out = self._generate(self.model, requests, [r.adapter for r in requests])
        else:
            out = [""] * len(requests)
            groups: dict[str, list[int]] = {}
            for i, r in enumerate(requests):
                groups.setdefault(r.adapter, []).append(i)
            for adapter, idx in groups.items():
                model = self.model_for(adapter)
                for i, answer in zip(idx, self._generate(model, [requests[i] for i in idx], None)):
                    out[i] = answer
        self.stats["seconds"] += time.perf_counter() - t0
        return out


# ---------------------------------------------------------------------------------------------- problems
ALL = ("add", "sub", "mul", "div", "equal", "greater_than", "less_than", "long_mul", "long_div")


def draw_problems(op: str, digits: int, n: int, seed: int = 0) -> list[tuple[str, int, int | None]]:
    """`n` problems of `op` at `digits`, drawn as the reference's test sets draw them: both operands of N digits
    (add, sub with a >= b, equal, greater_than, less_than, long_mul); mul: a of N digits and b in 1..15 (the
    reference's `test_1_10` layout); div: b of N digits and a = q*b + r with q 2 or 3 (the same layout); long_div:
    a dividend of 2N digits and a divisor of N digits. Seeded per (seed, op, digits)."""
    from .datasets import classes as C

    if digits < 1 or n < 1:
        raise ValueError("digits and n must be >= 1")
    rng = C.stream(seed, op, f"eval_{digits}", "all", "operands")
    if op == "mul":
        return [(op, *C.mul_reference_problem(digits, rng)) for _ in range(n)]
    if op == "div":
        return [(op, *C.div_reference_problem(digits, rng)) for _ in range(n)]
    width = 2 * digits if op == "long_div" else digits
    if op == "long_div":
        out = []
        for _ in range(n):
            b = C.number(rng, digits) or 1
            out.append((op, C.number(rng, width) if width > 1 else rng.randint(1, 9), b))
        return out
    slots = C.length_test_problems(op, width, n, rng)
    return [(op, *C.draw_problem(op, c[0], c[1], i, rng, extra)) for c, i, extra in slots]
