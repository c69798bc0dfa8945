#!/usr/bin/env bash
# The GPU measurements in one run, for a machine with a CUDA GPU and python3 holding torch, transformers and
# peft (run from the repository root; the default profile's ADD adapters must exist under data/models/default).
# Writes logs (and training_gpu.json) under $OUT, or runs/gpu when OUT is unset. Each part has its own time
# limit, so that one that hangs leaves the others' figures. Arguments choose parts (default: the first three):
#     bash benchmarks/gpu_checks.sh [executor_tiny] [training] [executor_llama8b] [executor_tiny_active]
# executor_tiny_active is executor_tiny with OMP_WAIT_POLICY=ACTIVE (host threads spin instead of sleeping between
# operations): on the CPU that policy changed the tiny model's ratio from 2.2x to 1.05x (benchmarks/RESULTS.md).
set -u
out=${OUT:-runs/gpu}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
py=${PYTHON:-python3}
tiny=data/models/default/tiny-llama
parts=${*:-executor_tiny training executor_llama8b}
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  $py -c "import torch, transformers as t, peft; print('torch', torch.__version__, 'transformers', t.__version__,
'peft', peft.__version__)"
} 2>&1 | tee "$out/gpu.txt"
# 1. the kit's engine against the reference strategy, the trained tiny ADD adapters
[[ " $parts " == *" executor_tiny "* ]] && timeout 110 $py benchmarks/executor_throughput.py --base $tiny/base \
    --adapters $tiny --digits 5,8 --n 64 --repeats 3 --warmup --device cuda 2>&1 | tee "$out/executor_tiny.log"
[[ " $parts " == *" executor_tiny_active "* ]] && OMP_WAIT_POLICY=ACTIVE timeout 110 $py \
    benchmarks/executor_throughput.py --base $tiny/base --adapters $tiny --digits 5,8 --n 64 --repeats 3 --warmup \
    --device cuda 2>&1 | tee "$out/executor_tiny_active.log"
# 2. bf16 LoRA training throughput and MFU, Llama-3.1-8B shape, random weights
[[ " $parts " == *" training "* ]] && timeout 150 $py benchmarks/training_throughput.py --gpu-only \
    --json "$out/training_gpu.json" 2>&1 | tee "$out/training_gpu.log"
# 3. the engine against the reference strategy, Llama-3.1-8B shape (what one call costs each strategy; the
#    reference's calls run to max_length 4,096: it needs about 6 minutes, LLAMA8B_LIMIT=420 lets it finish)
[[ " $parts " == *" executor_llama8b "* ]] && timeout ${LLAMA8B_LIMIT:-220} $py benchmarks/executor_throughput.py \
    --random-llama8b --digits 5 --n 16 --repeats 1 --warmup --device cuda 2>&1 | tee "$out/executor_llama8b.log"
true
