"""CAEF execution speed: the kit's batched engine against a re-creation of the reference loop's strategy.

Both run the same model, adapters and problems (CAEF's full process, greedy):
  * reference strategy (arithmetic/llm_arithmetic_batch.py, format.md section 3.2): lock-step batches of 64
    problems; each round groups the batch's pending calls by adapter and generates every group with
    `max_length` 4,096 (a row stops only at EOS, the group waits for its longest row); the batch moves on only
    when all 64 problems are finished;
  * kit (`caef_lib.batched_engine.run` + `HFModel`): up to --batch problems in flight, refilled as problems
    finish; each round is one mixed-adapter batch (peft `adapter_names`); each call may generate at most the
    machine's longest answer to its prompt plus 8 tokens.
Every call's answer is recorded by both and compared (they must agree, call by call), then problems/s and
generated tokens/s are printed for both with their ratio. Runs are interleaved (ref, kit, ref, kit, ...) and the
median is reported.

    python benchmarks/executor_throughput.py --base data/models/default/tiny-llama/base \\
        --adapters data/models/default/tiny-llama --digits 5,8 --n 32 [--repeats 3] [--threads 2]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from caef_lib import batched_engine as be  # noqa: E402
from caef_lib.engine import Process  # noqa: E402
from caef_lib.generation import generate  # noqa: E402


def reference_strategy(model, tok, problems, record, chunk: int = 64, max_length: int = 4096):
    """Lock-step chunks, one generate per adapter group per round, rows bounded only by max_length and EOS."""
    tokens = 0
    for s in range(0, len(problems), chunk):
        procs = [(k, Process(*problems[k])) for k in range(s, min(s + chunk, len(problems)))]
        while any(not p.done for _, p in procs):
            live = [(k, p) for k, p in procs if not p.done]
            groups: dict[str, list] = {}
            for k, p in live:
                groups.setdefault(p.pending()[0], []).append((k, p))
            for adapter, members in groups.items():
                model.set_adapter(adapter)
                prompts = [p.pending()[1] for _, p in members]
                width = max(len(tok(q)["input_ids"]) for q in prompts)
                stats: dict = {}
                answers = generate(model, tok, prompts, max_new_tokens=max(max_length - width, 1),
                                   batch_size=len(prompts), stats=stats)
                tokens += stats["new_tokens"]
                for (k, p), answer in zip(members, answers):
                    record.setdefault(k, []).append(answer)
                    p.feed(answer)
    return tokens


def kit_strategy(model, tok, problems, record, batch: int):
    hf = be.HFModel(model, tok, batch_size=batch)

    def recording(requests):
        answers = hf(requests)
        for r, a in zip(requests, answers):
            record.setdefault(r.key, []).append(a)
        return answers

    rows = be.run(problems, recording, batch_size=batch)
    return hf.stats["new_tokens"], rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--adapters", required=True, help="folder holding add/ and add_aligner/")
    ap.add_argument("--digits", default="5,8")
    ap.add_argument("--n", type=int, default=32, help="problems per length")
    ap.add_argument("--batch", type=int, default=128, help="kit: problems in flight")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from caef_lib.environment import resolve_device
    from caef_lib.models import load_base, load_trained

    device = resolve_device(args.device)
    model, tok = load_base(args.base, device)
    for name in ("add", "add_aligner"):
        model = load_trained(model, Path(args.adapters) / name, name, device)
    problems = [p for d in args.digits.split(",") for p in be.draw_problems("add", int(d), args.n, seed=0)]
    times = {"reference": [], "kit": []}
    tokens = {}
    for _ in range(args.repeats):
        ref_calls: dict = {}
        t0 = time.perf_counter()
        tokens["reference"] = reference_strategy(model, tok, problems, ref_calls)
        times["reference"].append(time.perf_counter() - t0)
        kit_calls: dict = {}
        t0 = time.perf_counter()
        tokens["kit"], rows = kit_strategy(model, tok, problems, kit_calls, args.batch)
        times["kit"].append(time.perf_counter() - t0)
        same = sum(ref_calls[k] == kit_calls[k] for k in range(len(problems)))
    print(f"device {device} ({torch.cuda.get_device_name() if device.startswith('cuda') else 'CPU'}), "
          f"{args.threads} threads; {len(problems)} add problems at {args.digits} digits; "
          f"{sum(r['correct'] for r in rows)} right")
    print(f"problems whose every call got the same answer from both: {same}/{len(problems)}")
    for name in ("reference", "kit"):
        t = statistics.median(times[name])
        print(f"{name:>9}: median {t:8.2f} s (min {min(times[name]):.2f}, max {max(times[name]):.2f}); "
              f"{len(problems) / t:7.2f} problems/s; {tokens[name] / t:9.1f} generated tokens/s "
              f"({tokens[name]} tokens)")
    ratio = statistics.median(times["reference"]) / statistics.median(times["kit"])
    print(f"kit / reference speed: {ratio:.2f}x")
    return 0 if same == len(problems) else 1


if __name__ == "__main__":
    sys.exit(main())
