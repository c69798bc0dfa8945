"""Training a causal LM (a LoRA adapter or every weight), one module per concern, read in this order:

    config.py       TrainConfig and the named presets (the papers' recipes, the tiny models')
    data.py         samples -> token ids -> the batches of each epoch -> padded or packed tensors
    wrap.py         the module a run trains (peft LoRA or a full copy) and the caller's base given back
    checkpoints.py  fingerprints, resumable checkpoints, the final folder
    loop.py         `train`: the loop itself (accelerate, AdamW, schedule, evaluation, logging)
    __main__.py     `python -m caef_lib.training ...`, also under `accelerate launch`

Generation and scoring live in `caef_lib.generation`; the CAEF-specific parts of notebook 02 in
`caef_lib.tiny_base` (generic pre-training of the built-in base) and `caef_lib.adapters` (which adapters, from
which files, their held-out tables).
"""
from .config import PRESETS, TrainConfig, preset
from .loop import LOG_COLUMNS, TrainResult, evaluate_loss, train

__all__ = ["PRESETS", "TrainConfig", "preset", "LOG_COLUMNS", "TrainResult", "evaluate_loss", "train"]
