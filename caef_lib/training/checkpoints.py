"""What makes a run resumable and reusable: fingerprints, checkpoints, the final folder.

* `fingerprint`: a hash of what determines the result (configuration minus bookkeeping, base weights, the
  tokenised data). A finished folder or a checkpoint is reused only when its fingerprint matches.
* Checkpoints (`<checkpoint_dir>/checkpoint-NNNNNN/`): trainable weights (safetensors), optimizer and scheduler
  state, every process's RNG states and the step counter (which fixes the position in the data order); written to
  a temporary folder and renamed, so a crash never leaves half a checkpoint.
* The final folder: a standard peft adapter folder (or a whole model folder for full fine-tuning), plus
  `training_log.csv` and `train_summary.json`, written atomically.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
from array import array
from collections.abc import Sequence
from pathlib import Path

from .. import io
from .config import TrainConfig
from .data import Encoded


def fingerprint(cfg: TrainConfig, encoded: Sequence[Encoded], base_id: str) -> str:
    """Hash of what determines the result: config (minus bookkeeping), base model, the tokenised data."""
    h = hashlib.sha256()
    c = dataclasses.asdict(cfg)
    for k in ("checkpoint_every", "keep_checkpoints"):
        c.pop(k)
    if not cfg.stop_at_exact:  # then neither decides the weights (and runs from before early stopping stay valid)
        c.pop("stop_at_exact")
        c.pop("eval_every")
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


def save_checkpoint(root: Path, step: int, model, optimizer, scheduler, rows, fp: str, cfg, accelerator):
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
        io.write_json(tmp / "trainer_state.json", {"step": step, "fingerprint": fp, "rows": rows,
                                                    "config": dataclasses.asdict(cfg)})
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in list_checkpoints(root)[:-max(1, cfg.keep_checkpoints)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def load_checkpoint(folder: Path, model, optimizer, scheduler, rank: int) -> tuple[int, list[dict]]:
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


def save_final(out_dir: Path, model, tokenizer, cfg, log, summary, accelerator, wrapped) -> None:
    with io.atomic_dir(out_dir) as tmp:
        state = accelerator.get_state_dict(wrapped)
        model.save_pretrained(str(tmp), safe_serialization=True, state_dict=state)  # peft keeps the LoRA part
        if cfg.method == "full":
            tokenizer.save_pretrained(str(tmp))
        with io.atomic_open(tmp / "training_log.csv", "w") as f:
            log.to_csv(f, index=False)
        io.write_json(tmp / "train_summary.json", summary)
