"""Training throughput of the kit's `train` function.

CPU (always): tokens/s of the built-in tiny models on ADD executor steps, for
  * kit/paper-lora : caef_lib.training.train, LoRA r=8 on q_proj,v_proj (c_attn for GPT-2) - the peft defaults
  * kit/tiny-lora  : caef_lib.training.train with the `tiny_lora` preset (r=64 on every linear layer)
  * hf-trainer     : a plain transformers.Trainer + peft `LoraConfig(task_type="CAUSAL_LM")` defaults
                     (r=8, the default target modules), same batch size and samples, padding collator
and the ratio kit/hf-trainer with the same LoRA setting. The runs are interleaved (A B A B ...) and the median
is reported, because a shared machine's speed drifts. "tokens" = real (non-padding) tokens, prompt included.

GPU (only when torch.cuda.is_available()): LoRA tokens/s and MFU of a randomly initialised model with the
shape of Llama-3.1-8B (built from its config on the GPU in bf16, no weights read), LoRA r=8 on q_proj,v_proj,
sequences of --gpu-seq-len tokens, gradient checkpointing optional. MFU = tokens/s x 4N / peak FLOP/s, with
N the base parameters (LoRA: forward 2N + backward through the frozen weights 2N FLOPs per token; the
adapter's own FLOPs and attention are left out, as usual). This path was not measured when it was written
(no GPU was available); it is correct by construction, not by observation.

    python benchmarks/training_throughput.py [--steps 20] [--repeats 3] [--threads 2]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: OpenMP threads sleep instead of spinning

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from caef_lib import models as M  # noqa: E402
from caef_lib import training as TR  # noqa: E402
from caef_lib.training.data import encode_sample  # noqa: E402
from caef_lib.tokenization import caef_tokenizer  # noqa: E402

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "4090": 165.0}


def add_samples(n_problems: int, seed: int = 0, max_digits: int = 5) -> list[dict]:
    from caef_lib.machines import get

    add, rng = get("add"), random.Random(seed)
    out = []
    for _ in range(n_problems):
        a, b = (rng.randint(0, 10 ** rng.randint(1, max_digits) - 1) for _ in range(2))
        t = add.trajectory(a, b)
        out += [{"prompt": f"{s}\n{c}\n", "response": f"{s2}\n{c2}\n"} for (s, c), (s2, c2) in zip(t, t[1:])]
    return out


def kit_run(name: str, tok, samples, steps: int, batch: int, lora: str) -> float:
    model, _ = M.build_tiny(name, tok, seed=0)
    if lora == "paper":
        cfg = TR.preset("tiny_lora", lora_r=8, lora_alpha=8, lora_dropout=0.0, lora_targets="default",
                        max_steps=steps, batch_size=batch, checkpoint_every=0, bucket=True)
    else:  # bucketing on: the loop's speed (the tiny presets turn it off for learning reasons, README)
        cfg = TR.preset("tiny_lora", max_steps=steps, batch_size=batch, checkpoint_every=0, bucket=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = TR.train(cfg, model, tok, samples, Path(tmp) / "a", progress=False, resume=False)
    log = result.log
    # skip the first step (allocator warm-up) as for the Trainer run below
    return float(log["tokens"].iloc[1:].sum() / (log["elapsed_s"].iloc[-1] - log["elapsed_s"].iloc[0]))


def trainer_run(name: str, tok, samples, steps: int, batch: int) -> float:
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainerCallback, TrainingArguments
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()

    model, _ = M.build_tiny(name, tok, seed=0)
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM"))
    feats = []
    for s in samples:
        e = encode_sample(tok, s["prompt"], s["response"])
        feats.append({"input_ids": e.input_ids, "attention_mask": [1] * len(e.input_ids),
                      "labels": [-100] * e.n_prompt + e.input_ids[e.n_prompt:]})
    start, end, counted = [], [], []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            if state.global_step == 1:  # after the first step, as for the kit's runs
                start.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kw):
            if state.global_step == steps:
                end.append(time.perf_counter())

    pad = DataCollatorForSeq2Seq(tok, padding=True, label_pad_token_id=-100)

    def collator(features):  # counts the real tokens of batches 1 .. steps-1 (the timed steps)
        batch = pad(features)
        counted.append(int(batch["attention_mask"].sum()))
        return batch

    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, per_device_train_batch_size=batch, max_steps=steps,
                                 learning_rate=3e-3, logging_strategy="no", save_strategy="no", report_to=[],
                                 use_cpu=True, dataloader_num_workers=0, disable_tqdm=True, seed=0)
        trainer = Trainer(model=model, args=args, train_dataset=feats, data_collator=collator,
                          callbacks=[Clock()])
        trainer.train()
    n_tok = sum(counted[1:steps])
    return n_tok / (end[0] - start[0])


def cpu_benchmark(steps: int, repeats: int, batch: int) -> list[dict]:
    samples = add_samples(400)
    random.Random(0).shuffle(samples)
    tok = caef_tokenizer([s["prompt"] for s in samples[:200]])
    rows = []
    for name in M.TINY_ARCHS:
        runs = {"kit/paper-lora": [], "hf-trainer/peft-defaults": [], "kit/tiny-lora": []}
        for _ in range(repeats):
            runs["kit/paper-lora"].append(kit_run(name, tok, samples, steps, batch, "paper"))
            runs["hf-trainer/peft-defaults"].append(trainer_run(name, tok, samples, steps, batch))
            runs["kit/tiny-lora"].append(kit_run(name, tok, samples, steps, batch, "tiny"))
        params = M.count_parameters(M.build_tiny(name, tok)[0])["parameters"]
        med = {k: statistics.median(v) for k, v in runs.items()}
        for k, v in med.items():
            rows.append({"model": name, "parameters": params, "run": k, "tokens_per_s": round(v),
                         "all_runs": [round(x) for x in runs[k]],
                         "ratio_vs_trainer": round(v / med["hf-trainer/peft-defaults"], 2)})
    return rows


LLAMA_31_8B = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                   num_key_value_heads=8, vocab_size=128256, max_position_embeddings=131072, rope_theta=500000.0,
                   rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128001)


def gpu_benchmark(seq_len: int, batch: int, steps: int, checkpointing: bool, peak_tflops: float | None,
                  device: str = "cuda", shape: dict = LLAMA_31_8B) -> dict:
    """`device="cpu"` with a small `shape` exercises the same code without a GPU (a smoke check only)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**shape)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)  # random weights, created on the device: nothing is read from disk
    finally:
        torch.set_default_dtype(torch.float32)
    n_params = sum(p.numel() for p in model.parameters())

    class FakeTok:  # train() needs ids only; every sample is seq_len random tokens
        bos_token_id, eos_token_id, pad_token_id = config.bos_token_id, config.eos_token_id, config.eos_token_id

        def __call__(self, text, add_special_tokens=True):
            def encode(t):
                return ([self.bos_token_id] if add_special_tokens else []) + [int(x) for x in t.split()]
            return {"input_ids": [encode(t) for t in text] if isinstance(text, list) else encode(text)}

    rng = random.Random(0)
    half = (seq_len - 2) // 2
    top = min(config.vocab_size, 120000)
    samples = [{"prompt": " ".join(str(rng.randrange(2, top)) for _ in range(half)),
                "response": " " + " ".join(str(rng.randrange(2, top)) for _ in range(seq_len - 2 - half))}
               for _ in range(batch * (steps + 1))]
    cfg = TR.preset("rfft_llama", max_steps=steps, batch_size=batch, max_length=seq_len + 8,
                    gradient_checkpointing=checkpointing, checkpoint_every=0)
    with tempfile.TemporaryDirectory() as tmp:
        result = TR.train(cfg, model, FakeTok(), samples, Path(tmp) / "lora", progress=False, resume=False)
    log = result.log
    tok_s = float(log["tokens"].iloc[1:].sum() / (log["elapsed_s"].iloc[-1] - log["elapsed_s"].iloc[0]))
    if device != "cuda":
        return {"device": device, "parameters": n_params, "tokens_per_s": round(tok_s)}
    name = torch.cuda.get_device_name(0)
    if peak_tflops is None:
        peak_tflops = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    mfu = tok_s * 4 * n_params / (peak_tflops * 1e12) if peak_tflops else None
    return {"gpu": name, "parameters": n_params, "seq_len": seq_len, "batch": batch, "steps": steps,
            "gradient_checkpointing": checkpointing, "tokens_per_s": round(tok_s),
            "peak_bf16_tflops": peak_tflops, "mfu": round(mfu, 3) if mfu else None,
            "max_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20, help="optimizer steps per CPU run")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved repetitions (median reported)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--gpu-seq-len", type=int, default=2048)
    ap.add_argument("--gpu-batch", type=int, default=4)
    ap.add_argument("--gpu-steps", type=int, default=10)
    ap.add_argument("--gpu-checkpointing", action="store_true")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the GPU's dense bf16 peak (default: by name)")
    ap.add_argument("--gpu-only", action="store_true", help="skip the CPU comparison (on a GPU machine)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = {"torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
           "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
    if not args.gpu_only:
        print(f"CPU: {out['cpu_count']} cores, torch threads {out['torch_threads']}; "
              f"{args.steps} steps x batch {args.batch}, {args.repeats} interleaved repeats")
    out["cpu"] = [] if args.gpu_only else cpu_benchmark(args.steps, args.repeats, args.batch)
    for r in out["cpu"]:
        print(f"  {r['model']:10s} {r['parameters']:>9,} params  {r['run']:26s} {r['tokens_per_s']:>7,} tok/s  "
              f"x{r['ratio_vs_trainer']:.2f} vs Trainer   runs {r['all_runs']}")
    if torch.cuda.is_available():
        out["gpu"] = gpu_benchmark(args.gpu_seq_len, args.gpu_batch, args.gpu_steps, args.gpu_checkpointing,
                                   args.peak_tflops)
        g = out["gpu"]
        print(f"GPU {g['gpu']}: Llama-3.1-8B shape ({g['parameters']:,} params), LoRA r=8 q,v, "
              f"{g['batch']}x{g['seq_len']} tokens: {g['tokens_per_s']:,} tok/s, MFU {g['mfu']}, "
              f"peak memory {g['max_memory_gib']} GiB")
    else:
        print("GPU: none visible - the Llama-3.1-8B LoRA throughput/MFU path was not run (unmeasured)")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
