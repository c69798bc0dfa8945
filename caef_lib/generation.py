"""How the kit generates text and scores it: one module for every notebook.

    answers = generate(model, tok, prompts, max_new_tokens=64)                        # greedy
    answers = generate(model, tok, prompts, do_sample=True, temperature=1.0, top_k=50, seed=3)
    answers = generate(peft_model, tok, prompts, adapter_names=["add", "sub", ...])   # an adapter per prompt
    accuracy, answers = exact_match(model, tok, samples, extract=last_number)          # scored by value

Decoding is transformers' own `generate` (KV cache, greedy or sampled), batched with left padding: prompts are
sorted by length so that a batch carries little padding, and the answers come back in the caller's order. What
`generate` does not offer is added here, in one stopping criterion:
  * a limit per prompt (`max_new_tokens` may be a list): CAEF's engine bounds each call by the longest answer
    the machine can give for that prompt; a batch runs until its longest limit and each answer is cut at its own;
  * stop strings that work with any tokenizer: the tail of each row is decoded and searched, so a stop string
    split over several tokens is found too (transformers' StopStringCriteria works from the vocabulary and
    handles fewer tokenizers). A row stops at EOS or at its first stop string; the answer keeps the stop string.
Sampling draws from a generator seeded by `seed` (the caller's global RNG state is left untouched), so the same
call gives the same answers. `adapter_names` is peft's mixed-adapter batch: row i runs with adapter
`adapter_names[i]` ("__base__" = no adapter), in one forward pass per token for the whole batch.

Scoring takes an answer-extraction function: RFFT and scratchpad answers are scored by the value they end with,
CAEF's steps and the direct answers by the whole string.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any


def _stopping(tokenizer, width: int, limits: Sequence[int], stop: Sequence[str]):
    """A transformers StoppingCriteria: row r is done after `limits[r]` new tokens or once its text since the
    prompt (`width` tokens, left-padded) contains a stop string."""
    import torch
    from transformers import StoppingCriteria

    tail = max((len(s) for s in stop), default=0) + 8  # tokens: every token decodes to >= 1 character (or none)

    class Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            n = input_ids.shape[1] - width
            done = torch.tensor([n >= lim for lim in limits], device=input_ids.device)
            if stop:
                for r in range(input_ids.shape[0]):
                    if not done[r]:
                        text = tokenizer.decode(input_ids[r, max(width, input_ids.shape[1] - tail):],
                                                skip_special_tokens=True, clean_up_tokenization_spaces=False)
                        done[r] = any(s in text for s in stop)
            return done

    return Stop()


def _cut_at_stop(text: str, stop: Sequence[str]) -> str:
    ends = [text.find(s) + len(s) for s in stop if s in text]
    return text[:min(ends)] if ends else text


def pad_id_of(tokenizer) -> int:
    """The id used for padding: the tokenizer's pad token, or EOS for tokenizers that have none (Llama, GPT-2);
    padded positions are masked out either way."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def left_padded(rows: Sequence[Sequence[int]], pad_id: int):
    """(input_ids, attention_mask) of token rows padded on the left to the longest, as decoding needs them."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for k, row in enumerate(rows):
        ids[k, width - len(row):] = torch.tensor(row, dtype=torch.long)
        mask[k, width - len(row):] = 1
    return ids, mask


def generate(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int | Sequence[int] = 256,
             batch_size: int = 32, do_sample: bool = False, temperature: float = 1.0, top_k: int = 0,
             seed: int = 0, stop: str | Sequence[str] | None = None, use_cache: bool = True,
             adapter_names: Sequence[str] | None = None, progress: bool = False, desc: str = "generate",
             stats: dict | None = None) -> list[str]:
    """Continuations of `prompts` (decoded, special tokens removed), in the order of `prompts`.

    max_new_tokens: one limit for all, or one per prompt.
    do_sample: sample at `temperature` from the `top_k` most likely tokens (0 = all) instead of greedy decoding.
    stop: a string or strings at which a continuation ends (kept in the answer); EOS always ends one.
    use_cache: the KV cache (off only to check that it changes nothing).
    adapter_names: for a peft model carrying several adapters, the adapter of each prompt.
    stats: a dict that receives prompts, new_tokens (generated, EOS included) and seconds.
    """
    import torch
    from tqdm import tqdm

    prompts = list(prompts)
    limits = [int(n) for n in max_new_tokens] if isinstance(max_new_tokens, Sequence) else \
        [int(max_new_tokens)] * len(prompts)
    if len(limits) != len(prompts) or any(n < 1 for n in limits):
        raise ValueError(f"max_new_tokens: one limit >= 1, or one per prompt ({len(prompts)} prompts)")
    if adapter_names is not None:
        from peft import PeftModel

        if not isinstance(model, PeftModel):
            raise ValueError("adapter_names needs a peft model carrying those adapters")
        if len(adapter_names) != len(prompts):
            raise ValueError(f"adapter_names: one name per prompt ({len(adapter_names)} for {len(prompts)} prompts)")
        unknown = sorted(set(adapter_names) - set(model.peft_config) - {"__base__"})
        if unknown:
            raise ValueError(f"adapter_names: {unknown} are not loaded (loaded: {sorted(model.peft_config)})")
    if do_sample and not (temperature > 0 and top_k >= 0):
        raise ValueError(f"sampling needs temperature > 0 and top_k >= 0 (got {temperature}, {top_k})")
    stop = [s for s in ([stop] if isinstance(stop, str) else (stop or [])) if s]
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token")

    from transformers import GenerationConfig

    device = next(model.parameters()).device
    pad_id = pad_id_of(tokenizer)
    sampling = dict(do_sample=True, temperature=temperature, top_k=top_k, top_p=1.0) if do_sample else \
        dict(do_sample=False)
    settings = dict(eos_token_id=tokenizer.eos_token_id, pad_token_id=pad_id, use_cache=use_cache, **sampling)
    encoded = [tokenizer(p, add_special_tokens=True)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    outputs: list[Any] = [None] * len(prompts)
    new_tokens, t0 = 0, time.perf_counter()
    was_training = model.training
    model.eval()
    bar = tqdm(total=len(prompts), desc=desc, disable=not progress, mininterval=5.0)
    with torch.no_grad(), torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            ids, mask = left_padded([encoded[i] for i in idx], pad_id)
            width = ids.shape[1]
            row_limits = [limits[i] for i in idx]
            extra = {"adapter_names": [adapter_names[i] for i in idx]} if adapter_names is not None else {}
            config = GenerationConfig(max_new_tokens=max(row_limits), **settings)
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), generation_config=config,
                                 stopping_criteria=[_stopping(tokenizer, width, row_limits, stop)], **extra)
            for r, i in enumerate(idx):
                row = gen[r, width:width + limits[i]].tolist()
                if tokenizer.eos_token_id in row:
                    row = row[:row.index(tokenizer.eos_token_id) + 1]
                new_tokens += len(row)
                text = tokenizer.decode(row, skip_special_tokens=True, clean_up_tokenization_spaces=False)
                outputs[i] = _cut_at_stop(text, stop) if stop else text
            bar.update(len(idx))
    bar.close()
    model.train(was_training)
    if stats is not None:
        stats.update(prompts=len(prompts), new_tokens=new_tokens, seconds=time.perf_counter() - t0)
    return outputs


def answer_limits(tokenizer, prompts: Sequence[str], responses: Sequence[str], slack: int = 2) -> list[int]:
    """A generation limit per (prompt, expected response): the response's tokens after that prompt plus `slack`
    (room for EOS and one more, so that an answer that runs on past the expected one is seen to be wrong). The
    response is counted as training tokenises it, together with its prompt: alone, a SentencePiece tokenizer
    may cut it into fewer tokens than the model has to write."""
    from .training.data import encode_samples

    samples = [{"prompt": p, "response": r} for p, r in zip(prompts, responses, strict=True)]
    encoded, _ = encode_samples(tokenizer, samples, max_length=1 << 30) if samples else ([], 0)
    return [len(e.input_ids) - e.n_prompt - 1 + slack for e in encoded]  # minus the EOS training appends


def score(answers: Sequence[str], expected: Sequence[str],
          extract: Callable[[str], Any] | None = None) -> list[bool]:
    """Whether each answer is right: equal to the expected string, or, with `extract`, of the same extracted
    value (`extract(answer) == extract(expected)`). An answer whose extraction fails (raises or gives None) is
    wrong; malformed model output never stops scoring."""
    if len(answers) != len(expected):
        raise ValueError(f"{len(answers)} answers for {len(expected)} expected values")
    if extract is None:
        return [a == e for a, e in zip(answers, expected)]
    right = []
    for a, e in zip(answers, expected):
        want = extract(e)
        if want is None:
            raise ValueError(f"the extraction function finds no value in the expected answer {e!r:.120}")
        try:
            got = extract(a)
        except Exception:  # noqa: BLE001 - a model's answer can be anything
            got = None
        right.append(got is not None and got == want)
    return right


def exact_match(model, tokenizer, samples: Sequence[dict], *, extract: Callable[[str], Any] | None = None,
                max_new_tokens: int | Sequence[int] | None = None, batch_size: int = 32,
                **generate_kwargs) -> tuple[float, list[str]]:
    """Fraction of {"prompt", "response"} samples answered right (greedy unless told otherwise; see `score`),
    and the answers. Without `max_new_tokens` each sample may generate its response's length plus 2 tokens."""
    if not samples:
        return float("nan"), []
    if max_new_tokens is None:
        max_new_tokens = answer_limits(tokenizer, [s["prompt"] for s in samples], [s["response"] for s in samples])
    answers = generate(model, tokenizer, [s["prompt"] for s in samples], max_new_tokens=max_new_tokens,
                       batch_size=batch_size, **generate_kwargs)
    right = score(answers, [s["response"] for s in samples], extract)
    return sum(right) / len(samples), answers
