"""The training loop: `train`, one function for every notebook (LoRA adapters or full fine-tuning of a causal LM).

    cfg = preset("tiny_lora", max_steps=300)                 # a TrainConfig; see PRESETS
    model, tok = models.load_base("data/models/default/tiny-llama/base")
    result = train(cfg, model, tok, samples, out_dir)        # samples: [{"prompt": ..., "response": ...}]
    result.summary["final_loss"], result.log                 # loss curve as a DataFrame (also CSV in out_dir)

What `train` does, in order (nanoGPT-style: one explicit loop, no callbacks framework):
1. Tokenise every sample as BOS + prompt + response + EOS; the loss is on the response tokens and the EOS
   only (prompt positions are labelled -100), or on every real token with `loss_on="all"`. Samples longer
   than `max_length` are dropped (counted in the summary), never truncated: a cut answer would teach the
   model to stop early.
2. Batches: each epoch shuffles the samples with a seed-derived RNG, sorts windows of 64 batches by length
   and cuts them into batches (length bucketing: little padding, still random), then shuffles the batch
   order; `bucket=False` keeps the plain shuffled order (the tiny presets: bucketing measurably slowed their
   learning). One optimizer step = `grad_accum` micro-batches per process; the loss is normalised by the number
   of answer tokens of the whole step, so accumulation gives the same update as one big batch.
3. AdamW, linear warm-up over `warmup_ratio` of the steps then cosine (or linear/constant) decay,
   gradient clipping at `max_grad_norm` (0 = off).
4. Every `checkpoint_every` steps: trainable weights (safetensors), optimizer + scheduler state, RNG
   states and the step counter (which fixes the position in the data order) go into
   `<checkpoint_dir>/checkpoint-NNNNNN/` (checkpoints.py), written to a temporary folder and renamed (atomic). `resume=True`
   continues from the newest checkpoint whose configuration and data match, and on a CPU ends with exactly
   the same weights as an uninterrupted run (tests/test_training.py checks torch.equal on every parameter).
5. At the end: a standard peft adapter folder (`adapter_config.json` + `adapter_model.safetensors`) or,
   for `method="full"`, a whole model folder; plus `training_log.csv` and `train_summary.json`. The folder
   is written atomically too. A finished folder with the same configuration and data is not retrained.

The caller's base model is left as it was: LoRA layers are injected for training and removed again
(`unload()`, the base weights are frozen; wrap.py), full fine-tuning trains a deep copy (`in_place=True`: the model
itself, to save memory).

Several GPUs: the same function runs under `accelerate launch` (it uses `accelerate.Accelerator`):
    accelerate launch --num_processes 8 -m caef_lib.training --base /models/Meta-Llama-3.1-8B \\
        --data data/paper/traces/add/executor.train.jsonl --out data/models/paper/Meta-Llama-3.1-8B/add \\
        --preset caef_llama_lora
DDP: every process holds the model and takes its share of each step's micro-batches; the loss is normalised by
the answer tokens of the whole step on all processes, so 2 processes give the same update as 1 process with
twice the accumulation (benchmarks/ddp_cpu_check.py, run by the tests: 2 CPU processes over gloo, identical
weights).
For full fine-tuning of an 8B model use FSDP (LoRA on 8B fits one 80 GB GPU, DDP is enough), with an
accelerate config such as
    distributed_type: FSDP
    mixed_precision: bf16
    num_processes: 8
    fsdp_config:
      fsdp_sharding_strategy: FULL_SHARD
      fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP
      fsdp_transformer_layer_cls_to_wrap: LlamaDecoderLayer
      fsdp_state_dict_type: FULL_STATE_DICT
      fsdp_use_orig_params: true
      fsdp_cpu_ram_efficient_loading: true
      fsdp_sync_module_states: true
Checkpoints gather the full state on the main process, which is right for DDP; FSDP runs (not tested by
the kit: no multi-GPU machine was available) should set checkpoint_every=0 or use accelerate's own
`save_state`, because the optimizer state stays sharded.
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import io
from ..generation import pad_id_of
from .checkpoints import base_fingerprint, fingerprint, list_checkpoints, load_checkpoint, save_checkpoint, save_final
from .config import TrainConfig
from .data import collate, collate_packed, encode_samples, epoch_batches, n_loss_tokens
from .wrap import check_init, restore_base, snapshot, wrap

LOG_COLUMNS = ["step", "epoch", "loss", "lr", "grad_norm", "tokens", "answer_tokens", "elapsed_s",
               "tokens_per_s", "eval_loss", "eval_exact_match"]

@dataclass
class TrainResult:
    out_dir: Path
    summary: dict
    log: Any                     # pandas DataFrame with LOG_COLUMNS
    skipped: bool = False        # True: an identical finished run was found and reused
    model: Any = None            # the trained model, only with train(..., keep_model=True)


def _accelerator(device: str, cfg: TrainConfig):
    import torch
    from accelerate import Accelerator

    cuda = device.startswith("cuda") and torch.cuda.is_available()
    mixed = "bf16" if (cuda and cfg.bf16 and torch.cuda.is_bf16_supported()) else "no"
    return Accelerator(cpu=device.startswith("cpu"), mixed_precision=mixed)  # CUDA, MPS: where the model is


def _schedule(optimizer, cfg: TrainConfig, total_steps: int):
    from transformers import get_scheduler

    warmup = math.ceil(cfg.warmup_ratio * total_steps)
    name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}[cfg.schedule]
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total_steps)


def train(cfg: TrainConfig, model, tokenizer, samples: Iterable[dict], out_dir: str | os.PathLike, *,
          eval_samples: Sequence[dict] | None = None, eval_exact: int = 0, resume: bool = True,
          checkpoint_dir: str | os.PathLike | None = None,
          on_step: Callable[[int, dict], None] | None = None, progress: bool = True,
          desc: str | None = None, keep_model: bool = False, in_place: bool = False,
          init_from: str | os.PathLike | None = None) -> TrainResult:
    """Train `model` on `samples` and save the result (adapter or full model) to `out_dir`.

    eval_samples: held-out samples whose answer-token loss is logged every `eval_every` steps and at the end.
    eval_exact: also log the greedy exact-match accuracy on the first `eval_exact` eval samples then. With
        `cfg.stop_at_exact`, training stops at the first such evaluation that reaches it (give validation
        samples, not the test set); the summary's `steps` are the steps done, `stopped_early` says whether.
    resume: continue from the newest matching checkpoint, and skip training entirely when `out_dir` already
        holds a finished run with the same configuration and data.
    checkpoint_dir: where checkpoints go (default `<out_dir parent>/_checkpoints/<out_dir name>`); removed
        after a successful run.
    on_step(step, row): called after every optimizer step with the log row (raise in it to stop training;
        the checkpoints written so far stay valid).
    keep_model: return the trained model in `result.model` (for LoRA: the peft model wrapping the caller's
        base; call `result.model.unload()` to get the plain base back) instead of restoring the base.
    in_place: method="full" trains `model` itself instead of a deep copy (big models; the caller's model
        is then the fine-tuned one).
    init_from: start from the weights of an earlier result of the same method (a LoRA adapter folder with
        the same rank and targets, or a fully fine-tuned model folder) instead of a fresh LoRA / the base:
        CAEF's stage 2 continues from stage 1 this way (`train_job`). Its weights are part of the fingerprint.
    """
    import pandas as pd
    import torch
    from tqdm import tqdm

    from ..generation import exact_match

    cfg.check()
    out_dir = Path(out_dir)
    ckpt_root = Path(checkpoint_dir) if checkpoint_dir else out_dir.parent / "_checkpoints" / out_dir.name
    device = str(next(model.parameters()).device)
    accelerator = _accelerator(device, cfg)
    world, rank = accelerator.num_processes, accelerator.process_index

    encoded, dropped = encode_samples(tokenizer, samples, cfg.max_length)
    if not encoded:
        raise ValueError(f"no training sample fits max_length={cfg.max_length} ({dropped} dropped)")
    base_id = str(getattr(model.config, "_name_or_path", "")) or getattr(model.config, "kit_builtin", "")
    init = check_init(init_from, cfg) if init_from is not None else None
    fp = fingerprint(cfg, encoded, f"{base_fingerprint(model)}|world={world}"
                     + (f"|init={io.sha256_file(init.weights)}" if init else ""))

    summary_file = out_dir / "train_summary.json"
    if resume and summary_file.is_file():
        old = io.read_json(summary_file)
        if old.get("fingerprint") == fp:
            log = pd.read_csv(out_dir / "training_log.csv") if (out_dir / "training_log.csv").is_file() \
                else pd.DataFrame(columns=LOG_COLUMNS)
            return TrainResult(out_dir, old, log, skipped=True)

    lengths = [len(e.input_ids) for e in encoded]
    group = world * cfg.grad_accum            # micro-batches per optimizer step, all processes together
    n_batches = len(epoch_batches(lengths, cfg.batch_size, cfg.seed, 0, cfg.bucket))
    steps_per_epoch = math.ceil(n_batches / group)
    total_steps = cfg.max_steps if cfg.max_steps > 0 else cfg.epochs * steps_per_epoch

    before = snapshot(model)
    trained = wrap(model, cfg, in_place=in_place, init=init)
    finished = False
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed + rank)  # dropout; a resumed run restores the RNG states instead
    try:
        if cfg.gradient_checkpointing and device.startswith("cuda"):
            trained.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            trained.config.use_cache = False
        params = [p for p in trained.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.adam_betas),
                                      weight_decay=cfg.weight_decay)
        scheduler = _schedule(optimizer, cfg, total_steps)
        trained, optimizer = accelerator.prepare(trained, optimizer)
        inner = accelerator.unwrap_model(trained)

        start_step, rows = 0, []
        if resume:
            for ck in reversed(list_checkpoints(ckpt_root)):
                state = io.read_json(ck / "trainer_state.json")
                if state.get("fingerprint") != fp:
                    continue
                start_step, rows = load_checkpoint(ck, inner, optimizer, scheduler, rank)
                break

        def step_batches(step: int) -> list[list[int]]:
            """The micro-batches of one optimizer step, all processes: process r takes [r*A, (r+1)*A)."""
            epoch, k = divmod(step, steps_per_epoch)
            batches = _epoch_cache.get(epoch)
            if batches is None:
                _epoch_cache.clear()
                batches = _epoch_cache[epoch] = epoch_batches(lengths, cfg.batch_size, cfg.seed, epoch, cfg.bucket)
            # the last step of an epoch wraps around to the epoch's first batches (like DistributedSampler)
            return [batches[(k * group + m) % len(batches)] for m in range(group)]
        _epoch_cache: dict[int, list] = {}

        pad_id = pad_id_of(tokenizer)
        bar = tqdm(total=total_steps, initial=start_step, desc=desc or out_dir.name, mininterval=5.0,
                   disable=not (progress and accelerator.is_main_process))
        elapsed_before = rows[-1]["elapsed_s"] if rows else 0.0
        t0 = time.perf_counter()
        tokens_seen = int(sum(r["tokens"] for r in rows))
        trained.train()
        for step in range(start_step, total_steps):
            everyone = step_batches(step)
            batches = everyone[rank * cfg.grad_accum:(rank + 1) * cfg.grad_accum]
            # normalise by the loss tokens of the whole step on all processes (every process knows the plan):
            # DDP's gradient average then equals one big batch of all the step's samples
            n_answer = sum(n_loss_tokens(encoded[i], cfg.loss_on) for b in everyone for i in b)
            per_process = torch.tensor(n_answer / world, device=accelerator.device)
            loss_sum, n_tokens = 0.0, 0
            for m, idx in enumerate(batches):
                examples = [encoded[i] for i in idx]
                extra = {}
                if cfg.pack:
                    ids, mask, positions, labels = collate_packed(examples, pad_id, cfg.loss_on)
                    extra["position_ids"] = positions.to(accelerator.device)
                else:
                    ids, mask, labels = collate(examples, pad_id, cfg.loss_on)
                ids, mask, labels = ids.to(accelerator.device), mask.to(accelerator.device), labels.to(accelerator.device)
                sync = m == len(batches) - 1
                with (contextlib.nullcontext() if sync else accelerator.no_sync(trained)), accelerator.autocast():
                    out = trained(input_ids=ids, attention_mask=mask, labels=labels, num_items_in_batch=per_process,
                                  **extra)
                    accelerator.backward(out.loss)
                loss_sum += out.loss.detach().float().item()
                n_tokens += sum(len(e.input_ids) for e in examples)
            grad_norm = float("nan")
            if cfg.max_grad_norm > 0:
                grad_norm = float(accelerator.clip_grad_norm_(params, cfg.max_grad_norm))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            stats = torch.tensor([loss_sum, n_tokens], dtype=torch.float64, device=accelerator.device)
            if world > 1:
                stats = accelerator.reduce(stats, reduction="sum")
                stats[0] /= world  # each process's loss was scaled by world (see per_process)
            tokens_seen += int(stats[1])
            elapsed = elapsed_before + time.perf_counter() - t0
            row = {"step": step + 1, "epoch": round((step + 1) / steps_per_epoch, 4), "loss": float(stats[0]),
                   "lr": scheduler.get_last_lr()[0], "grad_norm": grad_norm, "tokens": int(stats[1]),
                   "answer_tokens": n_answer, "elapsed_s": round(elapsed, 3),
                   "tokens_per_s": round(tokens_seen / max(elapsed, 1e-9), 1), "eval_loss": float("nan"),
                   "eval_exact_match": float("nan")}
            last = step + 1 == total_steps
            if eval_samples and (last or (cfg.eval_every and (step + 1) % cfg.eval_every == 0)):
                t_eval = time.perf_counter()
                row["eval_loss"] = evaluate_loss(trained, tokenizer, eval_samples, cfg, accelerator)
                if eval_exact:
                    row["eval_exact_match"] = exact_match(inner, tokenizer, eval_samples[:eval_exact])[0]
                trained.train()
                t0 += time.perf_counter() - t_eval  # evaluation time is not training time
            stop = bool(cfg.stop_at_exact and eval_exact and not last
                        and row["eval_exact_match"] >= cfg.stop_at_exact)
            if world > 1 and cfg.stop_at_exact:  # every process stops at the same step, or none does
                flag = accelerator.reduce(torch.tensor([float(stop)], device=accelerator.device), reduction="sum")
                stop = bool(flag.item() > 0)
            rows.append(row)
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.4f}", tok_s=f"{row['tokens_per_s']:.0f}", refresh=False)
            if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and not last and not stop:
                save_checkpoint(ckpt_root, step + 1, inner, optimizer, scheduler, rows, fp, cfg, accelerator)
            if on_step is not None:
                on_step(step + 1, row)
            if stop:
                break
        bar.close()

        log = pd.DataFrame(rows, columns=LOG_COLUMNS)
        wall = rows[-1]["elapsed_s"] if rows else 0.0
        counts = _count_params(inner)
        summary = {
            "adapter": out_dir.name, "method": cfg.method, "steps": len(rows), "max_steps": total_steps,
            "stopped_early": len(rows) < total_steps, "epochs_done": round(len(rows) / steps_per_epoch, 4),
            "samples": len(encoded), "samples_dropped_too_long": dropped,
            "tokens": tokens_seen, "final_loss": float(log["loss"].tail(max(1, min(10, len(log)))).mean()),
            "final_eval_loss": float(rows[-1]["eval_loss"]) if rows else float("nan"),
            "final_eval_exact_match": float(rows[-1]["eval_exact_match"]) if rows else float("nan"),
            "wall_time_s": wall, "tokens_per_s": round(tokens_seen / max(wall, 1e-9), 1),
            "parameters": counts["parameters"], "trainable_parameters": counts["trainable"],
            "processes": world, "device": str(accelerator.device), "fingerprint": fp,
            "config": dataclasses.asdict(cfg), "base_model": base_id,
        }
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            save_final(out_dir, inner, tokenizer, cfg, log, summary, accelerator, trained)
            shutil.rmtree(ckpt_root, ignore_errors=True)
            with contextlib.suppress(OSError):
                ckpt_root.parent.rmdir()  # _checkpoints/ when empty
        accelerator.wait_for_everyone()
        finished = True
        if keep_model:
            inner.eval()
            return TrainResult(out_dir, summary, log, model=inner)
        return TrainResult(out_dir, summary, log)
    finally:
        if cfg.method == "lora" and not (keep_model and finished):
            restore_base(model, before, peft_model=accelerator.unwrap_model(trained))
        elif cfg.method == "lora" or in_place:
            restore_base(model, before, keep_requires_grad=True)
            if keep_model and finished:
                model.eval()  # the returned model generates; no dropout
        accelerator.free_memory()


def _count_params(model) -> dict[str, int]:
    from ..models import count_parameters

    return count_parameters(model)


def evaluate_loss(model, tokenizer, samples: Sequence[dict], cfg: TrainConfig, accelerator=None) -> float:
    """Mean loss per answer token (or per token with loss_on='all') on `samples`, no gradients."""
    import torch

    encoded, _ = encode_samples(tokenizer, samples, cfg.max_length)
    if not encoded:
        return float("nan")
    device = accelerator.device if accelerator is not None else next(model.parameters()).device
    pad_id = pad_id_of(tokenizer)
    model.eval()
    total, count = 0.0, 0
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].input_ids))
    with torch.no_grad():
        for s in range(0, len(order), cfg.batch_size):
            batch = [encoded[i] for i in order[s:s + cfg.batch_size]]
            ids, mask, labels = collate(batch, pad_id, cfg.loss_on)
            n = int((labels[:, 1:] != -100).sum())
            ctx = accelerator.autocast() if accelerator is not None else contextlib.nullcontext()
            with ctx:
                out = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device),
                            num_items_in_batch=torch.tensor(n, device=device))
            total += float(out.loss) * n
            count += n
    return total / max(count, 1)

