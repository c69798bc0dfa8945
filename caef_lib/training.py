"""One training function for every notebook: LoRA adapters or full fine-tuning of a causal LM.

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
   `<checkpoint_dir>/checkpoint-NNNNNN/`, written to a temporary folder and renamed (atomic). `resume=True`
   continues from the newest checkpoint whose configuration and data match, and on a CPU ends with exactly
   the same weights as an uninterrupted run (tests/test_training.py checks torch.equal on every parameter).
5. At the end: a standard peft adapter folder (`adapter_config.json` + `adapter_model.safetensors`) or,
   for `method="full"`, a whole model folder; plus `training_log.csv` and `train_summary.json`. The folder
   is written atomically too. A finished folder with the same configuration and data is not retrained.

The caller's base model is left as it was: LoRA layers are injected for training and removed again
(`unload()`, the base weights are frozen), full fine-tuning trains a deep copy (`in_place=True`: the model
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
import copy
import dataclasses
import hashlib
import json
import math
import os
import random
import shutil
import time
import warnings
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import io
from .datasets.writer import read_samples

LOG_COLUMNS = ["step", "epoch", "loss", "lr", "grad_norm", "tokens", "answer_tokens", "elapsed_s",
               "tokens_per_s", "eval_loss", "eval_exact_match"]


@dataclass
class TrainConfig:
    # what is trained
    method: str = "lora"                 # "lora" (peft adapter) or "full" (every weight, a copy of the base)
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_targets: list[str] | str = "default"  # "default": q_proj,v_proj (Llama) / c_attn (GPT-2);
                                               # "all-linear"; or a list of module names
    # optimisation
    lr: float = 2e-5
    weight_decay: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.999)  # torch's default; tiny models from scratch use beta2 0.98
    schedule: str = "cosine"             # "cosine", "linear" or "constant", each after a linear warm-up
    warmup_ratio: float = 0.03
    max_grad_norm: float = 1.0           # 0 = no clipping
    epochs: int = 1
    max_steps: int = 0                   # > 0: stop after this many optimizer steps (overrides epochs)
    batch_size: int = 1                  # samples per micro-batch and process
    grad_accum: int = 1                  # micro-batches per optimizer step
    # data
    max_length: int = 4096               # longer samples are dropped, not truncated
    loss_on: str = "answer"              # "answer" (prompt masked with -100) or "all" (every real token)
    bucket: bool = True                  # length bucketing
    pack: bool = False                   # several samples per row, each attending only to itself (collate_packed)
    # bookkeeping
    checkpoint_every: int = 0            # steps between checkpoints (0 = none)
    keep_checkpoints: int = 2
    eval_every: int = 0                  # steps between eval-loss measurements (0 = only at the end)
    seed: int = 0
    # GPU only (ignored on a CPU)
    bf16: bool = True
    gradient_checkpointing: bool = False

    def check(self) -> None:
        problems = []
        if self.method not in ("lora", "full"):
            problems.append(f"method {self.method!r}: use 'lora' or 'full'")
        if self.schedule not in ("cosine", "linear", "constant"):
            problems.append(f"schedule {self.schedule!r}: use cosine, linear or constant")
        if self.loss_on not in ("answer", "all"):
            problems.append(f"loss_on {self.loss_on!r}: use 'answer' or 'all'")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warmup_ratio {self.warmup_ratio}: must be in [0, 1)")
        for name in ("lora_r", "batch_size", "grad_accum", "max_length"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.max_steps <= 0 and self.epochs < 1:
            problems.append("give epochs >= 1 or max_steps > 0")
        if len(self.adam_betas) != 2 or not all(0 <= b < 1 for b in self.adam_betas):
            problems.append(f"adam_betas {self.adam_betas!r}: two numbers in [0, 1)")
        if problems:
            raise ValueError("TrainConfig: " + "; ".join(problems))


# Named presets. Paper settings where the papers (their repositories) give them; the CAEF repository ships
# no training script or hyper-parameters, so its presets are the RFFT Llama recipe plus our choices, marked.
PRESETS: dict[str, TrainConfig] = {
    # "Case-Based or Rule-Based?", RFFT on Llama-2 (repo llama/train.sh): LoRA r 8 / alpha 16 / dropout 0.05
    # on q_proj, v_proj; lr 2e-5, 1 epoch, batch 1, warm-up 3 %, cosine, length 4096, loss on the answer.
    "rfft_llama": TrainConfig(method="lora", lora_r=8, lora_alpha=16, lora_dropout=0.05, lora_targets="default",
                              lr=2e-5, epochs=1, batch_size=1, warmup_ratio=0.03, schedule="cosine",
                              max_length=4096, loss_on="answer", gradient_checkpointing=True),
    # Leave-Square-Out on GPT-2 (repo train.py): full fine-tuning, AdamW lr 1e-4, wd 0, batch 30, 100 epochs,
    # cosine with 1 % warm-up, no clipping. The repo puts the loss on every position (prompt and padding);
    # "all" here is every real token (padding excluded).
    "lso_gpt2": TrainConfig(method="full", lr=1e-4, weight_decay=0.0, batch_size=30, epochs=100,
                            schedule="cosine", warmup_ratio=0.01, max_grad_norm=0.0, max_length=128,
                            loss_on="all"),
    # CAEF executors/aligners on Llama-3.1-8B: NOT documented by the paper or its repository. The RFFT recipe
    # with a learning rate usual for LoRA (our choice; change freely).
    "caef_llama_lora": TrainConfig(method="lora", lora_r=8, lora_alpha=16, lora_dropout=0.05,
                                   lora_targets="default", lr=2e-4, epochs=1, batch_size=8, warmup_ratio=0.03,
                                   max_length=4096, gradient_checkpointing=True, checkpoint_every=500),
    # Built-in tiny models on a CPU. A ~0.5 M parameter model needs a high rank on every linear layer and a
    # high learning rate (r=64 of width 128 is close to full rank; the embeddings stay frozen). Measured on the
    # ADD executor (README, "Why this recipe"): AdamW beta2 0.98, and NO length bucketing: batches
    # of similar length made the tiny models learn markedly less per step and per second.
    "tiny_lora": TrainConfig(method="lora", lora_r=64, lora_alpha=64, lora_dropout=0.0, lora_targets="all-linear",
                             lr=3e-3, adam_betas=(0.9, 0.98), batch_size=32, warmup_ratio=0.03, max_grad_norm=1.0,
                             max_length=1024, bucket=False, checkpoint_every=200),
    "tiny_full": TrainConfig(method="full", lr=3e-3, adam_betas=(0.9, 0.98), weight_decay=0.0, batch_size=32,
                             warmup_ratio=0.03, max_grad_norm=1.0, max_length=1024, bucket=False, lora_dropout=0.0,
                             checkpoint_every=200),
    # Generic pre-training of the tiny base (training.prepare_tiny_base). With bucketing on, the base never
    # learnt to copy within 1,500-2,400 steps; without it, copying "clicks" after ~1,000 steps.
    "tiny_pretrain": TrainConfig(method="full", lr=3e-3, adam_betas=(0.9, 0.98), weight_decay=0.0, batch_size=32,
                                 warmup_ratio=0.03, max_grad_norm=1.0, max_length=1024, bucket=False,
                                 loss_on="answer", checkpoint_every=200),
}


def preset(name: str, **overrides) -> TrainConfig:
    """A copy of a named preset with some fields changed: preset("tiny_lora", max_steps=300)."""
    if name not in PRESETS:
        raise KeyError(f"no training preset {name!r}; known: {', '.join(PRESETS)}")
    cfg = dataclasses.replace(PRESETS[name], **overrides)
    cfg.check()
    return cfg


# --------------------------------------------------------------------------------------------------------
# Data

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


def _loss_start(e: Encoded, loss_on: str) -> int:
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
        start = _loss_start(e, loss_on)
        labels[row, start:n] = ids[row, start:n]
    return ids, mask, labels


def collate_packed(examples: Sequence[Encoded], pad_id: int, loss_on: str):
    """Like `collate`, with several samples per row: input_ids, a 4-D attention mask, position_ids, labels.

    Rows are filled first-fit, longest sample first, up to the longest sample's length. Each sample attends only
    to itself (a block-diagonal causal mask, True = may attend) and its positions restart at 0, so the loss and
    gradients equal `collate`'s for the same samples, up to float rounding; only the padded slots go. Mixed-length
    batches need this: the generic pre-training's batches of 32 are ~47 % padding (benchmarks/RESULTS.md).
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
            start = _loss_start(e, loss_on)
            labels[r, at + start:at + n] = ids[r, at + start:at + n]
            mask[r, 0, at:at + n, at:at + n] = torch.ones(n, n, dtype=torch.bool).tril()
            at += n
        mask[r, 0, at:, at:] = torch.eye(width - at, dtype=torch.bool)  # padding sees itself only (no NaN rows)
    return ids, mask, positions, labels


# --------------------------------------------------------------------------------------------------------
# Files



def _fingerprint(cfg: TrainConfig, encoded: Sequence[Encoded], base_id: str) -> str:
    """Hash of what determines the result: config (minus bookkeeping), base model, the tokenised data."""
    h = hashlib.sha256()
    c = dataclasses.asdict(cfg)
    for k in ("checkpoint_every", "keep_checkpoints", "eval_every"):
        c.pop(k)
    h.update(json.dumps(c, sort_keys=True).encode())
    h.update(base_id.encode())
    for e in encoded:
        h.update(array("q", [e.n_prompt, len(e.input_ids), *e.input_ids]).tobytes())
    return h.hexdigest()[:16]


def base_fingerprint(model) -> str:
    """A cheap content hash of a model's weights: every tensor's name, shape, dtype and first/last 1024
    values. Retrained base weights change it, so adapters trained on an older base are not reused."""
    import torch

    h = hashlib.sha256()
    with torch.no_grad():
        for name, p in model.state_dict().items():
            flat = p.detach().reshape(-1)
            sample = torch.cat([flat[:1024], flat[-1024:]]).to("cpu", torch.float32)
            h.update(f"{name}{tuple(p.shape)}{p.dtype}".encode())
            h.update(sample.numpy().tobytes())
    return h.hexdigest()[:16]


def _rng_state() -> dict:
    import torch

    version, internal, gauss = random.getstate()
    state = {"python_version": version, "python_state": torch.tensor(internal, dtype=torch.int64),
             "python_gauss": gauss, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    import torch

    random.setstate((state["python_version"], tuple(state["python_state"].tolist()), state["python_gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _trainable_state(model) -> dict:
    return {n: p.detach().to("cpu").contiguous() for n, p in model.named_parameters() if p.requires_grad}


def list_checkpoints(folder: str | os.PathLike) -> list[Path]:
    """Complete checkpoints (those with trainer_state.json) in step order."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("checkpoint-*") if (p / "trainer_state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


# --------------------------------------------------------------------------------------------------------
# Model preparation

def lora_targets(model, spec: list[str] | str) -> list[str]:
    from .models import ALL_LINEAR, LORA_TARGETS, arch_family

    family = arch_family(model)
    if spec == "default":
        return LORA_TARGETS[family]
    if spec == "all-linear":
        return ALL_LINEAR[family]
    if isinstance(spec, str):
        return [s.strip() for s in spec.split(",") if s.strip()]
    return list(spec)


def _wrap(model, cfg: TrainConfig, in_place: bool = False):
    """The module to train: the base with LoRA layers injected, or a trainable deep copy (full)."""
    import torch

    if cfg.method == "full":
        model = model if in_place else copy.deepcopy(model)
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import LoraConfig, get_peft_model

    targets = lora_targets(model, cfg.lora_targets)
    present = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in targets if t not in present]
    if missing:
        raise ValueError(f"LoRA target modules {missing} are not in this model (its modules include "
                         f"{sorted(present)[:20]}); set lora_targets")
    lcfg = LoraConfig(task_type="CAUSAL_LM", r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                      lora_dropout=cfg.lora_dropout, target_modules=targets, bias="none",
                      fan_in_fan_out=(model.config.model_type == "gpt2"))
    torch.manual_seed(cfg.seed)  # the LoRA A matrices are drawn from the global RNG
    with warnings.catch_warnings():  # peft 0.21 calls a transformers method deprecated in v5
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, lcfg)


@dataclass
class _Init:
    path: Path
    weights: Path


def _check_init(path: str | os.PathLike, cfg: TrainConfig) -> _Init:
    """The folder `train(..., init_from=path)` starts from, checked against `cfg` before any work."""
    from .models import ADAPTER_WEIGHTS, FULL_WEIGHTS, ModelError, check_adapter_folder

    info = check_adapter_folder(path)
    kind = "lora" if cfg.method == "lora" else "full"
    if info.kind != kind:
        raise ModelError(f"init_from {str(info.path)!r} holds a {info.kind} result but method={cfg.method!r}")
    if kind == "lora":
        want = {"r": cfg.lora_r, "lora_alpha": cfg.lora_alpha}
        have = {k: info.config.get(k) for k in want}
        if have != want:
            raise ModelError(f"init_from {str(info.path)!r}: its LoRA has {have}, this run {want}")
    return _Init(info.path, info.path / (ADAPTER_WEIGHTS if kind == "lora" else FULL_WEIGHTS))


def _load_init(trained, init: _Init, cfg: TrainConfig) -> None:
    """Copy the weights of `init` into the freshly wrapped model; every trained weight must be covered."""
    from safetensors.torch import load_file

    from .models import ModelError

    state = load_file(str(init.weights))
    if cfg.method == "lora":
        from peft import set_peft_model_state_dict
        result = set_peft_model_state_dict(trained, state)
        missing = [k for k in result.missing_keys if "lora_" in k]
        unexpected = list(result.unexpected_keys)
    else:
        result = trained.load_state_dict(state, strict=False)
        tied = {"lm_head.weight"} if getattr(trained.config, "tie_word_embeddings", False) else set()
        missing = [k for k in result.missing_keys if k not in tied]
        unexpected = list(result.unexpected_keys)
    if missing or unexpected:
        raise ModelError(f"init_from {str(init.path)!r} does not fit this model: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")


def _unwrap_lora(peft_model) -> None:
    """Remove the injected LoRA layers so that the caller's base model is plain again."""
    with contextlib.suppress(Exception):
        peft_model.unload()


# --------------------------------------------------------------------------------------------------------
# Training

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
    return Accelerator(cpu=not cuda, mixed_precision=mixed)


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
    eval_exact: also log the greedy exact-match accuracy on the first `eval_exact` eval samples then.
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
    init = _check_init(init_from, cfg) if init_from is not None else None
    fingerprint = _fingerprint(cfg, encoded, f"{base_fingerprint(model)}|world={world}"
                                             + (f"|init={io.sha256_file(init.weights)}" if init else ""))

    summary_file = out_dir / "train_summary.json"
    if resume and summary_file.is_file():
        old = io.read_json(summary_file)
        if old.get("fingerprint") == fingerprint:
            log = pd.read_csv(out_dir / "training_log.csv") if (out_dir / "training_log.csv").is_file() \
                else pd.DataFrame(columns=LOG_COLUMNS)
            return TrainResult(out_dir, old, log, skipped=True)

    lengths = [len(e.input_ids) for e in encoded]
    group = world * cfg.grad_accum            # micro-batches per optimizer step, all processes together
    n_batches = len(epoch_batches(lengths, cfg.batch_size, cfg.seed, 0, cfg.bucket))
    steps_per_epoch = math.ceil(n_batches / group)
    total_steps = cfg.max_steps if cfg.max_steps > 0 else cfg.epochs * steps_per_epoch

    requires_grad = {n: p.requires_grad for n, p in model.named_parameters()}
    trained = _wrap(model, cfg, in_place)
    if init is not None:
        _load_init(trained, init, cfg)
    finished = False
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed + rank)  # dropout; a resumed run restores the RNG states instead
    try:
        if cfg.gradient_checkpointing and device.startswith("cuda"):
            trained.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
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
                if state.get("fingerprint") != fingerprint:
                    continue
                start_step, rows = _load_checkpoint(ck, inner, optimizer, scheduler, rank)
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

        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
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
            n_answer = sum(_n_loss_tokens(encoded[i], cfg.loss_on) for b in everyone for i in b)
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
            rows.append(row)
            bar.update(1)
            bar.set_postfix(loss=f"{row['loss']:.4f}", tok_s=f"{row['tokens_per_s']:.0f}", refresh=False)
            if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and not last:
                _save_checkpoint(ckpt_root, step + 1, inner, optimizer, scheduler, rows, fingerprint,
                                 cfg, accelerator)
            if on_step is not None:
                on_step(step + 1, row)
        bar.close()

        log = pd.DataFrame(rows, columns=LOG_COLUMNS)
        wall = rows[-1]["elapsed_s"] if rows else 0.0
        counts = _count_params(inner)
        summary = {
            "adapter": out_dir.name, "method": cfg.method, "steps": total_steps, "epochs_done": round(total_steps / steps_per_epoch, 4),
            "samples": len(encoded), "samples_dropped_too_long": dropped,
            "tokens": tokens_seen, "final_loss": float(log["loss"].tail(max(1, min(10, len(log)))).mean()),
            "final_eval_loss": float(rows[-1]["eval_loss"]) if rows else float("nan"),
            "final_eval_exact_match": float(rows[-1]["eval_exact_match"]) if rows else float("nan"),
            "wall_time_s": wall, "tokens_per_s": round(tokens_seen / max(wall, 1e-9), 1),
            "parameters": counts["parameters"], "trainable_parameters": counts["trainable"],
            "processes": world, "device": str(accelerator.device), "fingerprint": fingerprint,
            "config": dataclasses.asdict(cfg), "base_model": base_id,
        }
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            _save_final(out_dir, inner, tokenizer, cfg, log, summary, accelerator, trained)
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
            _unwrap_lora(accelerator.unwrap_model(trained))
            for n, p in model.named_parameters():  # peft froze the base; give the caller its flags back
                p.requires_grad_(requires_grad.get(n, p.requires_grad))
        accelerator.free_memory()


def _n_loss_tokens(e: Encoded, loss_on: str) -> int:
    return len(e.input_ids) - _loss_start(e, loss_on)


def _count_params(model) -> dict[str, int]:
    from .models import count_parameters

    return count_parameters(model)


def _save_checkpoint(root: Path, step: int, model, optimizer, scheduler, rows, fingerprint, cfg, accelerator):
    import torch
    from safetensors.torch import save_file

    final = root / f"checkpoint-{step:06d}"
    tmp = root / f".checkpoint-{step:06d}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    torch.save(_rng_state(), tmp / f"rng_{accelerator.process_index}.pt")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_file(_trainable_state(model), str(tmp / "trainable.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
        io.write_json(tmp / "trainer_state.json", {"step": step, "fingerprint": fingerprint, "rows": rows,
                                                    "config": dataclasses.asdict(cfg)})
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in list_checkpoints(root)[:-max(1, cfg.keep_checkpoints)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _load_checkpoint(folder: Path, model, optimizer, scheduler, rank: int) -> tuple[int, list[dict]]:
    import torch
    from safetensors.torch import load_file

    state = io.read_json(folder / "trainer_state.json")
    weights = load_file(str(folder / "trainable.safetensors"))
    named = dict(model.named_parameters())
    missing = [n for n, p in named.items() if p.requires_grad and n not in weights]
    if missing or set(weights) - set(named):
        raise RuntimeError(f"checkpoint {folder} does not match the model (missing {missing[:3]}, "
                           f"unexpected {sorted(set(weights) - set(named))[:3]})")
    with torch.no_grad():
        for n, t in weights.items():
            named[n].copy_(t.to(named[n].device, named[n].dtype))
    opt = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(opt["optimizer"])
    scheduler.load_state_dict(opt["scheduler"])
    rng_file = folder / f"rng_{rank}.pt"
    if rng_file.is_file():
        _set_rng_state(torch.load(rng_file, map_location="cpu", weights_only=True))
    return int(state["step"]), list(state["rows"])


def _save_final(out_dir: Path, model, tokenizer, cfg, log, summary, accelerator, wrapped) -> None:
    with io.atomic_dir(out_dir) as tmp:
        state = accelerator.get_state_dict(wrapped)
        model.save_pretrained(str(tmp), safe_serialization=True, state_dict=state)  # peft keeps the LoRA part
        if cfg.method == "full":
            tokenizer.save_pretrained(str(tmp))
        with io.atomic_open(tmp / "training_log.csv", "w") as f:
            log.to_csv(f, index=False)
        io.write_json(tmp / "train_summary.json", summary)


def evaluate_loss(model, tokenizer, samples: Sequence[dict], cfg: TrainConfig, accelerator=None) -> float:
    """Mean loss per answer token (or per token with loss_on='all') on `samples`, no gradients."""
    import torch

    encoded, _ = encode_samples(tokenizer, samples, cfg.max_length)
    if not encoded:
        return float("nan")
    device = accelerator.device if accelerator is not None else next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
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


def generate(model, tokenizer, prompts: Sequence[str], *, max_new_tokens: int = 256, batch_size: int = 32
             ) -> list[str]:
    """Greedy continuations of `prompts` (decoded, special tokens removed), batched with left padding."""
    import torch

    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model.eval()
    outputs: list[str | None] = [None] * len(prompts)
    encoded = [tokenizer(p, add_special_tokens=True)["input_ids"] for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    with torch.no_grad():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            width = max(len(encoded[i]) for i in idx)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, width - len(encoded[i]):] = torch.tensor(encoded[i])
                mask[r, width - len(encoded[i]):] = 1
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                 max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                                 pad_token_id=pad_id)
            for r, i in enumerate(idx):
                outputs[i] = tokenizer.decode(gen[r, width:], skip_special_tokens=True,
                                              clean_up_tokenization_spaces=False)
    return outputs  # type: ignore[return-value]


def exact_match(model, tokenizer, samples: Sequence[dict], *, max_new_tokens: int | None = None,
                batch_size: int = 32) -> tuple[float, list[str]]:
    """Fraction of samples whose greedy answer equals the response exactly, and the answers."""
    if not samples:
        return float("nan"), []
    if max_new_tokens is None:
        max_new_tokens = max(len(tokenizer(s["response"], add_special_tokens=False)["input_ids"])
                             for s in samples) + 2
    answers = generate(model, tokenizer, [s["prompt"] for s in samples], max_new_tokens=max_new_tokens,
                       batch_size=batch_size)
    correct = sum(a == s["response"] for a, s in zip(answers, samples))
    return correct / len(samples), answers


def exact_match_by_kind(model, tokenizer, samples: Sequence[dict], *, batch_size: int = 32):
    """Greedy exact match of executor steps per kind of step (`machines.step_kind`: `q1->q1`, `halt`, ...).

    One number for all steps hides what a model has learnt: for ADD a third of the steps only copy the state
    (`halt`) or write the last carry (`q1->qH`), and a model that has not learnt to add still gets those
    right. Returns a DataFrame: kind, steps, exact_match (a row `all` first).
    """
    import pandas as pd

    from .machines import step_kind

    _, answers = exact_match(model, tokenizer, samples, batch_size=batch_size)
    frame = pd.DataFrame({"kind": [step_kind(s["response"]) for s in samples],
                          "correct": [a == s["response"] for a, s in zip(answers, samples)]})
    overall = frame["correct"].mean() if len(frame) else float("nan")
    rows = [{"kind": "all", "steps": len(frame), "exact_match": overall}]
    for kind, group in sorted(frame.groupby("kind"), key=lambda kg: -len(kg[1])):
        rows.append({"kind": kind, "steps": len(group), "exact_match": group["correct"].mean()})
    return pd.DataFrame(rows, columns=["kind", "steps", "exact_match"])


def aligner_exact_match_by_length(model, tokenizer, samples: Sequence[dict], *, batch_size: int = 32):
    """Greedy exact match of aligner samples per direction (`to state`: `45+67=` -> first state; `to answer`:
    halt state -> `45+67=112`) and digits of the longer operand (`machines.aligner_sample_kind`): a small
    model's aligner fails on reversing long operands first, which one overall number hides. Returns a DataFrame:
    direction, digits, samples, exact_match, sorted by direction and digits.
    """
    import pandas as pd

    from .machines import aligner_sample_kind

    _, answers = exact_match(model, tokenizer, samples, batch_size=batch_size)
    kinds = [aligner_sample_kind(s["prompt"], s["response"]) for s in samples]
    frame = pd.DataFrame({"direction": [d for d, _ in kinds], "digits": [n for _, n in kinds],
                          "correct": [a == s["response"] for a, s in zip(answers, samples)]})
    columns = ["direction", "digits", "samples", "exact_match"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    table = frame.groupby(["direction", "digits"], sort=True).agg(samples=("correct", "size"),
                                                                   exact_match=("correct", "mean"))
    return table.reset_index()[columns]


# --------------------------------------------------------------------------------------------------------
# The tiny base: generic pre-training
#
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
#            executor step needs. Measured (README): without "read" and "facts" the ADD adapter's digit-adding
#            steps stayed near chance within the CPU budget; with them it learnt to add (not yet reliably).
#   * peek   (15 %): prompt = a state line alone, answer = the digit after each head (`[HEAD1] 7, [HEAD2] 0`),
#            heads anywhere on their tapes, past the end too. The same skill as read's, with the loss on the
#            digits only: in a read sample one answer token of ~60 is the digit read, and a base that had
#            not learnt to read took the digit next to the right one. Measured (README): with peek the ADD
#            adapter learnt to add on every seed tried (seed 1: 7 % -> 63 % of digit-adding steps).
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


# --------------------------------------------------------------------------------------------------------
# Notebook 02: which adapters, from which data files

# kind -> (adapter name pattern, dataset role). The names are CAEF's adapter names (`add`, `add_aligner`,
# `reflection`, ...); `<op>_direct` are the direct-answer baselines (`45+67=` -> `112`).
ADAPTER_KINDS = {"executor": ("{op}", "executor"), "aligner": ("{op}_aligner", "aligner"),
                 "direct": ("{op}_direct", "raw")}


def dataset_file(paths, op: str, role: str, split: str) -> Path:
    """data/<profile>/traces/<op>/<role>.<split>.jsonl (written by notebook 01)."""
    return paths.data / "traces" / op / f"{role}.{split}.jsonl"


@dataclass
class AdapterJob:
    name: str
    op: str
    kind: str
    train_file: Path
    test_file: Path
    stage1_file: Path | None = None   # executors with stage1=True: the prompted stage-1 training data


def adapter_jobs(paths, ops: Sequence[str], kinds: Sequence[str], stage1: bool = False
                 ) -> tuple[list[AdapterJob], list[str]]:
    """The adapters to train and, separately, the ones skipped because notebook 01 wrote no data for them
    (REFLECTION and LEFT_MASK have no aligner and no direct-answer data). With `stage1`, every executor also
    needs notebook 01's executor_stage1 file; a missing one is an error here, before any training."""
    jobs, skipped, missing = [], [], []
    for op in ops:
        for kind in kinds:
            pattern, role = ADAPTER_KINDS[kind]
            job = AdapterJob(pattern.format(op=op), op, kind, dataset_file(paths, op, role, "train"),
                             dataset_file(paths, op, role, "test"))
            if not job.train_file.is_file():
                skipped.append(f"{job.name}: no {job.train_file.relative_to(paths.root)}")
                continue
            if stage1 and kind == "executor":
                job.stage1_file = dataset_file(paths, op, "executor_stage1", "train")
                if not job.stage1_file.is_file():
                    missing.append(str(job.stage1_file.relative_to(paths.root)))
            jobs.append(job)
    if missing:
        raise FileNotFoundError(f"stage1=True needs the prompted executor data of notebook 01 (its parameter "
                                f"stage1=true): missing {', '.join(missing)}")
    return jobs, skipped


def config_from_params(P, adapter: str) -> TrainConfig:
    """The TrainConfig of one adapter from notebook 02's parameters (`adapter_steps` overrides max_steps)."""
    cfg = TrainConfig(
        method=P.method, lora_r=P.lora_r, lora_alpha=P.lora_alpha, lora_dropout=P.lora_dropout,
        lora_targets=P.lora_targets, lr=P.lr, weight_decay=P.weight_decay, adam_betas=(0.9, P.adam_beta2),
        schedule=P.schedule, bucket=P.bucket, pack=P.pack,
        warmup_ratio=P.warmup_ratio, max_grad_norm=P.max_grad_norm, epochs=P.epochs,
        max_steps=P.adapter_steps.get(adapter, P.max_steps), batch_size=P.batch_size, grad_accum=P.grad_accum,
        max_length=P.max_length, checkpoint_every=P.checkpoint_every, eval_every=P.eval_every, seed=P.seed,
        bf16=P.bf16, gradient_checkpointing=P.gradient_checkpointing)
    cfg.check()
    return cfg


def notebook_base(P, paths, progress: bool = True) -> tuple[str, TrainResult | None]:
    """The base model folder of notebook 02: the local folder itself, or for a built-in name the profile's
    pre-trained tiny base (built and pre-trained here when missing; an identical earlier one is reused).

    The tiny tokenizer's vocabulary comes from the texts of every dataset notebook 01 wrote for the profile
    (except the stage-1 preambles), so it does not change with the `ops` selected here.
    """
    from .models import tiny_base_dir
    from .params import BUILTIN_MODELS
    from .tokenization import caef_tokenizer

    if P.base_model not in BUILTIN_MODELS:
        return P.base_model, None
    texts = []
    for f in sorted((paths.data / "traces").glob("*/*.train.jsonl")):
        if f.name.startswith("executor_stage1."):
            continue  # the English preamble's words stay out (measured: longer, slower generic pre-training)
        texts += [s["prompt"] + s["response"] for s in read_samples(f, limit=300)]
    folder = tiny_base_dir(paths, P.base_model)
    result = prepare_tiny_base(P.base_model, folder, caef_tokenizer(texts), steps=P.pretrain_steps,
                               lr=P.pretrain_lr, seed=P.seed, progress=progress, pack=P.pretrain_pack)
    return str(folder), result


def train_job(P, job: AdapterJob, model, tokenizer, paths, progress: bool = True
              ) -> list[tuple[AdapterJob, TrainResult]]:
    """Train one adapter of notebook 02 into data/models/<profile>/<base>/<adapter>/; return (job, result)
    pairs: one, or two for an executor in CAEF's two stages (`job.stage1_file`).

    Two stages: first the prompted data (instruction preamble + state) into `<adapter>_stage1/` (its pair has
    kind `executor_stage1`), then the plain data starting from those weights (CAEF's repository does not say
    whether its stage 2 starts from stage 1; we assume it does). The CAEF loop uses the stage-2 adapter.
    """
    from .models import adapter_dir

    cfg = config_from_params(P, job.name)
    done, init = [], None
    if job.stage1_file is not None:
        first = AdapterJob(f"{job.name}_stage1", job.op, "executor_stage1", job.stage1_file,
                           job.stage1_file.with_name(job.stage1_file.name.replace(".train.", ".test.")))
        held_out = _held_out(P, first.test_file)
        result = train(dataclasses.replace(cfg, max_steps=P.stage1_steps or cfg.max_steps), model, tokenizer,
                       list(read_samples(first.train_file, limit=P.max_train_samples)),
                       adapter_dir(paths, P.base_model, first.name), eval_samples=held_out or None,
                       eval_exact=len(held_out), progress=progress, desc=first.name)
        done.append((first, result))
        init = result.out_dir
    held_out = _held_out(P, job.test_file)
    result = train(cfg, model, tokenizer, list(read_samples(job.train_file, limit=P.max_train_samples)),
                   adapter_dir(paths, P.base_model, job.name), eval_samples=held_out or None,
                   eval_exact=len(held_out), progress=progress, desc=job.name, init_from=init)
    return done + [(job, result)]


def held_out_tables(P, pairs: Sequence[tuple[AdapterJob, TrainResult]], model, tokenizer):
    """Notebook 02: held-out greedy exact match of every trained executor per kind of step
    (`exact_match_by_kind`) and of every aligner per direction and operand length
    (`aligner_exact_match_by_length`).

    `model` is the shared base or a peft model already carrying some adapters; a LoRA adapter is attached to
    it (if not there yet) and made active, a fully fine-tuned model is loaded from its folder. Returns
    (executor DataFrame adapter/kind/steps/exact_match, aligner DataFrame
    adapter/direction/digits/samples/exact_match, the model with the adapters attached).
    """
    import pandas as pd

    from .models import load_adapter, load_base

    scorers = {"executor": exact_match_by_kind, "aligner": aligner_exact_match_by_length}
    tables = {kind: [] for kind in scorers}
    for job, result in pairs:
        held_out = _held_out(P, job.test_file) if job.kind in scorers else []
        if not held_out:
            continue
        if P.method == "lora":
            if job.name in getattr(model, "peft_config", {}):
                model.set_adapter(job.name)
            else:
                model = load_adapter(model, result.out_dir, job.name)
            evaluated = model
        else:
            evaluated = load_base(str(result.out_dir), P.device)[0]
        tables[job.kind].append(scorers[job.kind](evaluated, tokenizer, held_out).assign(adapter=job.name))
    columns = {"executor": ["adapter", "kind", "steps", "exact_match"],
               "aligner": ["adapter", "direction", "digits", "samples", "exact_match"]}
    executor, aligner = (pd.concat(tables[k], ignore_index=True)[columns[k]] if tables[k]
                         else pd.DataFrame(columns=columns[k]) for k in ("executor", "aligner"))
    return executor, aligner, model


def _held_out(P, test_file: Path) -> list[dict]:
    return list(read_samples(test_file, limit=P.eval_samples)) if P.eval_samples and test_file.is_file() else []


def summary_row(result: TrainResult, job: AdapterJob | None = None) -> dict:
    """One row of notebook 02's summary table (the tiny base's pre-training has kind 'base')."""
    s = result.summary
    return {"adapter": job.name if job else "base", "op": job.op if job else "", "kind": job.kind if job else "base",
            "method": s.get("method"), "steps": s.get("steps"), "samples": s.get("samples"),
            "tokens": s.get("tokens"), "final_loss": s.get("final_loss"),
            "eval_loss": s.get("final_eval_loss"), "eval_exact_match": s.get("final_eval_exact_match"),
            "wall_time_s": s.get("wall_time_s"), "tokens_per_s": s.get("tokens_per_s"),
            "trainable_parameters": s.get("trainable_parameters"), "parameters": s.get("parameters"),
            "reused": result.skipped}


def curves_table(results: Sequence[tuple[str, str, TrainResult]]):
    """All loss curves in one long table: adapter, kind, then the training log columns."""
    import pandas as pd

    frames = [r.log.assign(adapter=name, kind=kind) for name, kind, r in results if len(r.log)]
    if not frames:
        return pd.DataFrame(columns=["adapter", "kind", *LOG_COLUMNS])
    return pd.concat(frames, ignore_index=True)[["adapter", "kind", *LOG_COLUMNS]]


# --------------------------------------------------------------------------------------------------------
# Figures

def plot_loss(curves, ax=None, title: str = "training loss"):
    """Loss against optimizer step, one line per adapter (`curves`: DataFrame with adapter, step, loss)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    for name, df in curves.groupby("adapter", sort=False):
        # per-step losses jump with the length bucket of the batch: draw them faintly, and a running mean
        window = max(1, len(df) // 40)
        line, = ax.plot(df["step"], df["loss"].rolling(window, min_periods=1).mean(), lw=1.3, label=name)
        if window > 1:
            ax.plot(df["step"], df["loss"], lw=0.5, alpha=0.25, color=line.get_color())
        ev = df.dropna(subset=["eval_loss"]) if "eval_loss" in df else df.iloc[:0]
        if len(ev):
            ax.plot(ev["step"], ev["eval_loss"], "o", ms=3, color=line.get_color())
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss per answer token")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return ax


from .figures import figure as _figure  # noqa: E402


@_figure("training_loss", notebook="02_training")
def training_loss_figure(paths):
    """Notebook 02: loss curves of the tiny base's generic pre-training (if any) and of every adapter."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from .results import MissingResults

    path = paths.results("02_training") / "loss_curves.csv"  # drawn before the notebook finishes
    if not path.is_file():
        raise MissingResults(f"{path} is missing; run notebook 02_training first")
    curves = pd.read_csv(path)
    base = curves[curves["kind"] == "base"]
    adapters = curves[curves["kind"] != "base"]
    panels = [(base, "tiny base: generic pre-training")] if len(base) else []
    panels.append((adapters, "adapters (dots: held-out loss)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 3.8), squeeze=False)
    for ax, (df, title) in zip(axes[0], panels):
        if len(df):
            plot_loss(df, ax, title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------------------
# Command line: the same train() under `accelerate launch` (several GPUs) or plain python

def main(argv: Sequence[str] | None = None) -> int:
    """python -m caef_lib.training --base B --data TRAIN.jsonl --out DIR [--preset P] [--set name=value ...]

    Run it with `accelerate launch [--num_processes N] -m caef_lib.training ...` for data-parallel training;
    every process loads the base on its own device, the main process writes the adapter folder.
    """
    import argparse

    from .params import parse_cli_value

    ap = argparse.ArgumentParser(prog="python -m caef_lib.training", description=main.__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="local Hugging Face folder or built-in name (random weights)")
    ap.add_argument("--data", required=True, type=Path, help="training JSONL ({prompt, response} per line)")
    ap.add_argument("--eval-data", type=Path, help="held-out JSONL for the eval loss")
    ap.add_argument("--out", required=True, type=Path, help="adapter (or full model) folder to write")
    ap.add_argument("--preset", default="caef_llama_lora", choices=sorted(PRESETS))
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a TrainConfig field, e.g. --set lr=1e-4 --set max_steps=500")
    ap.add_argument("--no-resume", action="store_true")
    args = ap.parse_args(argv)

    overrides = {}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for item in args.set:
        name, sep, raw = item.partition("=")
        if not sep or name not in fields:
            ap.error(f"--set {item!r}: give NAME=VALUE with NAME one of {', '.join(sorted(fields))}")
        overrides[name] = parse_cli_value(raw)
    cfg = preset(args.preset, **overrides)

    from accelerate import PartialState

    from .models import load_base

    state = PartialState()  # knows the process's device under accelerate launch / torchrun
    model, tokenizer = load_base(args.base, str(state.device) if state.device.type == "cuda" else "cpu")
    eval_samples = list(read_samples(args.eval_data)) if args.eval_data else None
    result = train(cfg, model, tokenizer, list(read_samples(args.data)), args.out, eval_samples=eval_samples,
                   resume=not args.no_resume, in_place=True)
    if state.is_main_process:
        s = result.summary
        print(f"{args.out}: {s['steps']} steps, {s['tokens']:,} tokens, final loss {s['final_loss']:.4f}, "
              f"{s['tokens_per_s']:,.0f} tokens/s on {s['processes']} process(es)"
              + (" (reused: identical finished run)" if result.skipped else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
