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
    greedy answers in fewer forward passes, each over more tokens. `kit-adapter` and `kit-lookup` run as the
    engine does by default (`HFModel(merge="auto")`: a float32 base of at most 50M parameters answers each
    adapter's batches with a copy that has the adapter merged in); `kit-unmerged` is `kit-adapter` with peft's
    LoRA layers as they are (`merge=False`), as the reference strategy runs them.
Both end a problem at its first wrong call, as the reference does. On a CPU the ratio depends on how OpenMP's
threads wait between the many small operations of a tiny model: the script sets OMP_WAIT_POLICY=PASSIVE (the
Makefile's setting) unless the environment sets it, and prints it; benchmarks/RESULTS.md has both policies.
Every call's answer is recorded and compared (the same, or cut by the kit's per-call limit where the reference's
answer ran on, or different), then problems/s and generated tokens/s are printed with the ratios. Runs are
interleaved and the median is reported.

    python benchmarks/executor_throughput.py --base data/models/default/tiny-llama/base \\
        --adapters data/models/default/tiny-llama --digits 5,8 --n 32 [--repeats 3] [--threads 2]
    python benchmarks/executor_throughput.py --random-llama8b --digits 5 --n 64 --repeats 1   # a GPU only

`--random-llama8b` measures the strategies on a model of Llama-3.1-8B's shape (random weights built on the GPU
in bf16, two LoRA adapters `add` and `add_aligner` of r=8 on q_proj,v_proj, a byte-level BPE that groups digits
by three, `caef_lib.tokenization.llama3_like_tokenizer`). Its answers are noise: every problem ends at its first
call, and what is measured is what one call costs each strategy when the model does not stop by itself (the
reference generates up to `max_length`, the kit up to the machine's longest answer).
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


KIT = {"kit-adapter": {}, "kit-unmerged": {"merge": False}, "kit-mixed": {"grouping": "mixed"},
       "kit-lookup": {"decoding": "lookup"}}  # HFModel's settings of each kit strategy (the rest: its defaults)


def kit_strategy(model, tok, problems, record, batch: int, **settings):
    hf = be.HFModel(model, tok, batch_size=batch, **settings)

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


def random_llama8b(device: str, shape: dict | None = None):
    """(peft model, tokenizer): Llama-3.1-8B's shape, random bf16 weights made on `device`, adapters add and
    add_aligner (LoRA r=8 on q_proj,v_proj; B is initialised to zero, so they leave the base's answers as they
    are). `shape` replaces the Llama-3.1-8B config (a small one checks the code without a GPU)."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from caef_lib.tokenization import llama3_like_tokenizer
    from training_throughput import LLAMA_31_8B

    tok = llama3_like_tokenizer()
    config = LlamaConfig(**{**(shape or LLAMA_31_8B), "bos_token_id": tok.bos_token_id,
                            "eos_token_id": tok.eos_token_id})
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            base = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(torch.float32)
    base.eval()
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    model = get_peft_model(base, lora, adapter_name="add")
    model.add_adapter("add_aligner", lora)
    model.to(device=device, dtype=torch.bfloat16)
    return model, tok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", help="the base's folder (or --random-llama8b)")
    ap.add_argument("--adapters", help="folder holding add/ and add_aligner/")
    ap.add_argument("--random-llama8b", action="store_true", help="a random Llama-3.1-8B-shaped model (GPU)")
    ap.add_argument("--digits", default="5,8")
    ap.add_argument("--n", type=int, default=32, help="problems per length")
    ap.add_argument("--batch", type=int, default=128, help="kit: problems in flight")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--warmup", action="store_true",
                    help="first run each kit strategy once, untimed, on 8 problems (CUDA's start-up costs)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from caef_lib.environment import resolve_device
    from caef_lib.lso.caef_probe import load_caef

    device = resolve_device(args.device)
    if args.random_llama8b:
        if not device.startswith("cuda"):
            ap.error("--random-llama8b needs a GPU (16 GB of bf16 weights)")
        model, tok = random_llama8b(device)
    elif args.base and args.adapters:
        model, tok = load_caef(args.base, {n: Path(args.adapters) / n for n in ("add", "add_aligner")}, device)
    else:
        ap.error("give --base and --adapters, or --random-llama8b")
    problems = [p for d in args.digits.split(",") for p in be.draw_problems("add", int(d), args.n, seed=0)]
    names = ("reference", *KIT)
    order = names[1:] + names[:1]  # the reference last: a run cut short by a time limit still shows the kit's
    times = {n: [] for n in names}
    tokens, calls = {}, {}
    if args.warmup:
        for settings in KIT.values():
            kit_strategy(model, tok, problems[:8], {}, args.batch, **settings)
    for _ in range(args.repeats):
        for name in order:
            record: dict = {}
            t0 = time.perf_counter()
            if name == "reference":
                tokens[name] = reference_strategy(model, tok, problems, record)
            else:
                tokens[name], rows = kit_strategy(model, tok, problems, record, args.batch, **KIT[name])
            times[name].append(time.perf_counter() - t0)
            calls[name] = record
            print(f"  {name}: {times[name][-1]:.2f} s", flush=True)
    print(f"device {device} ({torch.cuda.get_device_name() if device.startswith('cuda') else 'CPU'}), "
          f"model {'random Llama-3.1-8B shape, bf16' if args.random_llama8b else args.base}, {args.threads} "
          f"threads, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; {len(problems)} add problems at "
          f"{args.digits} digits, each to its first wrong call; "
          f"{sum(r['correct'] for r in rows)} right")
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
