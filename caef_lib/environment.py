"""What the kit runs on: versions, device, git commit. Used by notebook 00 and by every metadata file."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess

from pathlib import Path

from .paths import REPO_ROOT

PACKAGES = ("torch", "transformers", "peft", "tokenizers", "accelerate", "papermill", "pandas", "numpy",
            "matplotlib")


def package_versions(names=PACKAGES) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def mps_available() -> bool:
    """Apple-silicon GPU through Metal (macOS builds of torch; always False elsewhere)."""
    import torch

    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(spec: str = "auto") -> str:
    """`auto` picks CUDA when a GPU is visible, then Apple's MPS, else the CPU. Asking for `cuda` or `mps`
    when torch cannot use it is an error, not a silent fall-back to a run 10-100x slower."""
    import torch

    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if mps_available() else "cpu"
    if spec.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' was asked for but torch sees no CUDA GPU; use device=auto or cpu")
    if spec.startswith("mps") and not mps_available():
        raise RuntimeError("device='mps' was asked for but torch.backends.mps.is_available() is False (it needs "
                           "Apple silicon, macOS 12.3+ and a torch build with MPS); use device=auto or cpu")
    return spec


def device_report(spec: str = "auto") -> dict:
    import torch

    report = {
        "device": resolve_device(spec),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda_available": torch.cuda.is_available(),
        "mps_available": mps_available(),
        "gpus": [],
    }
    for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        props = torch.cuda.get_device_properties(i)
        report["gpus"].append({"index": i, "name": props.name,
                               "memory_gib": round(props.total_memory / 2**30, 1),
                               "bf16": bool(torch.cuda.is_bf16_supported())})
    report["bf16"] = bool(report["gpus"] and report["gpus"][0]["bf16"])
    return report


def git_commit(root: Path = REPO_ROOT) -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": "unknown", "dirty": None}
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").stdout.strip())
        return {"commit": head.stdout.strip(), "dirty": dirty}
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": "unknown", "dirty": None}


def model_path_report(entries: list[str]) -> list[dict]:
    """For each 'label=path' (or bare path): does it exist and look like a Hugging Face model folder?"""
    from .params import BUILTIN_MODELS

    rows = []
    for entry in entries:
        label, _, path = entry.rpartition("=") if "=" in entry else ("", "", entry)
        if path in BUILTIN_MODELS:
            rows.append({"parameter": label, "path": path, "exists": True, "config_json": True,
                         "note": "built-in tiny model"})
            continue
        p = Path(path).expanduser()
        rows.append({"parameter": label, "path": path, "exists": p.is_dir(),
                     "config_json": (p / "config.json").is_file(),
                     "note": "" if p.is_dir() else "missing: notebooks that use it will refuse to start"})
    return rows




def report_tables(device: str, check_models: list[str]):
    """The three tables notebook 00 shows and saves: versions, device, local model paths."""
    import pandas as pd

    versions = pd.DataFrame(sorted(package_versions().items()), columns=["package", "version"])
    dev = device_report(device)
    gpus = dev.pop("gpus")
    device_rows = [{"item": k, "value": str(v)} for k, v in dev.items()]
    device_rows += [{"item": f"gpu{g['index']}", "value": f"{g['name']}, {g['memory_gib']} GiB, bf16={g['bf16']}"}
                    for g in gpus]
    models = pd.DataFrame(model_path_report(check_models),
                          columns=["parameter", "path", "exists", "config_json", "note"])
    return versions, pd.DataFrame(device_rows), models
