"""What a pre-trained model brings to the length experiment, given to a tiny model: lists and numbers of every
length up to the longest test operand.

The paper's LLMs have read digit strings and Python lists of every length before they are fine-tuned on 1-5 digit
additions; a tiny model trained from scratch on those additions has never written a list longer than five
elements, and it closes every list after five (measured: benchmarks/RESULTS.md). So the tiny base of notebook 04
is first pre-trained on generic list and number manipulations of 1 to `max_len` digits (the longest test length
plus one). Nothing in it adds: no carry, no sum, no trace line; every format (direct, scratchpad, RFFT) starts
from the same base, and a share of these samples is replayed while a format is fine-tuned (as a pre-trained
model keeps what it knew).

    list 314=            -> [3, 1, 4]        number [3, 1, 4]=  -> 314
    copy [3, 1, 4]=      -> [3, 1, 4]        copy 314=          -> 314
    drop [3, 1, 4]=      -> [3, 1]           drop 314=          -> 31          (the last element removed)
    last [3, 1, 4]=      -> 4                last 314=          -> 4
"""
from __future__ import annotations

import random

KINDS = ("list", "number", "copy_list", "copy_number", "drop_list", "drop_number", "last_list", "last_number")


def _digits(rng: random.Random, n: int) -> list[int]:
    return [rng.randint(1 if i == 0 and n > 1 else 0, 9) for i in range(n)]


def generic_sample(kind: str, ds: list[int]) -> dict:
    """One {"prompt", "response", "kind"} of `kind` on the digits `ds`."""
    num, lst = "".join(map(str, ds)), str(ds)
    prompt, response = {
        "list": (f"list {num}=", lst),
        "number": (f"number {lst}=", num),
        "copy_list": (f"copy {lst}=", lst),
        "copy_number": (f"copy {num}=", num),
        "drop_list": (f"drop {lst}=", str(ds[:-1])),
        "drop_number": (f"drop {num}=", num[:-1]),
        "last_list": (f"last {lst}=", str(ds[-1])),
        "last_number": (f"last {num}=", str(ds[-1])),
    }[kind]
    return {"prompt": prompt, "response": response, "kind": kind}


def generic_samples(n: int, max_len: int, seed: int = 0) -> list[dict]:
    """`n` samples, kinds uniform, lengths uniform in 1..max_len (seeded)."""
    if max_len < 1:
        raise ValueError(f"max_len {max_len}: must be >= 1")
    rng = random.Random(f"rfft-generic-{seed}")
    return [generic_sample(rng.choice(KINDS), _digits(rng, rng.randint(1, max_len))) for _ in range(n)]


def pretrain_base(folder, tokenizer, *, steps: int, max_len: int, arch_name: str = "tiny-llama",
                  arch: dict | None = None, lr: float = 3e-3, seed: int = 0, device: str = "auto",
                  progress: bool = True):
    """A built-in model pre-trained on `generic_samples` (packed batches of 32) and saved in `folder` (an
    identical earlier run is reused). Returns the TrainResult; `models.load_base(folder)` loads the base."""
    from ..environment import resolve_device
    from ..models import build_tiny
    from ..training import preset, train

    model, tokenizer = build_tiny(arch_name, tokenizer, seed=seed, **(arch or {}))
    model = model.to(resolve_device(device))
    cfg = preset("tiny_pretrain", max_steps=max(steps, 1), lr=lr, seed=seed, pack=True, checkpoint_every=0)
    samples = generic_samples(steps * cfg.batch_size, max_len, seed)
    held_out = generic_samples(64, max_len, seed + 10_000)
    return train(cfg, model, tokenizer, samples, folder, eval_samples=held_out, eval_exact=64, in_place=True,
                 progress=progress, desc="length base pre-training")
