"""Greedy decoding with prompt-lookup drafts, for whole batches: what CAEF's answers make cheap.

    answers = lookup_generate(model, tokenizer, prompts, max_new_tokens=limits, draft=8)

An executor's answer is its prompt's state line rewritten with a head moved and a digit written, then a command:
most of it is a copy of the prompt. Each round every unfinished row gets its last token plus up to `draft` tokens
guessed by continuing the copy (the longest recent n-gram of its text found in its prompt, and what followed it
there); one forward pass with the KV cache scores them all, and each row keeps the guesses that greedy decoding
would have written, plus the model's own next token. The answer is the greedy answer (the same tokens, up to
floating-point ties), in fewer forward passes.

Why hand-written: transformers' prompt-lookup decoding (`generate(prompt_lookup_num_tokens=...)`) runs one
sequence at a time. Here rows keep different numbers of guesses each round; the guesses a row rejects stay in
the cache as holes, masked out by the attention mask, and every row's positions count only what it kept. Holes
take cache slots, so models with a sliding-window cache (Mistral- or Qwen-style) are not supported.
"""
from __future__ import annotations

import time
from collections.abc import Sequence


def propose(prompt: Sequence[int], text: Sequence[int], start: int, k: int, ngram: int = 3) -> tuple[list[int], int]:
    """Up to `k` guessed next tokens for `text` (prompt and answer so far) and where in `prompt` they were copied
    from: the longest suffix of `text` (up to `ngram` tokens) that occurs in `prompt`, at its first occurrence that
    ends at or after `start` (where the last copy left off; else its first), continued by what follows it in
    `prompt`. ([], start) when nothing matches."""
    n_prompt = len(prompt)
    for n in range(min(ngram, len(text)), 0, -1):
        tail = list(text[-n:])
        hits = [i for i in range(n_prompt - n) if list(prompt[i:i + n]) == tail]
        if hits:
            at = next((i for i in hits if i + n >= start), hits[0]) + n
            return list(prompt[at:at + k]), at
    return [], start


def lookup_generate(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int | Sequence[int],
                    draft: int = 8, ngram: int = 3, batch_size: int = 64, stats: dict | None = None) -> list[str]:
    """Greedy continuations of `prompts` (decoded, special tokens removed), each ending at EOS or its limit, in
    the order of `prompts`. `draft`: tokens guessed per row and round; `stats` receives prompts, new_tokens,
    forward_passes, greedy_passes (what token-by-token decoding of the same batches takes: its longest answer),
    accepted (guessed tokens kept) and seconds. A decoder-only transformers (or peft) model that takes
    position_ids."""
    from .generation import pad_id_of

    prompts = list(prompts)
    limits = [int(n) for n in max_new_tokens] if isinstance(max_new_tokens, Sequence) else \
        [int(max_new_tokens)] * len(prompts)
    if len(limits) != len(prompts) or any(n < 1 for n in limits):
        raise ValueError(f"max_new_tokens: one limit >= 1, or one per prompt ({len(prompts)} prompts)")
    if draft < 0 or ngram < 1:
        raise ValueError("draft must be >= 0 and ngram >= 1")
    eos, pad = tokenizer.eos_token_id, pad_id_of(tokenizer)
    if eos is None:
        raise ValueError("the tokenizer has no EOS token")
    encoded = [tokenizer(p, add_special_tokens=True)["input_ids"] for p in prompts]
    answers: list[list[int]] = [[] for _ in prompts]
    counts = {"passes": 0, "greedy": 0, "accepted": 0}
    t0 = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
        for s in range(0, len(order), batch_size):
            _decode_batch(model, encoded, order[s:s + batch_size], limits, answers, draft, ngram, eos, pad, counts)
    finally:
        model.train(was_training)
    if stats is not None:
        stats.update(prompts=len(prompts), new_tokens=sum(len(a) for a in answers), forward_passes=counts["passes"],
                     greedy_passes=counts["greedy"], accepted=counts["accepted"], seconds=time.perf_counter() - t0)
    return [tokenizer.decode(a, skip_special_tokens=True, clean_up_tokenization_spaces=False) for a in answers]


def _decode_batch(model, encoded, rows, limits, answers, draft, ngram, eos, pad, counts) -> None:
    """One batch of lookup_generate: appends each row's greedy tokens to `answers[i]`, counts into `counts`."""
    import torch
    from transformers import DynamicCache

    from .generation import left_padded

    device = next(model.parameters()).device
    batch = list(rows)
    ids, mask = left_padded([encoded[i] for i in rows], pad)
    cache = DynamicCache()
    with torch.no_grad():
        position = (mask.cumsum(1) - 1).clamp(min=0)
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=position.to(device),
                       past_key_values=cache, use_cache=True).logits[:, -1]
        counts["passes"] += 1
        live = []  # rows still writing, in the cache's row order
        for r, i in enumerate(rows):
            answers[i].append(int(logits[r].argmax()))
            live.append(answers[i][-1] != eos and len(answers[i]) < limits[i])
        next_pos = mask.sum(1)
        pointer = {i: 0 for i in rows}
        while any(live):
            keep = [r for r, alive in enumerate(live) if alive]
            if len(keep) < len(rows):  # finished rows leave the batch (and the cache)
                cache.batch_select_indices(torch.tensor(keep, device=device))
                mask, next_pos = mask[keep], next_pos[keep]
                rows = [rows[r] for r in keep]
            guesses = []
            for i in rows:
                room = limits[i] - len(answers[i])
                guess, pointer[i] = propose(encoded[i], encoded[i] + answers[i], pointer[i], min(draft, room - 1),
                                            ngram)
                guesses.append(guess)
            k = max(len(g) for g in guesses)
            step = torch.full((len(rows), 1 + k), pad, dtype=torch.long)
            for r, (i, g) in enumerate(zip(rows, guesses)):
                step[r, 0] = answers[i][-1]
                step[r, 1:1 + len(g)] = torch.tensor(g, dtype=torch.long)
            new_mask = torch.ones((len(rows), 1 + k), dtype=torch.long)
            position = next_pos[:, None] + torch.arange(1 + k)[None, :]
            logits = model(input_ids=step.to(device), attention_mask=torch.cat([mask, new_mask], 1).to(device),
                           position_ids=position.to(device), past_key_values=cache, use_cache=True).logits
            counts["passes"] += 1
            best = logits.argmax(-1).tolist()
            live = []
            for r, (i, g) in enumerate(zip(rows, guesses)):
                m = 0
                while m < len(g) and best[r][m] == g[m]:
                    m += 1
                new_mask[r, 1 + m:] = 0  # rejected guesses stay in the cache as masked holes
                pointer[i] += m
                counts["accepted"] += m
                added = g[:m] + [best[r][m]]
                if eos in added:
                    added = added[:added.index(eos) + 1]
                answers[i] += added[:limits[i] - len(answers[i])]
                live.append(answers[i][-1] != eos and len(answers[i]) < limits[i])
            mask = torch.cat([mask, new_mask], 1)
            next_pos = next_pos + new_mask.sum(1)
    counts["greedy"] += max(len(answers[i]) for i in batch)
