"""`python -m caef_lib.training`: train one adapter (or model) from a JSONL file, also under `accelerate launch`."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from ..datasets.writer import read_samples
from .config import PRESETS, TrainConfig, preset
from .loop import train


def main(argv: Sequence[str] | None = None) -> int:
    """python -m caef_lib.training --base B --data TRAIN.jsonl --out DIR [--preset P] [--set name=value ...]

    Run it with `accelerate launch [--num_processes N] -m caef_lib.training ...` for data-parallel training;
    every process loads the base on its own device, the main process writes the adapter folder.
    """
    import argparse

    from ..params import parse_cli_value

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

    from ..models import load_base

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