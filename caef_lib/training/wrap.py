"""The module a run trains, and the caller's base given back as it was afterwards.

* LoRA: peft injects adapter layers into the caller's base (`get_peft_model`); to continue an earlier adapter
  (CAEF's stage 2) peft loads that adapter folder trainable (`PeftModel.from_pretrained(..., is_trainable=True)`).
  The base weights stay frozen. `restore_base` takes the layers out again (`unload()`; an error there is raised,
  never swallowed: a base that silently kept LoRA layers would corrupt every later run) and gives back what the
  run changed on the base: requires_grad flags, gradient checkpointing, `config.use_cache`, train/eval mode.
* full: a trainable deep copy of the base (the base itself with `in_place=True`), starting from the weights of an
  earlier fully fine-tuned folder when asked.
"""
from __future__ import annotations

import copy
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from .config import TrainConfig


def lora_targets(model, spec: list[str] | str) -> list[str]:
    """The module names LoRA goes on: "default" (the papers' q_proj,v_proj; GPT-2's c_attn), "all-linear",
    a comma-separated string or a list."""
    from ..models import ALL_LINEAR, LORA_TARGETS, arch_family

    family = arch_family(model)
    if spec == "default":
        return LORA_TARGETS[family]
    if spec == "all-linear":
        return ALL_LINEAR[family]
    if isinstance(spec, str):
        return [s.strip() for s in spec.split(",") if s.strip()]
    return list(spec)


@dataclass
class Init:
    """An earlier result a run continues from (`train(..., init_from=...)`)."""
    path: Path
    weights: Path        # its weights file (part of the new run's fingerprint)
    config: dict


def check_init(path: str | os.PathLike, cfg: TrainConfig) -> Init:
    """The folder a run starts from, checked against `cfg` before any work."""
    from ..models import ADAPTER_WEIGHTS, FULL_WEIGHTS, ModelError, check_adapter_folder

    info = check_adapter_folder(path)
    kind = "lora" if cfg.method == "lora" else "full"
    if info.kind != kind:
        raise ModelError(f"init_from {str(info.path)!r} holds a {info.kind} result but method={cfg.method!r}")
    if kind == "lora":
        want = {"r": cfg.lora_r, "lora_alpha": cfg.lora_alpha, "lora_dropout": cfg.lora_dropout}
        have = {k: info.config.get(k) for k in want}
        if have != want:
            raise ModelError(f"init_from {str(info.path)!r}: its LoRA has {have}, this run {want}")
    return Init(info.path, info.path / (ADAPTER_WEIGHTS if kind == "lora" else FULL_WEIGHTS), info.config)


def wrap(model, cfg: TrainConfig, *, in_place: bool = False, init: Init | None = None):
    """The module to train: the base with LoRA layers (fresh, or `init`'s adapter), or a trainable copy (full)."""
    import torch

    from ..models import ModelError

    if cfg.method == "full":
        model = model if in_place else copy.deepcopy(model)
        if init is not None:
            _load_full_weights(model, init)
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    from peft import LoraConfig, PeftModel, get_peft_model

    targets = lora_targets(model, cfg.lora_targets)
    present = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in targets if t not in present]
    if missing:
        raise ValueError(f"LoRA target modules {missing} are not in this model (its modules include "
                         f"{sorted(present)[:20]}); set lora_targets")
    with warnings.catch_warnings():  # peft 0.21 calls a transformers method deprecated in v5
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        if init is not None:
            if sorted(init.config.get("target_modules") or []) != sorted(targets):
                raise ModelError(f"init_from {str(init.path)!r}: its LoRA is on {init.config.get('target_modules')}, "
                                 f"this run's on {targets}")
            try:
                trained = PeftModel.from_pretrained(model, str(init.path), is_trainable=True)
            except (KeyError, RuntimeError, ValueError) as e:
                strip_lora(model)  # peft injects the layers before it loads the weights
                raise ModelError(f"init_from {str(init.path)!r} does not fit this model: {e}") from e
            missing = _not_loaded(trained, init)
            if missing:  # peft only warns about these; a half-loaded adapter would silently start half fresh
                trained.unload()
                raise ModelError(f"init_from {str(init.path)!r} does not cover this model's LoRA weights: "
                                 f"{missing[:5]}")
            return trained
        lcfg = LoraConfig(task_type="CAUSAL_LM", r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                          lora_dropout=cfg.lora_dropout, target_modules=targets, bias="none",
                          fan_in_fan_out=(model.config.model_type == "gpt2"))
        torch.manual_seed(cfg.seed)  # the LoRA A matrices are drawn from the global RNG
        return get_peft_model(model, lcfg)


def _not_loaded(peft_model, init: Init) -> list[str]:
    """The LoRA weights of `peft_model` that the adapter file of `init` does not hold."""
    from peft import get_peft_model_state_dict
    from safetensors import safe_open

    with safe_open(str(init.weights), framework="pt") as f:
        have = set(f.keys())
    return sorted(set(get_peft_model_state_dict(peft_model)) - have)


def strip_lora(model) -> None:
    """Put back the plain layer wherever peft left a LoRA layer in `model` (after a failed load, when there is no
    peft model to `unload()`)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, BaseTunerLayer):
            parent, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, child, module.get_base_layer())


def _load_full_weights(model, init: Init) -> None:
    """Copy a fully fine-tuned folder's weights into `model`; every weight must be covered."""
    from safetensors.torch import load_file

    from ..models import ModelError

    result = model.load_state_dict(load_file(str(init.weights)), strict=False)
    tied = {"lm_head.weight"} if getattr(model.config, "tie_word_embeddings", False) else set()
    missing = [k for k in result.missing_keys if k not in tied]
    if missing or result.unexpected_keys:
        raise ModelError(f"init_from {str(init.path)!r} does not fit this model: missing {missing[:5]}, "
                         f"unexpected {list(result.unexpected_keys)[:5]}")


@dataclass
class BaseState:
    """What a run may change on the caller's base model."""
    requires_grad: dict[str, bool]
    gradient_checkpointing: bool
    use_cache: bool | None
    training: bool


def snapshot(model) -> BaseState:
    return BaseState({n: p.requires_grad for n, p in model.named_parameters()},
                     bool(getattr(model, "is_activation_checkpointing", False)),
                     getattr(model.config, "use_cache", None), model.training)


def restore_base(model, state: BaseState, peft_model=None, keep_requires_grad: bool = False) -> None:
    """Take the LoRA layers out of `model` (when `peft_model` wraps it) and give back the flags of `state`
    (all but requires_grad with `keep_requires_grad`: a model trained in place stays trainable)."""
    if peft_model is not None:
        peft_model.unload()
    if bool(getattr(model, "is_activation_checkpointing", False)) and not state.gradient_checkpointing:
        model.activation_checkpointing_disable()
    if state.use_cache is not None:
        model.config.use_cache = state.use_cache
    if not keep_requires_grad:
        for n, p in model.named_parameters():
            p.requires_grad_(state.requires_grad.get(n, p.requires_grad))
    model.train(state.training)
