"""Check that `caef_lib.training.train` runs data-parallel: 2 CPU processes (torchrun, gloo) vs 1 process.

    python benchmarks/ddp_cpu_check.py            # about a minute on 2 cores

Each optimizer step of the 2-process run takes micro-batch k of the step on rank k; the 1-process reference
uses grad_accum=2 over the same two micro-batches, so both runs see the same samples in the same steps, and
both normalise the loss by the answer tokens of the whole step. The check: (1) both ranks end with identical
weights (DDP keeps them in sync), (2) the DDP weights equal the reference up to float rounding (the gradient
sums are added in another order), (3) the run writes one adapter folder. tests/test_training.py runs it.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def samples():
    from caef_lib.tiny_base import generic_tape_samples

    return generic_tape_samples(64, seed=0)


def worker(out: Path, world_tag: str, grad_accum: int) -> None:
    import torch
    from safetensors.torch import save_file

    from caef_lib import models as M
    from caef_lib import training as TR
    from caef_lib.tokenization import caef_tokenizer

    torch.set_num_threads(1)
    tok = caef_tokenizer()
    model, _ = M.build_tiny("tiny-llama", tok, seed=0)
    cfg = TR.preset("tiny_lora", lora_r=8, lora_alpha=16, max_steps=4, batch_size=4, grad_accum=grad_accum,
                    bucket=False, max_grad_norm=0.0, checkpoint_every=2, lr=1e-3)
    result = TR.train(cfg, model, tok, samples(), out / world_tag, progress=False, resume=False, keep_model=True)
    rank = int(os.environ.get("RANK", "0"))
    state = {n: p.detach().contiguous() for n, p in result.model.named_parameters() if p.requires_grad}
    save_file(state, str(out / f"{world_tag}.rank{rank}.safetensors"))
    if rank == 0:
        print(f"[{world_tag}] processes={result.summary['processes']} steps={result.summary['steps']} "
              f"loss={result.summary['final_loss']:.4f} wall={result.summary['wall_time_s']:.1f}s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", type=Path)
    ap.add_argument("--tag", default="ddp")
    ap.add_argument("--grad-accum", type=int, default=1)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.tag, args.grad_accum)
        return 0

    import torch
    from safetensors.torch import load_file

    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--worker", str(out), "--tag", "single", "--grad-accum", "2"],
                       check=True, env=env)
        t1 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                        f"--master_port={free_port()}", __file__, "--worker", str(out), "--tag", "ddp"],
                       check=True, env=env)
        t2 = time.perf_counter()
        r0, r1 = (load_file(str(out / f"ddp.rank{r}.safetensors")) for r in (0, 1))
        single = load_file(str(out / "single.rank0.safetensors"))
        assert r0.keys() == r1.keys() == single.keys() and r0
        same = all(torch.equal(r0[k], r1[k]) for k in r0)
        diff = max(float((r0[k] - single[k]).abs().max()) for k in r0)
        scale = max(float(single[k].abs().max()) for k in single)
        adapter = (out / "ddp" / "adapter_model.safetensors").is_file()
        print(f"ranks identical: {same}; max |ddp - single| = {diff:.2e} (weights up to {scale:.2e}); "
              f"adapter folder written: {adapter}; wall: single {t1 - t0:.0f}s, 2-process {t2 - t1:.0f}s")
        ok = same and adapter and diff <= 1e-4 * scale
        print("OK" if ok else "FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
