"""``python -m caef_lib eval``: CAEF's batched engine from the command line (`caef_lib.batched_engine`).

    python -m caef_lib eval --model oracle --ops all --digits 5,10 --n 100 --json
    python -m caef_lib eval --model noisy-oracle --noise 0.05 --ops add,mul --digits 8 --n 500
    python -m caef_lib eval --model tiny-llama --profile default --ops add --digits 1,5,8 --n 30
    python -m caef_lib eval --model /models/Meta-Llama-3.1-8B --adapter-map caef_adapters.yaml --ops add --digits 5 --n 100

`--json` prints exactly one JSON object on stdout, ``{"rows": [{"op", "digits", "mode", "n", "correct",
"accuracy", "ci_low", "ci_high", "errors": {kind: count}, "calls", "seconds"}, ...]}`` with
``correct + sum(errors) == n``; without it a progress bar and a readable table. Bad arguments (and a missing
adapter, named) exit 2 with a one-line message, before any generation.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from . import batched_engine as be
from .machines import MACHINES
from .machines.tape import MalformedText, split_lines
from .notebook_params import DEVICES

# operands past this are beyond any model's context (and long_div's 2N-digit dividend past Python's 4,300-digit
# limit on int/str conversion)
MAX_DIGITS = 2000


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m caef_lib eval", description="Evaluate CAEF's full process (or one part of it) on "
                "drawn problems with the oracle, a fault-injecting oracle or a model with its adapters.")
    p.add_argument("--model", required=True, help="oracle, noisy-oracle, a built-in name (tiny-llama: the "
                   "profile's pre-trained base) or a local Hugging Face folder")
    p.add_argument("--profile", default="default", help="profile of a built-in model's base and adapters")
    p.add_argument("--adapters", help="folder with one adapter folder per name (the kit's layout "
                   "data/models/<profile>/<base>/<adapter>/)")
    p.add_argument("--adapter-map", help="YAML file mapping adapter names (add, add_aligner, ..., reflection, "
                   "left_mask) to peft folders anywhere on disk")
    p.add_argument("--noise", type=float, default=0.0, help="noisy-oracle: probability that a call is corrupted")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ops", required=True, help="comma-separated operators, or 'all' (" + ",".join(be.ALL) + ")")
    p.add_argument("--digits", default="", help="comma-separated operand lengths (not with --mode step)")
    p.add_argument("--n", type=int, required=True, help="problems per operator and length (step: the first N "
                   "lines of the steps file)")
    p.add_argument("--mode", default="full", choices=(*be.MODES, "step"))
    p.add_argument("--steps-file", help="--mode step: a JSONL file of single transitions {\"prompt\", "
                   "\"response\"} of the one operator in --ops (e.g. data/<profile>/traces/add/executor.test.jsonl)")
    p.add_argument("--stop-at-first-error", action="store_true", help="end a problem at its first wrong call")
    p.add_argument("--batch-size", type=int, default=256, help="problems in flight")
    p.add_argument("--decoding", default="generate", choices=("generate", "lookup"),
                   help="a real model's decoding: transformers' greedy generate, or prompt-lookup decoding (the same "
                        "answers in fewer forward passes; for GPUs: docs/caef-tables.md)")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--out", help="also write the table as CSV (a .csv file; its folder is created)")
    return p


def parse(argv: list[str]) -> argparse.Namespace:
    args = parser().parse_args(argv)
    ops = list(be.ALL) if args.ops.strip() == "all" else [o.strip() for o in args.ops.split(",") if o.strip()]
    unknown = [o for o in ops if o not in MACHINES]
    if not ops or unknown:
        raise UsageError(f"--ops: unknown operator(s) {', '.join(unknown) or '(none given)'}; "
                         f"known: {', '.join(sorted(MACHINES))}, or all")
    if args.mode in be.SINGLE_CALL_MODES and any(MACHINES[o].symbol is None for o in ops):
        raise UsageError(f"--mode {args.mode}: {', '.join(o for o in ops if MACHINES[o].symbol is None)} "
                         f"(operators with no aligner and no direct-answer baseline)")
    if args.mode == "step":
        if len(ops) != 1 or not args.steps_file:
            raise UsageError("--mode step needs one operator in --ops and --steps-file")
        if not Path(args.steps_file).expanduser().is_file():
            raise UsageError(f"--steps-file {args.steps_file!r} does not exist")
        if args.digits:
            raise UsageError("--mode step reads its problems from --steps-file: leave out --digits")
        args.op_list, args.digit_list = ops, []
    elif args.steps_file:
        raise UsageError("--steps-file is for --mode step")
    try:
        digits = [int(d) for d in args.digits.split(",") if d.strip()] if args.mode != "step" else [1]
    except ValueError:
        raise UsageError(f"--digits {args.digits!r}: comma-separated integers") from None
    if not digits or min(digits) < 1 or max(digits) > MAX_DIGITS:
        raise UsageError(f"--digits: lengths from 1 to {MAX_DIGITS} (required except with --mode step)")
    if args.n < 1 or args.batch_size < 1:
        raise UsageError("--n and --batch-size must be >= 1")
    if not 0 <= args.noise <= 1:
        raise UsageError(f"--noise {args.noise}: a probability in [0, 1]")
    if args.noise and args.model != "noisy-oracle":
        raise UsageError("--noise is for --model noisy-oracle")
    if args.adapters and args.adapter_map:
        raise UsageError("give --adapters or --adapter-map, not both")
    if (args.adapters or args.adapter_map) and args.model in ("oracle", "noisy-oracle"):
        raise UsageError(f"--adapters and --adapter-map are for a model with adapters, not --model {args.model}")
    if args.out is not None:
        out = Path(args.out).expanduser()
        if out.suffix.lower() != ".csv" or out.is_dir():
            raise UsageError(f"--out {args.out!r}: a .csv file")
        parent = next((d for d in out.parents if d.exists()), None)
        if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK):
            raise UsageError(f"--out {args.out!r}: its folder cannot be written ({parent})")
    args.op_list, args.digit_list = ops, [] if args.mode == "step" else digits
    return args


def read_steps(path: str, n: int, op: str) -> list[dict]:
    """The first `n` {"prompt", "response"} lines of a JSONL file of `op`'s executor steps (a malformed line, or a
    line that is no step of that executor, is a UsageError)."""
    out = []
    with open(Path(path).expanduser(), "rb") as f:  # bytes, decoded line by line: an error names its own line
        for i, raw in enumerate(f, 1):
            if len(out) >= n:
                break
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UsageError(f"--steps-file line {i}: not UTF-8 text") from None
            if not line.strip():
                continue
            try:
                x = json.loads(line)
                out.append({"prompt": str(x["prompt"]), "response": str(x["response"])})
            except (ValueError, KeyError, TypeError):
                raise UsageError(f"--steps-file line {i}: not a JSON object with prompt and response") from None
            try:
                split_lines(out[-1]["response"], (2, 4))
                ok = be.expected_answer(op, out[-1]["prompt"]) is not None
            except MalformedText:
                ok = False
            if not ok:
                raise UsageError(f"--steps-file line {i}: not a step of the {op} executor (a state and a command "
                                 f"for {op.upper()} in the prompt and the response; an aligner's file is evaluated "
                                 f"with --mode aligner_input or aligner_output)")
    if not out:
        raise UsageError("--steps-file has no lines")
    return out


def needed_adapters(problems, modes) -> list[str]:
    """Every adapter the perfect run of these problems calls in these modes (callees at any depth; aligners in
    full mode; `<op>_direct` in direct mode)."""
    from .engine import drive

    modes = [modes] if isinstance(modes, str) else list(modes)
    names: set[str] = set()
    for mode in modes:
        seen_ops: dict[str, int] = {}
        for op, a, b in problems:
            if seen_ops.get(op, 0) >= 3 or (mode in be.SINGLE_CALL_MODES and MACHINES[op].symbol is None):
                continue  # reflection and left_mask have no aligner and no direct answer (full: the executor)
            seen_ops[op] = seen_ops.get(op, 0) + 1
            p = drive(be.make_process(op, a, b, mode), lambda adapter, prompt: be.oracle_model(
                [be.Request(0, 0, adapter, prompt)])[0])
            names.update(c["executor"] for c in p.calls)
    return sorted(names)


def adapter_folders(*, adapters: str = "", adapter_map: str = "") -> dict[str, Path]:
    """{adapter name: folder} from an adapter map (YAML, paths relative to the file) or an adapters folder."""
    if adapters and adapter_map:
        raise UsageError("give an adapters folder or an adapter map, not both")
    if adapter_map:
        import yaml

        path = Path(adapter_map).expanduser()
        if not path.is_file():
            raise UsageError(f"adapter map {str(path)!r} is not a file")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise UsageError(f"adapter map {str(path)!r} is not YAML: {' '.join(str(e).split())}") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise UsageError(f"adapter map {str(path)!r}: a mapping of adapter names to folders")
        return {str(k): (path.parent / Path(v).expanduser()) for k, v in data.items()}
    if not adapters:
        raise UsageError("give an adapters folder or an adapter map")
    root = Path(adapters).expanduser()
    if not root.is_dir():
        raise UsageError(f"adapters folder {str(root)!r} does not exist")
    return {d.name: d for d in root.iterdir() if d.is_dir()}


def build_model(model: str, problems, modes, *, profile: str = "default", adapters: str = "",
                adapter_map: str = "", noise: float = 0.0, seed: int = 0, device: str = "auto",
                batch_size: int = 128, output_root: str = "", decoding: str = "generate"):
    """The `model(requests) -> answers` callable of the batched engine: `oracle`, `noisy-oracle` (with `noise`),
    or a base (a built-in name: the profile's pre-trained base; or a local folder) carrying every adapter these
    problems need in these modes. A missing adapter is a UsageError that names it, raised before any loading."""
    if model == "oracle":
        return be.oracle_model
    if model == "noisy-oracle":
        return be.NoisyOracle(noise, seed)
    from .models import load_base, load_trained, resolve_base
    from .params import BUILTIN_MODELS
    from .paths import KitPaths

    builtin = model in BUILTIN_MODELS
    if not builtin and not Path(model).expanduser().is_dir():
        raise UsageError(f"model {model!r}: oracle, noisy-oracle, a built-in name or an existing folder")
    paths = KitPaths.of(profile, output_root or None)
    if not adapters and not adapter_map and builtin:  # the kit's layout: data/models/<profile>/<base>/<adapter>/
        from .models import model_root

        adapters = str(model_root(paths, model))
    folders = adapter_folders(adapters=adapters, adapter_map=adapter_map)
    needed = needed_adapters(problems, modes)
    missing = [n for n in needed if n not in folders or not (Path(folders[n]) / "adapter_config.json").is_file()]
    if missing:
        raise UsageError(f"missing adapter(s) {', '.join(missing)} (needed by {', '.join(sorted({p[0] for p in problems}))}"
                         f" in mode {', '.join([modes] if isinstance(modes, str) else modes)}); give them with an "
                         f"adapters folder or an adapter map")
    try:
        base = resolve_base(paths, model) if builtin else model
    except ValueError as e:
        raise UsageError(str(e)) from None
    from .environment import resolve_device
    from .models import ModelError
    from .params import ParameterError

    try:
        resolve_device(device)  # no GPU for device=cuda: a RuntimeError that is the user's to fix
    except RuntimeError as e:
        raise UsageError(str(e)) from None
    try:
        hf_model, tokenizer = load_base(base, device)
        for name in needed:
            hf_model = load_trained(hf_model, folders[name], name, device)
    except (ModelError, ParameterError, OSError) as e:  # a folder that is not a model, an unreadable file, ...
        raise UsageError(" ".join(str(e).split())) from None
    return be.HFModel(hf_model, tokenizer, batch_size=min(batch_size, 256), decoding=decoding)


def main(argv: list[str]) -> int:
    try:
        args = parse(argv)
        problems = {(op, d): be.draw_problems(op, d, args.n, args.seed) for op in args.op_list for d in args.digit_list}
        steps = read_steps(args.steps_file, args.n, args.op_list[0]) if args.mode == "step" else []
        sample = [p for ps in problems.values() for p in ps] or be.draw_problems(args.op_list[0], 2, 1)
        model = build_model(args.model, sample, "executor" if args.mode == "step" else args.mode,
                            profile=args.profile, adapters=args.adapters or "", adapter_map=args.adapter_map or "",
                            noise=args.noise, seed=args.seed, device=args.device, batch_size=args.batch_size,
                            decoding=args.decoding)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rows = []
    if steps:
        t0 = time.perf_counter()
        out = be.run_steps(args.op_list[0], steps, model, batch_size=args.batch_size)
        rows.append({**be.summarise(out)[0], "seconds": round(time.perf_counter() - t0, 3)})
    for (op, d), ps in problems.items():
        t0 = time.perf_counter()
        out = be.run(ps, model, mode=args.mode, batch_size=args.batch_size,
                     stop_at_first_error=args.stop_at_first_error, progress=not args.json, desc=f"{op} {d} digits")
        for r in out:
            r["digits"] = d
        row = be.summarise(out)[0]
        rows.append({**row, "seconds": round(time.perf_counter() - t0, 3)})
    if args.out:
        import pandas as pd

        from . import io

        frame = pd.DataFrame([{**{k: v for k, v in r.items() if k != "errors"},
                               **{f"errors_{k}": r["errors"].get(k, 0) for k in be.KINDS}} for r in rows])
        io.write_text(Path(args.out).expanduser(), frame.to_csv(index=False))
    if args.json:
        print(json.dumps({"rows": rows}))
    else:
        for r in rows:
            errs = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "-"
            digits = "" if r["digits"] is None else f"{r['digits']:>4} digits"
            print(f"{r['op']:<13} {digits:>11} {r['mode']:<14} {r['correct']:>5}/{r['n']:<5} "
                  f"{100 * r['accuracy']:6.1f} % [{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}]  "
                  f"first wrong call: {errs}  ({r['calls']} calls, {r['seconds']} s)")
    return 0
