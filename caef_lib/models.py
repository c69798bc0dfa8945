"""Base models and adapters: loading, building the built-in tiny architectures, attaching LoRA adapters.

A base model is one of
  * a local Hugging Face folder (config.json + safetensors weights + tokenizer), loaded offline with
    `AutoModelForCausalLM.from_pretrained(..., local_files_only=True, trust_remote_code=False,
    use_safetensors=True)`, in bf16 on a GPU that supports it;
  * a built-in tiny architecture, `tiny-llama` or `tiny-gpt2`: small configurations of the real
    transformers classes (`LlamaForCausalLM`, `GPT2LMHeadModel`) that the kit initialises itself and pairs
    with a task tokenizer (`tokenization.py`). Nothing is ever downloaded.

The kit pre-trains a tiny base once per profile (see `tiny_base.prepare_tiny_base`) and saves it as an
ordinary Hugging Face folder, `data/models/<profile>/tiny-llama/base/`; from then on the tiny and the real
models go through the same code: `load_base(folder)`, one LoRA adapter folder per CAEF executor/aligner
under `data/models/<profile>/<base>/<adapter>/`, `load_adapters(base, {...})` to attach several of them
to one shared base and switch with `model.set_adapter(name)`.
"""
from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from .environment import resolve_device
from .params import BUILTIN_MODELS, check_model_path
from .paths import KitPaths

# The built-in architectures. `tiny-llama` is the default of the CPU profiles: Llama blocks (RMSNorm, RoPE,
# SwiGLU) like the paper's Llama-3.1-8B; 2 layers x 8 heads of width 128, ~0.5 M parameters with the CAEF
# tokenizer (why 2 layers: docs/tiny-models.md). `tiny-gpt2` mirrors GPT-2 (learned positions, GELU MLP, fused
# c_attn) for the Leave-Square-Out notebooks.
TINY_ARCHS: dict[str, dict] = {
    "tiny-llama": dict(hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=8,
                       num_key_value_heads=8, max_position_embeddings=2048, rms_norm_eps=1e-6,
                       tie_word_embeddings=True, attention_dropout=0.0),
    "tiny-gpt2": dict(n_embd=128, n_layer=4, n_head=4, n_positions=1024, resid_pdrop=0.0, embd_pdrop=0.0,
                      attn_pdrop=0.0, tie_word_embeddings=True),
}
assert set(TINY_ARCHS) == set(BUILTIN_MODELS), "params.BUILTIN_MODELS and models.TINY_ARCHS must list the same names"

# LoRA target modules per architecture: what the papers use on Llama (q_proj, v_proj) and the GPT-2
# equivalent (the fused query/key/value projection).
LORA_TARGETS = {"llama": ["q_proj", "v_proj"], "gpt2": ["c_attn"]}
ALL_LINEAR = {"llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
              "gpt2": ["c_attn", "c_proj", "c_fc"]}


class ModelError(ValueError):
    """A base model or adapter folder that cannot be used; the message says what is wrong and where."""


def default_dtype(device: str):
    """bf16 on a GPU that supports it, float32 otherwise (CPU training and tests)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def tiny_config(name: str, tokenizer, **overrides):
    """The transformers config of a built-in architecture, sized to `tokenizer`'s vocabulary."""
    from transformers import GPT2Config, LlamaConfig

    if name not in TINY_ARCHS:
        raise ModelError(f"unknown built-in model {name!r}; built-in: {', '.join(TINY_ARCHS)}")
    kw = {**TINY_ARCHS[name], **overrides}
    ids = dict(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
               eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    if name == "tiny-llama":
        return LlamaConfig(**ids, **kw)
    return GPT2Config(**ids, **kw)


def build_tiny(name: str, tokenizer=None, *, seed: int = 0, **overrides):
    """A freshly initialised built-in model (random weights, seeded) and its task tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM

    from .tokenization import caef_tokenizer

    tokenizer = tokenizer if tokenizer is not None else caef_tokenizer()
    config = tiny_config(name, tokenizer, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.config.kit_builtin = name  # recorded in config.json so later notebooks know where it came from
    return model, tokenizer


def load_base(base_model: str, device: str = "auto", dtype=None, *, tokenizer=None, seed: int = 0):
    """(model, tokenizer) for a local Hugging Face folder or a built-in tiny architecture.

    For a built-in name the weights are random (seeded); the notebooks use a pre-trained tiny base instead,
    saved by `tiny_base.prepare_tiny_base` and loaded from its folder like any local model. `dtype=None` picks
    bf16 on a capable GPU, float32 elsewhere. The model is returned in eval mode on `device`.
    """
    from transformers import AutoModelForCausalLM

    device = resolve_device(device)
    dtype = dtype if dtype is not None else default_dtype(device)
    if base_model in BUILTIN_MODELS:
        model, tokenizer = build_tiny(base_model, tokenizer, seed=seed)
        model = model.to(device=device, dtype=dtype)
    else:
        check_model_path("base_model", base_model)
        path = Path(base_model).expanduser()
        if not any(path.glob("*.safetensors")):
            raise ModelError(f"base model folder {str(path)!r} has no *.safetensors weights; the kit loads "
                             f"safetensors only (convert .bin weights with transformers' save_pretrained)")
        if tokenizer is None:
            from .tokenization import load_tokenizer
            try:
                tokenizer = load_tokenizer(path)
            except (OSError, ValueError) as e:
                raise ModelError(f"base model folder {str(path)!r}: cannot load its tokenizer ({e})") from e
        kwargs = dict(local_files_only=True, trust_remote_code=False, use_safetensors=True, dtype=dtype)
        if device.startswith("cuda"):  # load the shards straight onto the GPU (no full copy in CPU memory)
            import torch
            kwargs["device_map"] = {"": device if ":" in device else f"cuda:{torch.cuda.current_device()}"}
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        if not device.startswith("cuda"):
            model = model.to(device)
    if tokenizer.pad_token is None:  # Llama/GPT-2 tokenizers have none; padding is masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


def save_base(model, tokenizer, folder: str | os.PathLike) -> Path:
    """Save a (tiny) base model as a standard Hugging Face folder: config.json, model.safetensors, tokenizer."""
    from .io import atomic_dir

    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return Path(folder)


def arch_family(model) -> str:
    """'llama' or 'gpt2' (the LoRA target names differ); other Llama-like models count as llama."""
    return "gpt2" if getattr(model.config, "model_type", "") == "gpt2" else "llama"


def count_parameters(model) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"parameters": total, "trainable": trainable}


# --------------------------------------------------------------------------------------------------------
# Where models live

def base_label(base_model: str) -> str:
    """Folder name of a base model under data/models/<profile>/: the built-in name or the folder's name."""
    return base_model if base_model in BUILTIN_MODELS else Path(base_model).expanduser().resolve().name


def model_root(paths: KitPaths, base_model: str) -> Path:
    """data/models/<profile>/<base>/ : the adapters trained on `base_model` (and, for tiny models, the base)."""
    return paths.models / base_label(base_model)


def adapter_dir(paths: KitPaths, base_model: str, adapter: str) -> Path:
    return model_root(paths, base_model) / adapter


def tiny_base_dir(paths: KitPaths, name: str) -> Path:
    """Where the pre-trained weights of a built-in tiny model are saved for a profile."""
    return model_root(paths, name) / "base"


def resolve_base(paths: KitPaths, base_model: str) -> str:
    """The folder to load for `base_model`: itself for a local folder, the profile's pre-trained tiny base
    for a built-in name (a clear error when notebook 02 has not created it yet)."""
    if base_model not in BUILTIN_MODELS:
        check_model_path("base_model", base_model)
        return base_model
    folder = tiny_base_dir(paths, base_model)
    if not (folder / "config.json").is_file():
        raise ModelError(f"the pre-trained {base_model} base of profile {paths.profile!r} is missing ({folder}); "
                         f"run notebook 02_training first")
    return str(folder)


# --------------------------------------------------------------------------------------------------------
# Adapters

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
FULL_WEIGHTS = "model.safetensors"


@dataclass
class AdapterInfo:
    path: Path
    kind: str            # "lora" (peft adapter folder) or "full" (a whole fine-tuned model folder)
    config: dict


def check_adapter_folder(path: str | os.PathLike) -> AdapterInfo:
    """Check that `path` is a usable adapter folder before peft touches it; raise ModelError otherwise.

    A LoRA adapter is a peft folder: adapter_config.json (a JSON object with peft_type and target_modules)
    and adapter_model.safetensors (a readable safetensors file with at least one tensor). A fully fine-tuned
    "adapter" (TrainConfig.method='full') is a whole model folder: config.json + model.safetensors.
    """
    from safetensors import safe_open

    path = Path(path).expanduser()
    if not path.is_dir():
        raise ModelError(f"adapter folder {str(path)!r} does not exist; train it with notebook 02_training")
    if (path / ADAPTER_CONFIG).is_file():
        kind, config_file, weights = "lora", path / ADAPTER_CONFIG, path / ADAPTER_WEIGHTS
    elif (path / "config.json").is_file() and (path / FULL_WEIGHTS).is_file():
        kind, config_file, weights = "full", path / "config.json", path / FULL_WEIGHTS
    else:
        present = ", ".join(sorted(p.name for p in path.iterdir())) or "nothing"
        raise ModelError(f"{str(path)!r} is not an adapter folder: expected {ADAPTER_CONFIG} + {ADAPTER_WEIGHTS} "
                         f"(LoRA) or config.json + {FULL_WEIGHTS} (full fine-tuning), found {present}")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelError(f"adapter folder {str(path)!r}: {config_file.name} is not valid JSON ({e})") from None
    if not isinstance(config, dict):
        raise ModelError(f"adapter folder {str(path)!r}: {config_file.name} is not a JSON object")
    if kind == "lora":
        missing = [k for k in ("peft_type", "target_modules") if not config.get(k)]
        if missing:
            raise ModelError(f"adapter folder {str(path)!r}: {ADAPTER_CONFIG} lacks {', '.join(missing)}")
    if not weights.is_file():
        raise ModelError(f"adapter folder {str(path)!r}: {weights.name} is missing")
    try:
        with safe_open(str(weights), framework="pt") as f:
            if not list(f.keys()):
                raise ModelError(f"adapter folder {str(path)!r}: {weights.name} holds no tensors")
    except ModelError:
        raise
    except Exception as e:  # safetensors raises its own error types for truncated/corrupt files
        raise ModelError(f"adapter folder {str(path)!r}: {weights.name} is not a readable safetensors file "
                         f"({type(e).__name__}: {e})") from None
    return AdapterInfo(path=path, kind=kind, config=config)


def load_adapter(model, path: str | os.PathLike, adapter_name: str):
    """Attach one LoRA adapter folder to `model` under `adapter_name` and return the peft model.

    `model` is a plain base model (then it is wrapped with `PeftModel.from_pretrained`) or a peft model that
    already carries other adapters (then `model.load_adapter` adds this one; all share the base weights).
    The adapter becomes the active one.
    """
    from peft import PeftModel

    info = check_adapter_folder(path)
    if info.kind != "lora":
        raise ModelError(f"{str(info.path)!r} is a fully fine-tuned model, not a LoRA adapter; load it with "
                         f"load_base({str(info.path)!r})")
    try:
        with warnings.catch_warnings():  # peft 0.21 calls a transformers method deprecated in v5
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            if isinstance(model, PeftModel):
                model.load_adapter(str(info.path), adapter_name=adapter_name)
            else:
                model = PeftModel.from_pretrained(model, str(info.path), adapter_name=adapter_name)
    except (KeyError, RuntimeError, ValueError) as e:
        raise ModelError(f"adapter {adapter_name!r} ({info.path}) does not fit this base model: {e}") from e
    model.set_adapter(adapter_name)
    model.eval()
    return model


def load_trained(base, path: str | os.PathLike, name: str, device: str = "auto"):
    """A trained result of `training.train`, ready to generate with: the one place every notebook loads one.

    A LoRA adapter folder is attached to `base` (a plain model, or a peft model that already carries other
    adapters; one already attached under `name` is reused) and made active, and the peft model is returned. A
    fully fine-tuned folder is loaded as a model of its own on `device` (`base` is not used).
    """
    from peft import PeftModel

    info = check_adapter_folder(path)
    if info.kind == "full":
        return load_base(str(info.path), device)[0]
    if isinstance(base, PeftModel) and name in base.peft_config:
        base.set_adapter(name)
        base.eval()
        return base
    return load_adapter(base, info.path, name)


def load_adapters(model, adapters: dict[str, str | os.PathLike]):
    """Attach several adapters ({name: folder}) to one shared base; switch with `model.set_adapter(name)`."""
    if not adapters:
        raise ModelError("load_adapters: no adapters given")
    for name, path in adapters.items():
        model = load_adapter(model, path, name)
    return model
