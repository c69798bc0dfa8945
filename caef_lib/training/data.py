"""From {"prompt", "response"} samples to tensors: tokenisation, the batches of each epoch, collation.

Every sample becomes BOS + prompt + response + EOS. The loss is on the response and the EOS (prompt positions
are labelled -100), or on every real token with `loss_on="all"`. Samples longer than `max_length` are dropped
(and counted), never truncated: a cut answer would teach the model to stop early.
"""
from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

@dataclass
class Encoded:
    input_ids: list[int]
    n_prompt: int        # tokens (BOS included) that carry no loss with loss_on="answer"


def encode_sample(tokenizer, prompt: str, response: str) -> Encoded:
    """BOS + prompt + response + EOS, split where the prompt's tokens end.

    The prompt is tokenised as at inference time (with the tokenizer's special tokens, i.e. BOS where the
    tokenizer adds one). The full text is tokenised in one go so that the answer tokens are the ones the model
    would generate after that prompt; if a tokenizer merges across the boundary, the answer is tokenised on
    its own instead.
    """
    p = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    full = tokenizer(prompt + response, add_special_tokens=True)["input_ids"]
    if full[:len(p)] != p:
        full = p + tokenizer(response, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; training appends EOS after every answer")
    return Encoded(full + [tokenizer.eos_token_id], len(p))


def encode_samples(tokenizer, samples: Iterable[dict], max_length: int, chunk: int = 2048
                   ) -> tuple[list[Encoded], int]:
    """Encode {"prompt", "response"} samples like `encode_sample` (in batches, which is much faster);
    drop (and count) those longer than max_length tokens."""
    kept, dropped = [], 0
    samples = list(samples)
    for i, s in enumerate(samples):
        if not (isinstance(s, dict) and isinstance(s.get("prompt"), str) and isinstance(s.get("response"), str)):
            raise ValueError(f"training sample {i} is not a {{'prompt': ..., 'response': ...}} object: {s!r:.200}")
    if samples and tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token; training appends EOS after every answer")
    for start in range(0, len(samples), chunk):
        part = samples[start:start + chunk]
        prompts = tokenizer([s["prompt"] for s in part], add_special_tokens=True)["input_ids"]
        fulls = tokenizer([s["prompt"] + s["response"] for s in part], add_special_tokens=True)["input_ids"]
        for s, p, full in zip(part, prompts, fulls):
            if full[:len(p)] != p:
                full = p + tokenizer(s["response"], add_special_tokens=False)["input_ids"]
            ids = full + [tokenizer.eos_token_id]
            if len(ids) > max_length:
                dropped += 1
            else:
                kept.append(Encoded(ids, len(p)))
    return kept, dropped


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int, bucket: bool = True
                  ) -> list[list[int]]:
    """The batches (lists of sample indices) of one epoch: a pure function of (lengths, seed, epoch)."""
    rng = random.Random(f"caef-batches-{seed}-{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if bucket:
        window = batch_size * 64
        order = [i for w in range(0, len(order), window)
                 for i in sorted(order[w:w + window], key=lambda i: lengths[i])]
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if bucket:
        rng.shuffle(batches)
    return batches


def loss_start(e: Encoded, loss_on: str) -> int:
    """The first position whose token carries loss: the answer's first token, or (loss_on="all") the token
    after BOS."""
    return e.n_prompt if loss_on == "answer" else 1


def collate(examples: Sequence[Encoded], pad_id: int, loss_on: str):
    """Right-padded input_ids, attention_mask and labels (-100 on prompt and padding)."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), -100, dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        mask[row, :n] = 1
        start = loss_start(e, loss_on)
        labels[row, start:n] = ids[row, start:n]
    return ids, mask, labels


def collate_packed(examples: Sequence[Encoded], pad_id: int, loss_on: str):
    """Like `collate`, with several samples per row: input_ids, a 4-D attention mask, position_ids, labels.

    Rows are filled first-fit, longest sample first, up to the longest sample's length. Each sample attends only
    to itself (a block-diagonal causal mask, True = may attend) and its positions restart at 0, so the loss and
    gradients equal `collate`'s for the same samples, up to float rounding; only the padded slots go. Mixed-length
    batches need this: much of a generic pre-training batch is padding (measured: benchmarks/RESULTS.md).
    """
    import torch

    width = max(len(e.input_ids) for e in examples)
    rows: list[list[Encoded]] = []
    fill: list[int] = []
    for e in sorted(examples, key=lambda e: -len(e.input_ids)):
        row = next((r for r in range(len(rows)) if fill[r] + len(e.input_ids) <= width), None)
        if row is None:
            rows.append([])
            fill.append(0)
            row = len(rows) - 1
        rows[row].append(e)
        fill[row] += len(e.input_ids)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), 1, width, width), dtype=torch.bool)
    for r, row in enumerate(rows):
        at = 0
        for e in row:
            n = len(e.input_ids)
            ids[r, at:at + n] = torch.tensor(e.input_ids)
            positions[r, at:at + n] = torch.arange(n)
            start = loss_start(e, loss_on)
            labels[r, at + start:at + n] = ids[r, at + start:at + n]
            mask[r, 0, at:at + n, at:at + n] = torch.ones(n, n, dtype=torch.bool).tril()
            at += n
        mask[r, 0, at:, at:] = torch.eye(width - at, dtype=torch.bool)  # padding sees itself only (no NaN rows)
    return ids, mask, positions, labels


def n_loss_tokens(e: Encoded, loss_on: str) -> int:
    """How many tokens of `e` carry loss."""
    return len(e.input_ids) - loss_start(e, loss_on)
