"""What lets a tiny model learn the CAEF ADD executor step on a CPU: recipes compared on the same data.

Every arm trains with the kit's own `caef_lib.training.train` on the ADD executor data that notebook 01 wrote
for a profile (data/<profile>/traces/add/executor.*.jsonl) and is scored by greedy exact match of whole steps
(next state line + command line) on held-out test steps. Arms:
  scratch-full  full fine-tuning of a randomly initialised tiny-llama (`tiny_full` preset)   <- the baseline
  base-lora     the kit's recipe: generic pre-training of the base (`tiny_pretrain`), then a LoRA adapter
                (`tiny_lora`, r=64 on every linear layer; the base stays frozen)
  base-lora-bucketed   the same adapter with length bucketing on (batches of similar length)
The LoRA arms share one pre-trained base (trained once per run, `--pretrain-steps`). Printed: held-out exact
match, its ratio to the baseline, steps, wall time. This is a learning benchmark, not a speed one: the numbers
are accuracies after a fixed number of steps; wall times are printed so that per-second comparisons can be
made too.

    python benchmarks/tiny_learning.py --profile default --steps 900 --pretrain-steps 2400    (~25 min, 2 cores)
    python benchmarks/tiny_learning.py --steps 20 --pretrain-steps 20 --eval 20                (plumbing check)
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: OpenMP threads sleep instead of spinning

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from caef_lib import models as M  # noqa: E402
from caef_lib import training as TR  # noqa: E402
from caef_lib.datasets import read_samples  # noqa: E402
from caef_lib.paths import KitPaths  # noqa: E402
from caef_lib.tokenization import caef_tokenizer  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="default", help="whose notebook-01 ADD data to use")
    ap.add_argument("--steps", type=int, default=900, help="optimizer steps per arm")
    ap.add_argument("--pretrain-steps", type=int, default=2400,
                    help="generic pre-training steps of the base (1,500 once proved too few for the copy click)")
    ap.add_argument("--eval", type=int, default=200, help="held-out test steps scored per arm")
    ap.add_argument("--arms", default="scratch-full,base-lora,base-lora-bucketed")
    args = ap.parse_args(argv)

    paths = KitPaths.of(args.profile)
    folder = paths.data / "traces" / "add"
    if not (folder / "executor.train.jsonl").is_file():
        print(f"no ADD executor data in {folder}; run notebook 01 first: python -m caef_lib run "
              f"--profile {args.profile} --only 01_traces", file=sys.stderr)
        return 2
    train = list(read_samples(folder / "executor.train.jsonl"))
    held_out = list(read_samples(folder / "executor.test.jsonl", limit=args.eval))
    tok = caef_tokenizer([s["prompt"] + s["response"] for s in train[:2000]])
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base_folder = Path(tmp) / "base"
        if any(a.startswith("base-") for a in arms):
            t0 = time.perf_counter()
            pre = TR.prepare_tiny_base("tiny-llama", base_folder, tok, steps=args.pretrain_steps, progress=True)
            print(f"base pre-training: {args.pretrain_steps} steps, {time.perf_counter() - t0:.0f} s, generic "
                  f"held-out exact match {pre.summary['final_eval_exact_match']:.2f}", flush=True)
        for arm in arms:
            if arm == "scratch-full":
                model, _ = M.build_tiny("tiny-llama", tok, seed=0)
                cfg = TR.preset("tiny_full", max_steps=args.steps, checkpoint_every=0)
            elif arm in ("base-lora", "base-lora-bucketed"):
                model, _ = M.load_base(str(base_folder), "cpu")
                cfg = TR.preset("tiny_lora", max_steps=args.steps, checkpoint_every=0,
                                bucket=arm == "base-lora-bucketed")
            else:
                raise SystemExit(f"unknown arm {arm!r}; known: scratch-full, base-lora, base-lora-bucketed")
            result = TR.train(cfg, model, tok, train, Path(tmp) / arm, eval_samples=held_out,
                              eval_exact=len(held_out), resume=False, desc=arm)
            s = result.summary
            rows.append((arm, s["final_eval_exact_match"], s["final_eval_loss"], args.steps, s["wall_time_s"]))
            print(f"{arm}: exact match {s['final_eval_exact_match']:.3f}, loss {s['final_eval_loss']:.4f}, "
                  f"{s['wall_time_s']:.0f} s", flush=True)
    base = next((r[1] for r in rows if r[0] == "scratch-full"), None)
    print(f"\nADD executor steps, profile {args.profile}, {len(held_out)} held-out steps, {args.steps} steps per arm")
    print(f"{'arm':<22}{'exact match':>12}{'vs scratch':>12}{'eval loss':>11}{'wall s':>9}")
    for arm, em, loss, steps, wall in rows:
        ratio = f"{em / base:.2f}x" if base else "-"
        print(f"{arm:<22}{em:>12.3f}{ratio:>12}{loss:>11.4f}{wall:>9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
