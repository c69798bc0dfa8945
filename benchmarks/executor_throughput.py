"""CAEF execution speed: the kit's batched engine against a re-creation of the reference loop's strategy.

Both run the same model, adapters and problems (CAEF's full process, greedy):
  * reference strategy (arithmetic/llm_arithmetic_batch.py, format.md section 3.2): lock-step batches of 64
    problems; each round groups the batch's pending calls by adapter and generates every group with
    `max_length` 4,096 (a row stops only at EOS, the group waits for its longest row); the batch moves on only
    when all 64 problems are finished;
  * kit (`caef_lib.batched_engine.run` + `HFModel`): up to --batch problems in flight, refilled as problems
    finish; each round one batch per adapter (`kit-adapter`) or one mixed-adapter batch (`kit-mixed`, peft
    `adapter_names`); each call may generate at most the machine's longest answer to its prompt plus 8 tokens;
    `kit-lookup` is `kit-adapter` decoding with prompt-lookup guesses (`caef_lib.lookup_decoding`): the same
    greedy answers in fewer forward passes, each over more tokens.
Both end a problem at its first wrong call, as the reference does. Every call's answer is recorded and compared
(the same, or cut by the kit's per-call limit where the reference's answer ran on, or different), then problems/s
and generated tokens/s are printed with the ratios. Runs are interleaved and the median is reported.

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
    """Lock-step chunks, one generate per adapter group per round, rows bounded only by max_length and EOS; a
    problem leaves its chunk at its first wrong call (the reference checks every step against its machine)."""
    from caef_lib.engine import oracle_answer

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
                    request = p.pending()
                    p.feed(answer)
                    try:
                        right = oracle_answer(*request)
                    except ValueError:
                        right = None
                    if answer != right and not p.done:
                        p.fail("first wrong call")
    return tokens


def kit_strategy(model, tok, problems, record, batch: int, grouping: str, decoding: str = "generate"):
    hf = be.HFModel(model, tok, batch_size=batch, grouping=grouping, decoding=decoding)

    def recording(requests):
        answers = hf(requests)
        for r, a in zip(requests, answers):
            record.setdefault(r.key, []).append(a)
        return answers

    rows = be.run(problems, recording, batch_size=batch, stop_at_first_error=True)
    if "forward_passes" in hf.stats:
        print(f"kit-lookup: {hf.stats['forward_passes']} forward passes where token-by-token greedy decoding of the "
              f"same batches takes {hf.stats['greedy_passes']}")
    return hf.stats["new_tokens"], rows


def compare(ref: dict, kit: dict) -> tuple[int, int, int]:
    """(calls answered the same, calls the kit cut at its limit (a prefix of the reference's longer answer),
    other differences)."""
    same = cut = other = 0
    for k in ref:
        for a, b in zip(ref[k], kit.get(k, [])):
            if a == b:
                same += 1
            elif a.startswith(b):
                cut += 1
            else:
                other += 1
    return same, cut, other


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
    from caef_lib.lso.caef_probe import load_caef

    device = resolve_device(args.device)
    model, tok = load_caef(args.base, {n: Path(args.adapters) / n for n in ("add", "add_aligner")}, device)
    problems = [p for d in args.digits.split(",") for p in be.draw_problems("add", int(d), args.n, seed=0)]
    names = ("reference", "kit-adapter", "kit-mixed", "kit-lookup")
    times = {n: [] for n in names}
    tokens, calls = {}, {}
    for _ in range(args.repeats):
        for name in names:
            record: dict = {}
            t0 = time.perf_counter()
            if name == "reference":
                tokens[name] = reference_strategy(model, tok, problems, record)
            elif name == "kit-lookup":
                tokens[name], rows = kit_strategy(model, tok, problems, record, args.batch, "adapter", "lookup")
            else:
                tokens[name], rows = kit_strategy(model, tok, problems, record, args.batch, name.split("-")[1])
            times[name].append(time.perf_counter() - t0)
            calls[name] = record
    print(f"device {device} ({torch.cuda.get_device_name() if device.startswith('cuda') else 'CPU'}), "
          f"{args.threads} threads; {len(problems)} add problems at {args.digits} digits, each to its first wrong "
          f"call; {sum(r['correct'] for r in rows)} right")
    bad = 0
    for name in names[1:]:
        same, cut, other = compare(calls["reference"], calls[name])
        bad += other
        print(f"{name}: {same} calls answered as by the reference strategy, {cut} cut at the kit's per-call limit "
              f"(the reference's answer ran on), {other} other differences")
    for name in names:
        t = statistics.median(times[name])
        print(f"{name:>12}: median {t:8.2f} s (min {min(times[name]):.2f}, max {max(times[name]):.2f}); "
              f"{len(problems) / t:7.2f} problems/s; {tokens[name] / t:9.1f} generated tokens/s "
              f"({tokens[name]} tokens)")
    for name in names[1:]:
        print(f"{name} / reference speed: {statistics.median(times['reference']) / statistics.median(times[name]):.2f}x")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
