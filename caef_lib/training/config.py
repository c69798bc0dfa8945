"""What a training run is: `TrainConfig` (one plain dataclass) and the named presets of the papers and the kit.

    cfg = preset("tiny_lora", max_steps=300)      # a copy of a preset with some fields changed
    cfg = TrainConfig(method="full", lr=1e-4)     # or any configuration; `cfg.check()` says what is wrong
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

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
    stop_at_exact: float = 0.0           # > 0: stop at the first evaluation whose greedy exact match reaches this
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
        if not 0 <= self.stop_at_exact <= 1:
            problems.append(f"stop_at_exact {self.stop_at_exact}: an exact match in [0, 1] (0 = off)")
        if self.stop_at_exact > 0 and self.eval_every < 1:
            problems.append("stop_at_exact needs eval_every >= 1 (steps between the evaluations that can stop it)")
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
    # high learning rate (r=64 of width 128 is close to full rank; the embeddings stay frozen), AdamW beta2 0.98
    # and NO length bucketing: batches of similar length made the tiny models learn less per step and per second
    # (docs/tiny-models.md; the numbers in benchmarks/RESULTS.md).
    "tiny_lora": TrainConfig(method="lora", lora_r=64, lora_alpha=64, lora_dropout=0.0, lora_targets="all-linear",
                             lr=3e-3, adam_betas=(0.9, 0.98), batch_size=32, warmup_ratio=0.03, max_grad_norm=1.0,
                             max_length=1024, bucket=False, checkpoint_every=200),
    "tiny_full": TrainConfig(method="full", lr=3e-3, adam_betas=(0.9, 0.98), weight_decay=0.0, batch_size=32,
                             warmup_ratio=0.03, max_grad_norm=1.0, max_length=1024, bucket=False, lora_dropout=0.0,
                             checkpoint_every=200),
    # Generic pre-training of the tiny base (tiny_base.prepare_tiny_base); no bucketing: with it the base did not
    # learn to copy (docs/tiny-models.md).
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
