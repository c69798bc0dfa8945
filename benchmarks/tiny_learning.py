"""What lets a tiny model learn the CAEF ADD executor step on a CPU: recipes compared on the same data.

Every arm trains with the kit's own `caef_lib.training.train` on the ADD executor data that notebook 01 wrote
for a profile (data/<profile>/traces/add/executor.*.jsonl) and is scored by greedy exact match on held-out
test steps: of all steps, and of the `q1->q1` steps alone, the ones that must add two digits and a carry (a
third of all steps only copy, so the first number flatters a model that cannot add). Arms:
  scratch-full        full fine-tuning of a randomly initialised tiny-llama (`tiny_full` preset) <- the baseline
  base-lora           the kit's recipe: generic pre-training of the base (`tiny_pretrain`, the full
                      `tiny_base.GENERIC_MIX`), then a LoRA adapter (`tiny_lora`, r=64 on every linear layer;
                      the base stays frozen)
  base-lora-bucketed  the same adapter with length bucketing on (batches of similar length)
  no-read, no-peek,   LoRA on a base pre-trained without the generic task's "read" / "peek" / "facts"
  no-facts            samples
  copy-only           LoRA on a base pre-trained on tokens/echo/apply only (the mix before read/facts)
Bases are pre-trained once per mix and run (`--pretrain-steps`). Printed: held-out exact matches, their ratio
to the baseline, steps, wall time. This is a learning benchmark, not a speed one: the numbers are accuracies
after a fixed number of steps; wall times are printed so that per-second comparisons can be made too. Arms
run one after another; to use two cores for two arms, start two processes with `--threads 1 --arms ...`.

    python benchmarks/tiny_learning.py --profile default --steps 2500 --arms base-lora,no-read   (2 cores)
    python benchmarks/tiny_learning.py --steps 20 --pretrain-steps 20 --eval 20                  (plumbing check)
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

from caef_lib import adapters as A  # noqa: E402
from caef_lib import models as M  # noqa: E402
from caef_lib import tiny_base as TB  # noqa: E402
from caef_lib import training as TR  # noqa: E402
from caef_lib.datasets import read_samples  # noqa: E402
from caef_lib.paths import KitPaths  # noqa: E402
from caef_lib.tokenization import caef_tokenizer  # noqa: E402


MIXES = {  # arm -> generic pre-training mix of its base (None: no base)
    "scratch-full": None,
    "base-lora": TB.GENERIC_MIX,
    "base-lora-bucketed": TB.GENERIC_MIX,
    "no-read": tuple((k, w) for k, w in TB.GENERIC_MIX if k != "read"),
    "no-peek": tuple((k, w) for k, w in TB.GENERIC_MIX if k != "peek"),
    "no-facts": tuple((k, w) for k, w in TB.GENERIC_MIX if k != "facts"),
    "copy-only": (("tokens", 1.0), ("echo", 1.0), ("apply", 1.0)),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="default", help="whose notebook-01 ADD data to use")
    ap.add_argument("--steps", type=int, default=2500, help="optimizer steps per arm")
    ap.add_argument("--pretrain-steps", type=int, default=2400,
                    help="generic pre-training steps of each base (the default profile's; 6,000 are better)")
    ap.add_argument("--eval", type=int, default=300, help="held-out test steps scored per arm")
    ap.add_argument("--arms", default="scratch-full,base-lora,no-read", help=f"comma-separated, of {', '.join(MIXES)}")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = ap.parse_args(argv)
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    unknown = [a for a in arms if a not in MIXES]
    if unknown:
        ap.error(f"unknown arm(s) {', '.join(unknown)}; known: {', '.join(MIXES)}")
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)

    paths = KitPaths.of(args.profile)
    folder = paths.data / "traces" / "add"
    if not (folder / "executor.train.jsonl").is_file():
        print(f"no ADD executor data in {folder}; run notebook 01 first: python -m caef_lib run "
              f"--profile {args.profile} --only 01_traces", file=sys.stderr)
        return 2
    train = list(read_samples(folder / "executor.train.jsonl"))
    held_out = list(read_samples(folder / "executor.test.jsonl", limit=args.eval))
    tok = caef_tokenizer([s["prompt"] + s["response"] for s in train[:2000]])
    rows, bases = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for arm in arms:
            mix = MIXES[arm]
            if mix is None:
                model, _ = M.build_tiny("tiny-llama", tok, seed=0)
                cfg = TR.preset("tiny_full", max_steps=args.steps, checkpoint_every=0)
            else:
                if mix not in bases:
                    bases[mix] = Path(tmp) / f"base{len(bases)}"
                    t0 = time.perf_counter()
                    pre = TB.prepare_tiny_base("tiny-llama", bases[mix], tok, steps=args.pretrain_steps, mix=mix)
                    print(f"base for {arm}: {args.pretrain_steps} steps, {time.perf_counter() - t0:.0f} s, generic "
                          f"held-out loss {pre.summary['final_eval_loss']:.3f}, exact match "
                          f"{pre.summary['final_eval_exact_match']:.2f}", flush=True)
                    kinds = TB.generic_exact_match_by_kind(M.load_base(str(bases[mix]), "cpu")[0], tok, n=100)
                    print("  base exact match per generic kind: " + ", ".join(
                        f"{k} {m:.0%}" for k, m in zip(kinds["kind"], kinds["exact_match"])), flush=True)
                model, _ = M.load_base(str(bases[mix]), "cpu")
                cfg = TR.preset("tiny_lora", max_steps=args.steps, checkpoint_every=0,
                                bucket=arm == "base-lora-bucketed")
            result = TR.train(cfg, model, tok, train, Path(tmp) / arm, eval_samples=held_out, resume=False, desc=arm,
                              keep_model=True)
            by_kind = A.exact_match_by_kind(result.model, tok, held_out).set_index("kind")["exact_match"]
            s = result.summary
            rows.append((arm, by_kind["all"], by_kind.get("q1->q1", float("nan")), s["final_eval_loss"],
                         s["wall_time_s"]))
            print(f"{arm}: exact match {rows[-1][1]:.3f} (q1->q1 {rows[-1][2]:.3f}), loss {rows[-1][3]:.4f}, "
                  f"{rows[-1][4]:.0f} s", flush=True)
    base = next((r for r in rows if r[0] == "scratch-full"), None)
    print(f"\nADD executor steps, profile {args.profile}, {len(held_out)} held-out steps, {args.steps} steps per arm")
    print(f"{'arm':<20}{'exact match':>12}{'q1->q1':>9}{'vs scratch':>12}{'eval loss':>11}{'wall s':>9}")
    for arm, em, q1, loss, wall in rows:
        ratio = f"{q1 / base[2]:.2f}x" if base and base[2] else "-"
        print(f"{arm:<20}{em:>12.3f}{q1:>9.3f}{ratio:>12}{loss:>11.4f}{wall:>9.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
