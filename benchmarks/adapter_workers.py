"""Notebook 02's adapter jobs one after another (one process, every thread) against `adapter_workers` worker
processes of one thread each (`caef_lib.adapters.train_jobs`), on the same jobs, in the same run.

The jobs are the default profile's (its settings and notebook 01's data for `--ops`), each cut to `--steps`
optimizer steps so that a run takes minutes; adapters go to a temporary folder, so nothing is reused. Prints the
wall time of each way, the ratio, and whether the two ways wrote the same weights (they need not: one thread and
two sum in different orders; `tests/test_training.py` checks workers against one thread).

    python benchmarks/adapter_workers.py --steps 150 --workers 2 [--threads 2] [--ops add]
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=150, help="optimizer steps per adapter")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of the one-after-another run")
    ap.add_argument("--ops", default="add")
    args = ap.parse_args()

    import torch

    from caef_lib import adapters, runner
    from caef_lib.models import tiny_base_dir
    from caef_lib.notebook_params import TrainingParams
    from caef_lib.params import validate
    from caef_lib.paths import KitPaths

    torch.set_num_threads(args.threads)
    plan = {r.name: r for r in runner.plan("default")}
    P = validate(TrainingParams, {**plan["02_training"].params, "ops": args.ops.split(",")})
    data = KitPaths.of("default")
    base = tiny_base_dir(data, P.base_model)
    if not (base / "config.json").is_file():
        print(f"no pre-trained base in {base}: run notebook 02 of the default profile first", file=sys.stderr)
        return 2
    jobs, _ = adapters.adapter_jobs(data, P.ops, P.adapters)
    configs = {j.name: dataclasses.replace(P.train_config(j.name), max_steps=args.steps, checkpoint_every=0)
               for j in jobs}
    times, folders = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, args.workers):
            paths = KitPaths.of("default", Path(tmp) / f"w{workers}")
            t0 = time.perf_counter()
            pairs = adapters.train_jobs(jobs, configs, str(base), paths, base_model=P.base_model, device="cpu",
                                        workers=workers, eval_samples=0, progress=False)
            times[workers] = time.perf_counter() - t0
            folders[workers] = [r.out_dir for _, r in pairs]
            print(f"workers {workers}: {times[workers]:.1f} s for {', '.join(j.name for j in jobs)} "
                  f"({args.steps} steps each; " + ("one process, " + str(args.threads) + " threads" if workers == 1
                                                   else f"{workers} processes of 1 thread") + ")", flush=True)
        same = all((a / "adapter_model.safetensors").read_bytes() == (b / "adapter_model.safetensors").read_bytes()
                   for a, b in zip(folders[1], folders[args.workers]))
    print(f"workers {args.workers} / one after another: {times[1] / times[args.workers]:.2f}x faster; "
          f"same weights: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
